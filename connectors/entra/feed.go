package entra

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/jitd/jitd/connectors"
)

// The change feed follows Graph's delta queries for users and for groups;
// the cursor holds the two delta links. A snapshot asks for the links first
// ($deltatoken=latest) and then lists everything, so a change made while it
// lists is seen again, never missed. Delta rounds carry only what changed,
// so changed users are read afresh, with their managers, in JSON batches of
// 20. A group whose only change is its members (members@delta) is reported
// as that change, MembersChanged, without a call; a group whose properties
// changed, or that is new, is read (batched too) and its members listed
// whole. Deleted objects (@removed) are reported deleted, which is how a
// deleted user reaches offboarding; a disabled one arrives with
// accountEnabled false.

var _ connectors.ChangeFeed = (*Conn)(nil)

// cursorVersion changes when the delta links' $select does: Graph tracks
// only the selected properties, so a link from an older version would miss
// changes, and the feed asks for a snapshot instead.
const cursorVersion = 2

type cursor struct {
	V      int    `json:"v"`
	Users  string `json:"u"`
	Groups string `json:"g"`
}

func (c cursor) encode() string {
	c.V = cursorVersion
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
	if cur.V != cursorVersion {
		return cur, fmt.Errorf("entra: the cursor is from an earlier version of jitd, whose delta links track fewer properties: %w", connectors.ErrCursorExpired)
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
	if out.Users, err = c.userChanges(ctx, c.deltaURL("users", append(slices.Clone(userFields), "manager"))+"&$deltatoken=latest", nil); err != nil {
		return "", err
	}
	if out.Groups, err = c.groupChanges(ctx, c.deltaURL("groups", append(slices.Clone(groupFields), "members"))+"&$deltatoken=latest", nil); err != nil {
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
	gone, err := c.readUsers(ctx, changed, func(u connectors.User) error {
		return fn(connectors.Change{Op: connectors.Upsert, User: &u})
	})
	if err != nil {
		return "", err
	}
	for _, id := range append(removed, gone...) {
		if err := fn(connectors.Change{Op: connectors.Delete, User: &connectors.User{ID: id}}); err != nil {
			return "", err
		}
	}
	return link, nil
}

// readUsers reads users by id, with their managers, in JSON batches of 20,
// and returns the ids that no longer exist.
func (c *Conn) readUsers(ctx context.Context, ids []string, fn func(connectors.User) error) (gone []string, err error) {
	return readByID(c, ctx, "user", ids, func(id string) (*abstractions.RequestInformation, error) {
		return c.graph.Users().ByUserId(id).ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userFields, Expand: managerExpand}})
	}, models.CreateUserFromDiscriminatorValue, func(u models.Userable) error { return fn(toUser(u)) })
}

// readByID reads objects by id in JSON batches of 20, gives each to fn,
// and returns the ids that no longer exist.
func readByID[T any](c *Conn, ctx context.Context, kind string, ids []string, get func(id string) (*abstractions.RequestInformation, error),
	factory serialization.ParsableFactory, fn func(T) error) (gone []string, err error) {
	reqs, err := requests(ids, get)
	if err != nil {
		return nil, err
	}
	err = c.batched(ctx, "read changed "+kind+"s", permRead, reqs, func(i int, a answer) error {
		switch {
		case a.Status == http.StatusNotFound:
			gone = append(gone, ids[i]) // deleted since the round
			return nil
		case !a.ok():
			return fmt.Errorf("entra: read %s %s: %w: HTTP %d", kind, ids[i], connectors.ErrUnavailable, a.Status)
		}
		v, err := a.read(factory)
		obj, ok := v.(T)
		if err != nil || !ok {
			return fmt.Errorf("entra: read %s %s: %w: %v", kind, ids[i], connectors.ErrUnavailable, err)
		}
		return fn(obj)
	})
	return gone, err
}

// groupChanges follows a groups delta link to its end; with fn nil it only
// finds the next delta link.
func (c *Conn) groupChanges(ctx context.Context, link string, fn func(connectors.Change) error) (string, error) {
	var order, removed []string
	type delta struct {
		props   bool            // a property changed, or the group is new
		members map[string]bool // user id -> member now (the last word wins)
		order   []string
	}
	changed := map[string]*delta{}
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
			if _, gone := g.GetAdditionalData()["@removed"]; gone {
				removed = append(removed, id)
				continue
			}
			d := changed[id]
			if d == nil { // a group's member changes can span pages
				d = &delta{members: map[string]bool{}}
				changed[id] = d
				order = append(order, id)
			}
			d.props = d.props || hasGroupProperties(g)
			for _, m := range memberDelta(g.GetAdditionalData()["members@delta"]) {
				if _, seen := d.members[m.id]; !seen {
					d.order = append(d.order, m.id)
				}
				d.members[m.id] = !m.removed
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
	var reread []string
	for _, id := range order {
		d := changed[id]
		if d.props {
			reread = append(reread, id)
			continue
		}
		ch := connectors.Change{Op: connectors.MembersChanged, Group: &connectors.Group{ID: id}}
		for _, uid := range d.order {
			if d.members[uid] {
				ch.Added = append(ch.Added, uid)
			} else {
				ch.Removed = append(ch.Removed, uid)
			}
		}
		if err := fn(ch); err != nil {
			return "", err
		}
	}
	gone, err := c.readGroups(ctx, reread, func(g models.Groupable) error {
		if g.GetSecurityEnabled() == nil || !*g.GetSecurityEnabled() {
			// Not a group jitd mirrors (or no longer one).
			return fn(connectors.Change{Op: connectors.Delete, Group: &connectors.Group{ID: str(g.GetId())}})
		}
		return c.emitGroup(ctx, toGroup(g), fn)
	})
	if err != nil {
		return "", err
	}
	for _, id := range append(removed, gone...) {
		if err := fn(connectors.Change{Op: connectors.Delete, Group: &connectors.Group{ID: id}}); err != nil {
			return "", err
		}
	}
	return link, nil
}

// hasGroupProperties reports whether a delta item carries any of the
// group's properties: it is new or one of them changed. An item with only
// members@delta is a change of members alone.
func hasGroupProperties(g models.Groupable) bool {
	return g.GetDisplayName() != nil || g.GetSecurityEnabled() != nil || g.GetMailEnabled() != nil || g.GetGroupTypes() != nil ||
		g.GetMembershipRule() != nil || g.GetOnPremisesSyncEnabled() != nil || g.GetIsAssignableToRole() != nil
}

type memberChange struct {
	id      string
	removed bool
}

// memberDelta reads a members@delta annotation: the users that joined
// (and, with @removed, left) a group. Other kinds of members are skipped.
func memberDelta(v any) []memberChange {
	list, _ := v.([]any)
	var out []memberChange
	for _, item := range list {
		m, _ := item.(map[string]any)
		if m == nil {
			continue
		}
		if t := rawString(m["@odata.type"]); t != "" && !strings.EqualFold(t, "#microsoft.graph.user") {
			continue
		}
		if id := rawString(m["id"]); id != "" {
			_, gone := m["@removed"]
			out = append(out, memberChange{id: id, removed: gone})
		}
	}
	return out
}

// rawString reads a string the JSON parser left as string or *string.
func rawString(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case *string:
		return str(s)
	}
	return ""
}

// readGroups reads groups by id in JSON batches of 20 and returns the ids
// that no longer exist.
func (c *Conn) readGroups(ctx context.Context, ids []string, fn func(models.Groupable) error) (gone []string, err error) {
	return readByID(c, ctx, "group", ids, func(id string) (*abstractions.RequestInformation, error) {
		return c.graph.Groups().ByGroupId(id).ToGetRequestInformation(ctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: groupFields}})
	}, models.CreateGroupFromDiscriminatorValue, fn)
}
