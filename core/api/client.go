package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client is the typed client of the API.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client for the daemon at addr (http://host:port or
// https://host:port; a bare host:port means http).
func NewClient(addr, token string, hc *http.Client) *Client {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(addr, "/"), token: token, http: hc}
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
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
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach jitd at %s (is `jitd serve` running? set --addr or JITD_ADDR): %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		var e Error
		if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Message == "" {
			return &Error{Status: resp.StatusCode, Code: CodeInternal, Message: resp.Status}
		}
		e.Status = resp.StatusCode
		return &e
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// AddGrant creates a grant.
func (c *Client) AddGrant(ctx context.Context, req AddGrantRequest) (Grant, error) {
	var g Grant
	err := c.do(ctx, http.MethodPost, "/api/v1/grants", req, &g)
	return g, err
}

// GrantFilter selects grants in ListGrants.
type GrantFilter struct {
	States    []string
	Directory string
	User      string
	Group     string
	Limit     int
}

// ListGrants lists grants, newest first.
func (c *Client) ListGrants(ctx context.Context, f GrantFilter) ([]Grant, error) {
	q := url.Values{}
	if len(f.States) > 0 {
		q.Set("state", strings.Join(f.States, ","))
	}
	for k, v := range map[string]string{"directory": f.Directory, "user": f.User, "group": f.Group} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	var out GrantList
	err := c.do(ctx, http.MethodGet, "/api/v1/grants?"+q.Encode(), nil, &out)
	return out.Grants, err
}

// Grant returns one grant.
func (c *Client) Grant(ctx context.Context, id string) (Grant, error) {
	var g Grant
	err := c.do(ctx, http.MethodGet, "/api/v1/grants/"+url.PathEscape(id), nil, &g)
	return g, err
}

// ExtendGrant moves a grant's end.
func (c *Client) ExtendGrant(ctx context.Context, id string, req ExtendRequest) (Grant, error) {
	var g Grant
	err := c.do(ctx, http.MethodPost, "/api/v1/grants/"+url.PathEscape(id)+"/extend", req, &g)
	return g, err
}

// RevokeGrant ends a grant now.
func (c *Client) RevokeGrant(ctx context.Context, id, reason string) (Grant, error) {
	var g Grant
	err := c.do(ctx, http.MethodPost, "/api/v1/grants/"+url.PathEscape(id)+"/revoke", RevokeRequest{Reason: reason}, &g)
	return g, err
}

// AuditEvents lists audit events, newest first.
func (c *Client) AuditEvents(ctx context.Context, grantID string, limit int) (AuditList, error) {
	q := url.Values{}
	if grantID != "" {
		q.Set("grant", grantID)
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	var out AuditList
	err := c.do(ctx, http.MethodGet, "/api/v1/audit?"+q.Encode(), nil, &out)
	return out, err
}

// VerifyAudit checks the audit chain.
func (c *Client) VerifyAudit(ctx context.Context) (VerifyResult, error) {
	var out VerifyResult
	err := c.do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, &out)
	return out, err
}

// VerifyAuditAgainst checks the chain and that the log still holds what
// each signed checkpoint saw.
func (c *Client) VerifyAuditAgainst(ctx context.Context, checkpoints []string) (VerifyResult, error) {
	var out VerifyResult
	err := c.do(ctx, http.MethodPost, "/api/v1/audit/verify", VerifyRequest{Checkpoints: checkpoints}, &out)
	return out, err
}

// SyncStatus reports every directory's mirror.
func (c *Client) SyncStatus(ctx context.Context) ([]SyncStatus, error) {
	var out []SyncStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/sync", nil, &out)
	return out, err
}

// SyncRun syncs now and waits for the result.
func (c *Client) SyncRun(ctx context.Context, req SyncRunRequest) ([]SyncRunResult, error) {
	var out []SyncRunResult
	err := c.do(ctx, http.MethodPost, "/api/v1/sync/run", req, &out)
	return out, err
}

// Drift lists open drift ("" for every directory).
func (c *Client) Drift(ctx context.Context, directory string) ([]Drift, error) {
	var out []Drift
	err := c.do(ctx, http.MethodGet, "/api/v1/drift?"+url.Values{"directory": {directory}}.Encode(), nil, &out)
	return out, err
}

// Baseline shows a group's baseline.
func (c *Client) Baseline(ctx context.Context, directory, group string) (Baseline, error) {
	var out Baseline
	err := c.do(ctx, http.MethodGet, "/api/v1/baseline?"+url.Values{"directory": {directory}, "group": {group}}.Encode(), nil, &out)
	return out, err
}

// AcceptBaseline accepts open drift into the baseline and returns how many members.
func (c *Client) AcceptBaseline(ctx context.Context, req AcceptRequest) (int, error) {
	var out struct {
		Accepted int `json:"accepted"`
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/baseline/accept", req, &out)
	return out.Accepted, err
}

// BreakGlass grants the caller a group at once and opens a review.
func (c *Client) BreakGlass(ctx context.Context, req BreakGlassRequest) (BreakGlassResult, error) {
	var out BreakGlassResult
	err := c.do(ctx, http.MethodPost, "/api/v1/breakglass", req, &out)
	return out, err
}

// Reviews lists break-glass reviews in state ("open", "closed" or "" for all).
func (c *Client) Reviews(ctx context.Context, state string) ([]Review, error) {
	var out ReviewList
	err := c.do(ctx, http.MethodGet, "/api/v1/reviews?state="+url.QueryEscape(state), nil, &out)
	return out.Reviews, err
}

// CloseReview closes a break-glass review.
func (c *Client) CloseReview(ctx context.Context, id string, req CloseReviewRequest) (Review, error) {
	var out Review
	err := c.do(ctx, http.MethodPost, "/api/v1/reviews/"+url.PathEscape(id)+"/close", req, &out)
	return out, err
}

// Whoami returns the caller as jitd sees them.
func (c *Client) Whoami(ctx context.Context) (Whoami, error) {
	var w Whoami
	err := c.do(ctx, http.MethodGet, "/api/v1/whoami", nil, &w)
	return w, err
}

// CreateInvite makes a contractor invite; the token in the answer is shown once.
func (c *Client) CreateInvite(ctx context.Context, req CreateInviteRequest) (CreatedInvite, error) {
	var out CreatedInvite
	err := c.do(ctx, http.MethodPost, "/api/v1/invites", req, &out)
	return out, err
}

// Invites lists invites (an approver's own; everyone's for admins and
// auditors, or one sponsor's).
func (c *Client) Invites(ctx context.Context, sponsor string) ([]Invite, error) {
	var out []Invite
	path := "/api/v1/invites"
	if sponsor != "" {
		path += "?sponsor=" + url.QueryEscape(sponsor)
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// RevokeInvite withdraws an open invite.
func (c *Client) RevokeInvite(ctx context.Context, id, reason string) (Invite, error) {
	var out Invite
	err := c.do(ctx, http.MethodPost, "/api/v1/invites/"+url.PathEscape(id)+"/revoke", RevokeRequest{Reason: reason}, &out)
	return out, err
}

// Onboarding shows what an invite link offers and where its request stands.
func (c *Client) Onboarding(ctx context.Context, token string) (Onboarding, error) {
	var out Onboarding
	err := c.do(ctx, http.MethodGet, "/api/v1/onboarding/"+url.PathEscape(token), nil, &out)
	return out, err
}

// SubmitOnboarding uses an invite link: the contractor's form.
func (c *Client) SubmitOnboarding(ctx context.Context, token string, req SubmitOnboardingRequest) (Onboarding, error) {
	var out Onboarding
	err := c.do(ctx, http.MethodPost, "/api/v1/onboarding/"+url.PathEscape(token), req, &out)
	return out, err
}

// OnboardingPassword fetches the approved account's initial password, once.
func (c *Client) OnboardingPassword(ctx context.Context, token string) (InitialPassword, error) {
	var out InitialPassword
	err := c.do(ctx, http.MethodPost, "/api/v1/onboarding/"+url.PathEscape(token)+"/password", nil, &out)
	return out, err
}
