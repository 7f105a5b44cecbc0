package entra

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/jitd/jitd/connectors"
)

// The change feed follows Graph's delta queries for users and for groups;
// the cursor holds the two delta links. A snapshot asks for the links first
// ($deltatoken=latest) and then lists everything, so a change made while it
// lists is seen again, never missed. Each changed object is read afresh
// (delta rounds carry only what changed), and a changed group's members are
// listed whole: the mirror takes a group's members as one set. Deleted
// objects (@removed) are reported deleted, which is how a deleted user
// reaches offboarding; a disabled one arrives with accountEnabled false.

var _ connectors.ChangeFeed = (*Conn)(nil)

type cursor struct {
	Users  string `json:"u"`
	Groups string `json:"g"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Conn) decodeCursor(s string) (cursor, error) {
	var cur cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &cur)
	}
	base := strings.TrimRight(c.cfg.GraphURL, "/") + "/v1.0/"
	if err != nil || !strings.HasPrefix(cur.Users, base) || !strings.HasPrefix(cur.Groups, base) {
		return cur, fmt.Errorf("entra: unreadable cursor: %w", connectors.ErrCursorExpired)
	}
	return cur, nil
}

// expired reports Graph's answers to a delta token it no longer has.
func expired(err error) bool {
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		return false
	}
	if oe.ResponseStatusCode == http.StatusGone {
		return true
	}
	if main := oe.GetErrorEscaped(); main != nil && oe.ResponseStatusCode == http.StatusBadRequest {
		switch strings.ToLower(str(main.GetCode())) {
		case "syncstatenotfound", "resyncrequired", "syncstateinvalid":
			return true
		}
	}
	return false
}

// Changes reports changes since cur ("" for a snapshot) and returns the next cursor.
func (c *Conn) Changes(ctx context.Context, cur string, fn func(connectors.Change) error) (string, error) {
	if cur == "" {
		return c.snapshot(ctx, fn)
	}
	in, err := c.decodeCursor(cur)
	if err != nil {
		return "", err
	}
	out := cursor{}
	if out.Users, err = c.userChanges(ctx, in.Users, fn); err != nil {
		return "", err
	}
	if out.Groups, err = c.groupChanges(ctx, in.Groups, fn); err != nil {
		return "", err
	}
	return out.encode(), nil
}

func (c *Conn) deltaURL(collection string, fields []string) string {
	q := url.Values{"$select": {strings.Join(fields, ",")}}
	return strings.TrimRight(c.cfg.GraphURL, "/") + "/v1.0/" + collection + "/delta()?" + q.Encode()
}

func (c *Conn) snapshot(ctx context.Context, fn func(connectors.Change) error) (string, error) {
	var out cursor
	var err error
	if out.Users, err = c.userChanges(ctx, c.deltaURL("users", []string{"id"})+"&$deltatoken=latest", nil); err != nil {
		return "", err
	}
	if out.Groups, err = c.groupChanges(ctx, c.deltaURL("groups", []string{"id", "members"})+"&$deltatoken=latest", nil); err != nil {
		return "", err
	}
	err = c.ListUsers(ctx, func(u connectors.User) error { return fn(connectors.Change{Op: connectors.Upsert, User: &u}) })
	if err != nil {
		return "", err
	}
	err = c.ListGroups(ctx, func(g connectors.Group) error { return c.emitGroup(ctx, g, fn) })
	if err != nil {
		return "", err
	}
	return out.encode(), nil
}

func (c *Conn) emitGroup(ctx context.Context, g connectors.Group, fn func(connectors.Change) error) error {
	refs := []string{}
	if err := c.ListMembers(ctx, g.ID, func(id string) error { refs = append(refs, id); return nil }); err != nil {
		return err
	}
	return fn(connectors.Change{Op: connectors.Upsert, Group: &g, MemberRefs: refs})
}

// userChanges follows a users delta link to its end; with fn nil it only
// finds the next delta link.
func (c *Conn) userChanges(ctx context.Context, link string, fn func(connectors.Change) error) (string, error) {
	var changed, removed []string
	for {
		resp, err := c.graph.Users().Delta().WithUrl(link).GetAsDeltaGetResponse(ctx, nil)
		if expired(err) {
			return "", fmt.Errorf("entra: users delta: the delta token expired: %w", connectors.ErrCursorExpired)
		}
		if err != nil {
			return "", mapErr("users delta", permRead, err)
		}
		for _, u := range resp.GetValue() {
			if _, gone := u.GetAdditionalData()["@removed"]; gone {
				removed = append(removed, str(u.GetId()))
			} else {
				changed = append(changed, str(u.GetId()))
			}
		}
		if next := resp.GetOdataNextLink(); next != nil {
			link = *next
			continue
		}
		if resp.GetOdataDeltaLink() == nil {
			return "", fmt.Errorf("entra: users delta ended without a delta link: %w", connectors.ErrUnavailable)
		}
		link = *resp.GetOdataDeltaLink()
		break
	}
	if fn == nil {
		return link, nil
	}
	for _, id := range changed {
		u, err := c.graph.Users().ByUserId(id).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userFields}})
		if errors.Is(mapErr("", "", err), connectors.ErrNotFound) {
			removed = append(removed, id) // deleted since the round
			continue
		}
		if err != nil {
			return "", mapErr("read user "+id, permRead, err)
		}
		user := toUser(u)
		if err := fn(connectors.Change{Op: connectors.Upsert, User: &user}); err != nil {
			return "", err
		}
	}
	for _, id := range removed {
		if err := fn(connectors.Change{Op: connectors.Delete, User: &connectors.User{ID: id}}); err != nil {
			return "", err
		}
	}
	return link, nil
}

// groupChanges follows a groups delta link to its end; with fn nil it only
// finds the next delta link.
func (c *Conn) groupChanges(ctx context.Context, link string, fn func(connectors.Change) error) (string, error) {
	var changed, removed []string
	seen := map[string]bool{}
	for {
		resp, err := c.graph.Groups().Delta().WithUrl(link).GetAsDeltaGetResponse(ctx, nil)
		if expired(err) {
			return "", fmt.Errorf("entra: groups delta: the delta token expired: %w", connectors.ErrCursorExpired)
		}
		if err != nil {
			return "", mapErr("groups delta", permRead, err)
		}
		for _, g := range resp.GetValue() {
			id := str(g.GetId())
			switch _, gone := g.GetAdditionalData()["@removed"]; {
			case gone:
				removed = append(removed, id)
			case !seen[id]: // a group's member changes can span pages
				seen[id] = true
				changed = append(changed, id)
			}
		}
		if next := resp.GetOdataNextLink(); next != nil {
			link = *next
			continue
		}
		if resp.GetOdataDeltaLink() == nil {
			return "", fmt.Errorf("entra: groups delta ended without a delta link: %w", connectors.ErrUnavailable)
		}
		link = *resp.GetOdataDeltaLink()
		break
	}
	if fn == nil {
		return link, nil
	}
	for _, id := range changed {
		g, err := c.graph.Groups().ByGroupId(id).Get(ctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: groupFields}})
		if errors.Is(mapErr("", "", err), connectors.ErrNotFound) {
			removed = append(removed, id)
			continue
		}
		if err != nil {
			return "", mapErr("read group "+id, permRead, err)
		}
		if g.GetSecurityEnabled() == nil || !*g.GetSecurityEnabled() {
			continue // not a group jitd mirrors
		}
		if err := c.emitGroup(ctx, toGroup(g), fn); err != nil {
			return "", err
		}
	}
	for _, id := range removed {
		if err := fn(connectors.Change{Op: connectors.Delete, Group: &connectors.Group{ID: id}}); err != nil {
			return "", err
		}
	}
	return link, nil
}
