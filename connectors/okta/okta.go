// Package okta connects jitd to an Okta org through okta-sdk-golang: users,
// groups and OKTA_GROUP memberships, with Okta's rate limits turned into
// RateLimitErrors the expiry queue reschedules.
//
// Changes are read with `search=lastUpdated gt` (users) and `lastUpdated or
// lastMembershipUpdated gt` (groups) rather than the System Log: the searches
// return the objects themselves, in a few calls, with the same shape as a full
// sync, and a user's deactivation or suspension shows in its status (the
// offboarding path). Neither sees deletions, so every full_sync_every the
// cursor expires and the mirror takes a full sync, which sweeps them.
package okta

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	oktasdk "github.com/okta/okta-sdk-golang/v2/okta"
	"github.com/okta/okta-sdk-golang/v2/okta/query"

	"github.com/jitd/jitd/connectors"
)

// Conn is an Okta org.
type Conn struct {
	cfg    Config
	client *oktasdk.Client
}

var (
	_ connectors.Connector         = (*Conn)(nil)
	_ connectors.Resolver          = (*Conn)(nil)
	_ connectors.Lister            = (*Conn)(nil)
	_ connectors.MembershipManager = (*Conn)(nil)
	_ connectors.ChangeFeed        = (*Conn)(nil)
)

// New returns a connector for cfg.
func New(cfg Config) (*Conn, error) { return newConn(cfg, time.Now, time.Sleep) }

// newConn takes the clock the rate limiter reads and the sleep between 5xx
// retries (tests move a fake clock instead).
func newConn(cfg Config, now func() time.Time, sleep func(time.Duration)) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("okta: %w: %v", connectors.ErrInvalid, err)
	}
	cfg = cfg.withDefaults()
	auth := []oktasdk.ConfigSetter{oktasdk.WithToken("set-by-transport")} // the transport sets the real token on each request
	tokenFn := cfg.token
	if cfg.ClientID != "" {
		key, err := cfg.privateKey()
		if err != nil {
			return nil, err
		}
		if _, err := oktasdk.CreateKeySigner(key, cfg.PrivateKeyID); err != nil {
			return nil, fmt.Errorf("okta: private key: %w: %v (want an RSA key in PEM, -----BEGIN RSA PRIVATE KEY-----)", connectors.ErrInvalid, err)
		}
		auth = []oktasdk.ConfigSetter{oktasdk.WithAuthorizationMode("PrivateKey"), oktasdk.WithClientId(cfg.ClientID),
			oktasdk.WithScopes(cfg.Scopes), oktasdk.WithPrivateKey(key), oktasdk.WithPrivateKeyId(cfg.PrivateKeyID)}
		tokenFn = nil // the SDK gets and refreshes access tokens itself
	} else if _, err := cfg.token(); err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pool, err := connectors.CAPool(cfg.CAFile, true)
		if err != nil {
			return nil, fmt.Errorf("okta: %w", err)
		}
		tc.RootCAs = pool
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = tc
	hc := &http.Client{Timeout: cfg.Timeout, Transport: &transport{base: base, now: now, sleep: sleep, token: tokenFn, share: cfg.RateLimitShare}}
	_, client, err := oktasdk.NewClient(context.Background(), append(auth,
		oktasdk.WithOrgUrl(strings.TrimRight(cfg.OrgURL, "/")),
		oktasdk.WithCache(false), // the SDK caches GETs for 5 minutes by default: reads after writes would lie
		oktasdk.WithHttpClientPtr(hc), oktasdk.WithRateLimitMaxRetries(0),
		oktasdk.WithRequestTimeout(int64(cfg.Timeout/time.Second)))...)
	if err != nil {
		return nil, fmt.Errorf("okta: %w: %v", connectors.ErrInvalid, err)
	}
	return &Conn{cfg: cfg, client: client}, nil
}

// Describe reports the kind.
func (c *Conn) Describe() connectors.Description { return connectors.Description{Kind: "okta"} }

// Close does nothing: connections are pooled by net/http.
func (c *Conn) Close() error { return nil }

// Check reads one user, which proves the URL and the token.
func (c *Conn) Check(ctx context.Context) error {
	_, resp, err := c.client.User.ListUsers(ctx, query.NewQueryParams(query.WithLimit(1)))
	return mapErr("check", resp, err)
}

// mapErr wraps an SDK error in the sentinel that says what to do.
func mapErr(op string, resp *oktasdk.Response, err error) error {
	if err == nil {
		return nil
	}
	var rl *connectors.RateLimitError
	if errors.As(err, &rl) || errors.Is(err, connectors.ErrUnavailable) {
		return fmt.Errorf("okta: %s: %w", op, err)
	}
	detail := err.Error()
	var oe *oktasdk.Error
	if errors.As(err, &oe) && oe.ErrorSummary != "" {
		detail = oe.ErrorCode + " " + oe.ErrorSummary
	}
	if oe != nil {
		switch oe.ErrorMessage { // OAuth token endpoint errors: retrying will not help
		case "invalid_client", "unauthorized_client", "invalid_grant":
			return fmt.Errorf("okta: %s: %w: the OAuth service app was refused (%s: %s); check client_id and private_key_file, and that the app's public key is registered in Okta", op, connectors.ErrPermission, oe.ErrorMessage, oe.ErrorDescription)
		case "invalid_scope":
			return fmt.Errorf("okta: %s: %w: the OAuth service app may not ask for these scopes (%s); grant them to the app in Okta or narrow scopes", op, connectors.ErrPermission, oe.ErrorDescription)
		}
	}
	status := 0
	if resp != nil && resp.Response != nil {
		status = resp.StatusCode
	}
	switch {
	case status == http.StatusNotFound:
		return fmt.Errorf("okta: %s: %w: %s", op, connectors.ErrNotFound, detail)
	case status == http.StatusUnauthorized:
		return fmt.Errorf("okta: %s: %w: the API token was rejected (%s); check api_token_file or api_token_env", op, connectors.ErrPermission, detail)
	case status == http.StatusForbidden:
		if scope := missingScope(resp); scope != "" {
			return fmt.Errorf("okta: %s: %w: the service app lacks the scope %s; grant it in the Okta admin console (Applications, jitd's app, Okta API Scopes) and add it to scopes", op, connectors.ErrPermission, scope)
		}
		return fmt.Errorf("okta: %s: %w: the token's admin lacks a role (%s): membership changes need Group Membership Admin (or Super Admin); sync needs read access to users and groups", op, connectors.ErrPermission, detail)
	case status >= 400 && status < 500:
		return fmt.Errorf("okta: %s: %w: %s", op, connectors.ErrInvalid, detail)
	}
	return fmt.Errorf("okta: %s: %w: %s", op, connectors.ErrUnavailable, detail)
}

var scopeRE = regexp.MustCompile(`scope="([^"]+)"`)

// missingScope reads the scope an OAuth 403 asks for (WWW-Authenticate).
func missingScope(resp *oktasdk.Response) string {
	if m := scopeRE.FindStringSubmatch(resp.Header.Get("WWW-Authenticate")); m != nil {
		return m[1]
	}
	return ""
}

// segment escapes one path segment; the SDK does not.
func segment(s string) (string, bool) {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "\x00\r\n") {
		return "", false
	}
	return url.PathEscape(s), true
}

func enabled(status string) bool {
	switch status {
	case "DEPROVISIONED", "SUSPENDED", "STAGED":
		return false
	}
	return true
}

func toUser(u *oktasdk.User) connectors.User {
	out := connectors.User{ID: u.Id, Enabled: enabled(u.Status), Ref: u.Id}
	if u.Profile != nil {
		p := *u.Profile
		out.Login, _ = p["login"].(string)
		first, _ := p["firstName"].(string)
		last, _ := p["lastName"].(string)
		out.DisplayName = strings.TrimSpace(first + " " + last)
		out.Manager, _ = p["managerId"].(string)
		for name, key := range map[string]string{"department": "department", "title": "title"} {
			if v, _ := p[key].(string); v != "" {
				if out.Attributes == nil {
					out.Attributes = map[string]string{}
				}
				out.Attributes[name] = v
			}
		}
	}
	return out
}

func toGroup(g *oktasdk.Group) connectors.Group {
	out := connectors.Group{ID: g.Id}
	if g.Profile != nil {
		out.Name = g.Profile.Name
	}
	return out
}

// LookupUser finds a user by login (Okta matches logins exactly, ignoring case).
func (c *Conn) LookupUser(ctx context.Context, login string) (connectors.User, error) {
	seg, ok := segment(login)
	if !ok {
		return connectors.User{}, fmt.Errorf("okta: user %q: %w", login, connectors.ErrNotFound)
	}
	u, resp, err := c.client.User.GetUser(ctx, seg)
	if err != nil {
		return connectors.User{}, mapErr("look up user "+login, resp, err)
	}
	out := toUser(u)
	if !strings.EqualFold(out.Login, login) && u.Id != login {
		return connectors.User{}, fmt.Errorf("okta: user %q: %w", login, connectors.ErrNotFound)
	}
	if u.Id == login && !strings.EqualFold(out.Login, login) {
		return connectors.User{}, fmt.Errorf("okta: user %q: %w (that is an id, not a login)", login, connectors.ErrNotFound)
	}
	return out, nil
}

// LookupGroup finds a group by its exact name.
func (c *Conn) LookupGroup(ctx context.Context, name string) (connectors.Group, error) {
	if name == "" {
		return connectors.Group{}, fmt.Errorf("okta: empty group name: %w", connectors.ErrNotFound)
	}
	var found []*oktasdk.Group
	err := c.eachGroup(ctx, query.NewQueryParams(query.WithQ(name), query.WithLimit(200)), func(g *oktasdk.Group) error {
		if g.Profile != nil && g.Profile.Name == name {
			found = append(found, g)
		}
		return nil
	})
	if err != nil {
		return connectors.Group{}, err
	}
	switch len(found) {
	case 0:
		return connectors.Group{}, fmt.Errorf("okta: group %q: %w", name, connectors.ErrNotFound)
	case 1:
		return toGroup(found[0]), nil
	}
	return connectors.Group{}, fmt.Errorf("okta: %d groups are named %q; rename one: %w", len(found), name, connectors.ErrInvalid)
}

// each pages through a list call: first runs the first request, Next the rest.
func each[T any](ctx context.Context, op string, first func() ([]T, *oktasdk.Response, error), fn func(T) error) error {
	items, resp, err := first()
	for {
		if err != nil {
			return mapErr(op, resp, err)
		}
		for _, it := range items {
			if err := fn(it); err != nil {
				return err
			}
		}
		if resp == nil || !resp.HasNextPage() {
			return nil
		}
		items = nil
		resp, err = resp.Next(ctx, &items)
	}
}

func (c *Conn) eachUser(ctx context.Context, qp *query.Params, fn func(*oktasdk.User) error) error {
	return each(ctx, "list users", func() ([]*oktasdk.User, *oktasdk.Response, error) { return c.client.User.ListUsers(ctx, qp) }, fn)
}

func (c *Conn) eachGroup(ctx context.Context, qp *query.Params, fn func(*oktasdk.Group) error) error {
	return each(ctx, "list groups", func() ([]*oktasdk.Group, *oktasdk.Response, error) { return c.client.Group.ListGroups(ctx, qp) }, fn)
}

// ListUsers streams every user, with its status.
func (c *Conn) ListUsers(ctx context.Context, fn func(connectors.User) error) error {
	return c.eachUser(ctx, query.NewQueryParams(query.WithLimit(200)), func(u *oktasdk.User) error { return fn(toUser(u)) })
}

// ListGroups streams every group (all types; only OKTA_GROUP memberships can be changed).
func (c *Conn) ListGroups(ctx context.Context, fn func(connectors.Group) error) error {
	return c.eachGroup(ctx, query.NewQueryParams(query.WithLimit(200)), func(g *oktasdk.Group) error { return fn(toGroup(g)) })
}

// memberPage is Okta's largest page of a group's members (users and
// groups come 200 a page).
const memberPage = 1000

// ListMembers streams a group's member ids.
func (c *Conn) ListMembers(ctx context.Context, groupID string, fn func(string) error) error {
	seg, ok := segment(groupID)
	if !ok {
		return fmt.Errorf("okta: group %q: %w", groupID, connectors.ErrNotFound)
	}
	return each(ctx, "list members of "+groupID, func() ([]*oktasdk.User, *oktasdk.Response, error) {
		return c.client.Group.ListGroupUsers(ctx, seg, query.NewQueryParams(query.WithLimit(memberPage)))
	}, func(u *oktasdk.User) error { return fn(u.Id) })
}

// writable reads the group (once per batch: a deleted group is noticed) and
// refuses membership changes on groups Okta manages itself.
func (c *Conn) writable(ctx context.Context, groupID string) (string, error) {
	seg, ok := segment(groupID)
	if !ok {
		return "", fmt.Errorf("okta: group %q: %w", groupID, connectors.ErrNotFound)
	}
	g, resp, err := c.client.Group.GetGroup(ctx, seg)
	if err != nil {
		return "", mapErr("read group "+groupID, resp, err)
	}
	if g.Type != "OKTA_GROUP" {
		return "", fmt.Errorf("okta: group %s is an %s, whose members Okta manages (an app or Okta itself): grant an OKTA_GROUP instead: %w", groupID, g.Type, connectors.ErrInvalid)
	}
	return seg, nil
}

// AddMembers adds users to an OKTA_GROUP (PUT is idempotent).
func (c *Conn) AddMembers(ctx context.Context, groupID string, userIDs []string) ([]connectors.MemberResult, error) {
	return c.change(ctx, groupID, userIDs, "add", func(g, u string) (*oktasdk.Response, error) {
		return c.client.Group.AddUserToGroup(ctx, g, u)
	})
}

// RemoveMembers removes users from an OKTA_GROUP (DELETE of an absent member succeeds).
func (c *Conn) RemoveMembers(ctx context.Context, groupID string, userIDs []string) ([]connectors.MemberResult, error) {
	return c.change(ctx, groupID, userIDs, "remove", func(g, u string) (*oktasdk.Response, error) {
		return c.client.Group.RemoveUserFromGroup(ctx, g, u)
	})
}

// change makes one call per user (Okta has no batch), Concurrency at a time.
// Once the org's rate limit is hit, the remaining users get the same
// RateLimitError without further calls.
func (c *Conn) change(ctx context.Context, groupID string, userIDs []string, op string, call func(g, u string) (*oktasdk.Response, error)) ([]connectors.MemberResult, error) {
	gseg, err := c.writable(ctx, groupID)
	if err != nil {
		return nil, err
	}
	results := make([]connectors.MemberResult, len(userIDs))
	sem := make(chan struct{}, c.cfg.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var limited error
	for i, id := range userIDs {
		results[i].UserID = id
		useg, ok := segment(id)
		if !ok {
			results[i].Err = fmt.Errorf("okta: user %q: %w", id, connectors.ErrNotFound)
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			mu.Lock()
			stop := limited
			mu.Unlock()
			if stop != nil {
				results[i].Err = stop
				return
			}
			resp, err := call(gseg, useg)
			err = mapErr(op+" "+id+" in "+groupID, resp, err)
			if errors.Is(err, connectors.ErrRateLimited) {
				mu.Lock()
				limited = err
				mu.Unlock()
			}
			results[i].Err = err
		}()
	}
	wg.Wait()
	return results, nil
}

// IsMember reads the user's groups.
func (c *Conn) IsMember(ctx context.Context, groupID, userID string) (bool, error) {
	if _, ok := segment(groupID); !ok {
		return false, fmt.Errorf("okta: group %q: %w", groupID, connectors.ErrNotFound)
	}
	useg, ok := segment(userID)
	if !ok {
		return false, fmt.Errorf("okta: user %q: %w", userID, connectors.ErrNotFound)
	}
	groups, resp, err := c.client.User.ListUserGroups(ctx, useg)
	if err != nil {
		return false, mapErr("read groups of "+userID, resp, err)
	}
	for _, g := range groups {
		if g.Id == groupID {
			return true, nil
		}
	}
	return false, nil
}

// Changes reports users and groups changed since cur (see the package comment).
func (c *Conn) Changes(ctx context.Context, cur string, fn func(connectors.Change) error) (string, error) {
	start := time.Now()
	snapshot := cur == ""
	in, err := connectors.ParsePollCursor("okta", cur, start)
	if err != nil {
		return "", err
	}
	var newest time.Time
	seen := func(ts ...*time.Time) {
		for _, t := range ts {
			if t != nil && t.After(newest) {
				newest = *t
			}
		}
	}
	uq := query.NewQueryParams(query.WithLimit(200))
	gq := query.NewQueryParams(query.WithLimit(200))
	if !snapshot {
		since := in.Since.UTC().Format("2006-01-02T15:04:05.000Z")
		uq = query.NewQueryParams(query.WithLimit(200), query.WithSearch(`lastUpdated gt "`+since+`"`))
		gq = query.NewQueryParams(query.WithLimit(200), query.WithSearch(`lastUpdated gt "`+since+`" or lastMembershipUpdated gt "`+since+`"`))
	}
	err = c.eachUser(ctx, uq, func(u *oktasdk.User) error {
		seen(u.LastUpdated)
		cu := toUser(u)
		return fn(connectors.Change{Op: connectors.Upsert, User: &cu})
	})
	if err != nil {
		return "", err
	}
	var changed []*oktasdk.Group
	if err := c.eachGroup(ctx, gq, func(g *oktasdk.Group) error {
		seen(g.LastUpdated, g.LastMembershipUpdated)
		changed = append(changed, g)
		return nil
	}); err != nil {
		return "", err
	}
	for _, g := range changed {
		var members []string
		if err := c.ListMembers(ctx, g.Id, func(id string) error { members = append(members, id); return nil }); err != nil {
			if errors.Is(err, connectors.ErrNotFound) {
				continue // deleted meanwhile
			}
			return "", err
		}
		cg := toGroup(g)
		if err := fn(connectors.Change{Op: connectors.Upsert, Group: &cg, MemberRefs: members}); err != nil {
			return "", err
		}
	}
	return in.Next(snapshot, start, newest, c.cfg.FullSyncEvery, time.Since(start)+2*time.Second).String(), nil
}
