// Package scim is the connector for applications that take SCIM 2.0
// provisioning (RFC 7643/7644): their users and groups, temporary group
// membership by PATCH, and ephemeral accounts. Applications differ in what
// they accept: an add of a present member or a remove of an absent one may
// be an error, pages may be shorter than asked; the connector re-reads and
// retries rather than trusting a batch's failure.
package scim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/jitd/jitd/connectors"
)

// Schema and message URNs.
const (
	userSchema  = "urn:ietf:params:scim:schemas:core:2.0:User"
	patchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// Conn is a connection to one SCIM application.
type Conn struct {
	cfg  Config
	base string
	http *http.Client
	// tokens gives OAuth access tokens (nil with a static token).
	tokens oauth2.TokenSource
}

var (
	_ connectors.Resolver          = (*Conn)(nil)
	_ connectors.Lister            = (*Conn)(nil)
	_ connectors.MembershipManager = (*Conn)(nil)
	_ connectors.AccountManager    = (*Conn)(nil)
	_ connectors.ChangeFeed        = (*Conn)(nil)
)

// New returns a connector for a validated configuration.
func New(cfg Config) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("scim: %w: %v", connectors.ErrInvalid, err)
	}
	cfg = cfg.withDefaults()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CAFile != "" {
		pool, err := connectors.CAPool(cfg.CAFile, true)
		if err != nil {
			return nil, fmt.Errorf("scim: %w", err)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c := &Conn{cfg: cfg, base: strings.TrimRight(cfg.URL, "/"), http: &http.Client{Transport: tr, Timeout: cfg.Timeout}}
	if cfg.oauth() {
		secret, err := cfg.clientSecret().Read()
		if err != nil {
			return nil, fmt.Errorf("scim: %w", err)
		}
		cc := clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: secret, TokenURL: cfg.TokenURL, Scopes: cfg.Scopes}
		c.tokens = cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, c.http))
	}
	return c, nil
}

// bearer returns the token for the next request.
func (c *Conn) bearer() (string, error) {
	if c.tokens == nil {
		t, err := c.cfg.token().Read()
		if err != nil {
			return "", fmt.Errorf("scim: %w", err)
		}
		return t, nil
	}
	t, err := c.tokens.Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return "", fmt.Errorf("scim: OAuth token from %s: %w: %v (check client_id and client_secret)", c.cfg.TokenURL, connectors.ErrPermission, err)
		}
		return "", fmt.Errorf("scim: OAuth token from %s: %w: %v", c.cfg.TokenURL, connectors.ErrUnavailable, err)
	}
	return t.AccessToken, nil
}

// Describe reports the kind.
func (c *Conn) Describe() connectors.Description { return connectors.Description{Kind: "scim"} }

// Capabilities lists what the application offers: accounts only when configured.
func (c *Conn) Capabilities() []connectors.Capability {
	caps := []connectors.Capability{connectors.CapList, connectors.CapLookup, connectors.CapMembership}
	if c.cfg.Accounts {
		caps = append(caps, connectors.CapAccounts)
	}
	if c.cfg.ChangeFeed {
		caps = append(caps, connectors.CapChangeFeed)
	}
	return caps
}

// Close does nothing: requests hold no connection of their own.
func (c *Conn) Close() error { return nil }

// Check reads the ServiceProviderConfig with the token.
func (c *Conn) Check(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/ServiceProviderConfig", nil, nil)
}

// apiError is a SCIM error answer.
type apiError struct {
	Status   int
	ScimType string
	Detail   string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("status %d", e.Status)
	if e.ScimType != "" {
		s += " " + e.ScimType
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// do sends one request and decodes a JSON answer into out. Errors wrap the
// contract's sentinels: 401/403 ErrPermission, 404 ErrNotFound, 400/409
// ErrInvalid, 429 a RateLimitError with the server's wait, 5xx and network
// failures ErrUnavailable.
func (c *Conn) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("scim: %w: %v", connectors.ErrInvalid, err)
	}
	token, err := c.bearer()
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/scim+json, application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("scim: %s %s: %w: %v", method, path, connectors.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		var b struct {
			ScimType string `json:"scimType"`
			Detail   string `json:"detail"`
		}
		if json.Unmarshal(raw, &b) == nil {
			e.ScimType, e.Detail = b.ScimType, b.Detail
		}
		what := fmt.Sprintf("scim: %s %s", method, path)
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			wait := time.Minute
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				wait = time.Duration(s) * time.Second
			}
			return fmt.Errorf("%s: %w", what, &connectors.RateLimitError{Wait: wait, Msg: "scim: the application asked to slow down"})
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%s: %w: %v (check the token, or the OAuth client's grants)", what, connectors.ErrPermission, e)
		case resp.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%s: %w: %v", what, connectors.ErrNotFound, e)
		case resp.StatusCode >= 500:
			return fmt.Errorf("%s: %w: %v", what, connectors.ErrUnavailable, e)
		default:
			return fmt.Errorf("%s: %w: %w", what, connectors.ErrInvalid, e)
		}
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("scim: %s %s: the answer is not SCIM JSON: %w: %v", method, path, connectors.ErrUnavailable, err)
	}
	return nil
}

// user is the part of a SCIM User jitd reads.
type user struct {
	ID          string `json:"id"`
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
	Active      *bool  `json:"active"`
	UserType    string `json:"userType"`
	Title       string `json:"title"`
	Meta        meta   `json:"meta"`
	Enterprise  struct {
		Department string `json:"department"`
		Manager    struct {
			Value string `json:"value"`
		} `json:"manager"`
	} `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
}

func (u user) public() connectors.User {
	out := connectors.User{ID: u.ID, Login: u.UserName, DisplayName: u.DisplayName, Enabled: u.Active == nil || *u.Active, Ref: u.ID,
		Manager: u.Enterprise.Manager.Value}
	for name, v := range map[string]string{"department": u.Enterprise.Department, "title": u.Title} {
		if v != "" {
			if out.Attributes == nil {
				out.Attributes = map[string]string{}
			}
			out.Attributes[name] = v
		}
	}
	return out
}

type meta struct {
	LastModified time.Time `json:"lastModified"`
}

type group struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Meta        meta   `json:"meta"`
	Members     []struct {
		Value string `json:"value"`
	} `json:"members"`
}

type listResponse[T any] struct {
	TotalResults int `json:"totalResults"`
	Resources    []T `json:"Resources"`
}

// eq is a SCIM filter attr eq "value", the value quoted as a JSON string so
// nothing in it can end the literal.
func eq(attr, value string) string { return attr + " eq " + jsonString(value) }

// list pages through path (startIndex is 1-based), calling fn for each
// resource; a page shorter than asked moves on by what it held.
func list[T any](ctx context.Context, c *Conn, path string, q url.Values, fn func(T) error) error {
	start := 1
	for {
		q.Set("startIndex", strconv.Itoa(start))
		q.Set("count", strconv.Itoa(c.cfg.PageSize))
		var page listResponse[T]
		if err := c.do(ctx, http.MethodGet, path+"?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		for _, r := range page.Resources {
			if err := fn(r); err != nil {
				return err
			}
		}
		start += len(page.Resources)
		if len(page.Resources) == 0 || start > page.TotalResults {
			return nil
		}
	}
}

// one finds the single resource whose attr equals value exactly (servers
// compare userName case-insensitively; logins here are compared exactly too).
func one[T any](ctx context.Context, c *Conn, path, attr, value string, name func(T) string) (T, error) {
	var found []T
	err := list(ctx, c, path, url.Values{"filter": {eq(attr, value)}}, func(r T) error {
		if strings.EqualFold(name(r), value) {
			found = append(found, r)
		}
		return nil
	})
	var zero T
	switch {
	case err != nil:
		return zero, err
	case len(found) == 0:
		return zero, fmt.Errorf("scim: %s %q: %w", strings.TrimPrefix(path, "/"), value, connectors.ErrNotFound)
	case len(found) > 1:
		return zero, fmt.Errorf("scim: %s %q matches %d resources: %w", strings.TrimPrefix(path, "/"), value, len(found), connectors.ErrInvalid)
	}
	return found[0], nil
}

// LookupUser finds a user by userName.
func (c *Conn) LookupUser(ctx context.Context, login string) (connectors.User, error) {
	u, err := one(ctx, c, "/Users", "userName", login, func(u user) string { return u.UserName })
	if err != nil {
		return connectors.User{}, err
	}
	return u.public(), nil
}

// LookupGroup finds a group by displayName.
func (c *Conn) LookupGroup(ctx context.Context, name string) (connectors.Group, error) {
	g, err := one(ctx, c, "/Groups", "displayName", name, func(g group) string { return g.DisplayName })
	if err != nil {
		return connectors.Group{}, err
	}
	return connectors.Group{ID: g.ID, Name: g.DisplayName}, nil
}

// ListUsers streams every user.
func (c *Conn) ListUsers(ctx context.Context, fn func(connectors.User) error) error {
	return list(ctx, c, "/Users", url.Values{}, func(u user) error { return fn(u.public()) })
}

// ListGroups streams every group, without its members.
func (c *Conn) ListGroups(ctx context.Context, fn func(connectors.Group) error) error {
	return list(ctx, c, "/Groups", url.Values{"excludedAttributes": {"members"}}, func(g group) error {
		return fn(connectors.Group{ID: g.ID, Name: g.DisplayName})
	})
}

func (c *Conn) members(ctx context.Context, groupID string) (map[string]bool, error) {
	var g group
	if err := c.do(ctx, http.MethodGet, "/Groups/"+url.PathEscape(groupID)+"?attributes=members", nil, &g); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range g.Members {
		out[m.Value] = true
	}
	return out, nil
}

// ListMembers streams the ids of a group's members.
func (c *Conn) ListMembers(ctx context.Context, groupID string, fn func(string) error) error {
	ms, err := c.members(ctx, groupID)
	if err != nil {
		return err
	}
	for id := range ms {
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
}

// IsMember reports whether the user is a member of the group.
func (c *Conn) IsMember(ctx context.Context, groupID, userID string) (bool, error) {
	ms, err := c.members(ctx, groupID)
	return ms[userID], err
}

type patch struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

func (c *Conn) patchGroup(ctx context.Context, groupID string, ops []patchOp) error {
	return c.do(ctx, http.MethodPatch, "/Groups/"+url.PathEscape(groupID), patch{Schemas: []string{patchSchema}, Operations: ops}, nil)
}

// AddMembers adds the users in one PATCH. When the application refuses the
// batch (some say "already a member", or one user does not exist), the
// group is read again and the users still missing are added one by one, so
// each gets its own result.
func (c *Conn) AddMembers(ctx context.Context, groupID string, userIDs []string) ([]connectors.MemberResult, error) {
	values := make([]map[string]string, len(userIDs))
	for i, id := range userIDs {
		values[i] = map[string]string{"value": id}
	}
	err := c.patchGroup(ctx, groupID, []patchOp{{Op: "add", Path: "members", Value: values}})
	return c.settle(ctx, groupID, userIDs, err, true)
}

// RemoveMembers removes the users in one PATCH (one operation each, by
// filter path); on refusal it re-reads and removes those still present.
func (c *Conn) RemoveMembers(ctx context.Context, groupID string, userIDs []string) ([]connectors.MemberResult, error) {
	ops := make([]patchOp, len(userIDs))
	for i, id := range userIDs {
		ops[i] = removeOp(id)
	}
	err := c.patchGroup(ctx, groupID, ops)
	return c.settle(ctx, groupID, userIDs, err, false)
}

func removeOp(id string) patchOp {
	return patchOp{Op: "remove", Path: "members[" + eq("value", id) + "]"}
}

// settle turns a batch's outcome into per-user results: success for all, or,
// after a refusal, a fresh read and one call per user still to change.
func (c *Conn) settle(ctx context.Context, groupID string, userIDs []string, err error, add bool) ([]connectors.MemberResult, error) {
	results := make([]connectors.MemberResult, len(userIDs))
	for i, id := range userIDs {
		results[i].UserID = id
	}
	if err == nil {
		return results, nil
	}
	if !errors.Is(err, connectors.ErrInvalid) {
		return nil, err // the whole call failed: nothing can be trusted
	}
	now, rerr := c.members(ctx, groupID)
	if rerr != nil {
		return nil, rerr
	}
	for i, id := range userIDs {
		if now[id] == add {
			continue // already as wanted
		}
		op := removeOp(id)
		if add {
			op = patchOp{Op: "add", Path: "members", Value: []map[string]string{{"value": id}}}
		}
		if err := c.patchGroup(ctx, groupID, []patchOp{op}); err != nil {
			if !errors.Is(err, connectors.ErrInvalid) && !errors.Is(err, connectors.ErrNotFound) {
				return nil, err
			}
			if add {
				// The application refuses this user alone: it does not exist there.
				if _, uerr := c.user(ctx, id); errors.Is(uerr, connectors.ErrNotFound) {
					err = fmt.Errorf("scim: user %s: %w", id, connectors.ErrNotFound)
				}
			}
			results[i].Err = err
		}
	}
	return results, nil
}

func (c *Conn) user(ctx context.Context, id string) (user, error) {
	var u user
	err := c.do(ctx, http.MethodGet, "/Users/"+url.PathEscape(id), nil, &u)
	return u, err
}
