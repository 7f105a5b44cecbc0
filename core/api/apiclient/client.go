// Package apiclient is the typed client of jitd's HTTP API, as the CLI and
// tests use it: one method per route, errors as *api.Error.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/jitd/jitd/core/api"
)

// Client is the typed client of the API.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client for the daemon at addr (http://host:port or
// https://host:port; a bare host:port means http).
func New(addr, token string, hc *http.Client) *Client {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(addr, "/"), token: token, http: hc}
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// send makes one call; an answer of 400 or more comes back as *api.Error.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach jitd at %s (is `jitd serve` running? set --addr or JITD_ADDR): %w", c.base, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		var e api.Error
		if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Message == "" {
			return nil, &api.Error{Status: resp.StatusCode, Code: api.CodeInternal, Message: resp.Status}
		}
		e.Status = resp.StatusCode
		return nil, &e
	}
	return resp, nil
}

// AddGrant creates a grant.
func (c *Client) AddGrant(ctx context.Context, req api.AddGrantRequest) (api.Grant, error) {
	var g api.Grant
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
	Offset    int // skip this many (the next page)
}

// ListGrants lists grants, newest first.
func (c *Client) ListGrants(ctx context.Context, f GrantFilter) ([]api.Grant, error) {
	q := url.Values{}
	if len(f.States) > 0 {
		q.Set("state", strings.Join(f.States, ","))
	}
	for k, v := range map[string]string{"directory": f.Directory, "user": f.User, "group": f.Group} {
		if v != "" {
			q.Set(k, v)
		}
	}
	setPage(q, f.Limit, f.Offset)
	var out api.GrantList
	err := c.do(ctx, http.MethodGet, "/api/v1/grants?"+q.Encode(), nil, &out)
	return out.Grants, err
}

// setPage asks for a page of a list: limit (0: the API's default) rows
// after the newest offset.
func setPage(q url.Values, limit, offset int) {
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	if offset > 0 {
		q.Set("offset", fmt.Sprint(offset))
	}
}

// Grant returns one grant.
func (c *Client) Grant(ctx context.Context, id string) (api.Grant, error) {
	var g api.Grant
	err := c.do(ctx, http.MethodGet, "/api/v1/grants/"+url.PathEscape(id), nil, &g)
	return g, err
}

// ExtendGrant moves a grant's end.
func (c *Client) ExtendGrant(ctx context.Context, id string, req api.ExtendRequest) (api.Grant, error) {
	var g api.Grant
	err := c.do(ctx, http.MethodPost, "/api/v1/grants/"+url.PathEscape(id)+"/extend", req, &g)
	return g, err
}

// RevokeGrant ends a grant now.
func (c *Client) RevokeGrant(ctx context.Context, id, reason string) (api.Grant, error) {
	var g api.Grant
	err := c.do(ctx, http.MethodPost, "/api/v1/grants/"+url.PathEscape(id)+"/revoke", api.RevokeRequest{Reason: reason}, &g)
	return g, err
}

// AuditEvents lists audit events, newest first.
func (c *Client) AuditEvents(ctx context.Context, grantID string, limit int) (api.AuditList, error) {
	return c.AuditPage(ctx, grantID, limit, 0)
}

// AuditPage lists audit events older than before (all when 0), newest
// first.
func (c *Client) AuditPage(ctx context.Context, grantID string, limit int, before int64) (api.AuditList, error) {
	q := url.Values{}
	if grantID != "" {
		q.Set("grant", grantID)
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	if before > 0 {
		q.Set("before", fmt.Sprint(before))
	}
	var out api.AuditList
	err := c.do(ctx, http.MethodGet, "/api/v1/audit?"+q.Encode(), nil, &out)
	return out, err
}

// VerifyAudit checks the audit chain.
func (c *Client) VerifyAudit(ctx context.Context) (api.VerifyResult, error) {
	var out api.VerifyResult
	err := c.do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, &out)
	return out, err
}

// VerifyAuditAgainst checks the chain and that the log still holds what
// each signed checkpoint saw.
func (c *Client) VerifyAuditAgainst(ctx context.Context, checkpoints []string) (api.VerifyResult, error) {
	var out api.VerifyResult
	err := c.do(ctx, http.MethodPost, "/api/v1/audit/verify", api.VerifyRequest{Checkpoints: checkpoints}, &out)
	return out, err
}

// SyncStatus reports every directory's mirror.
func (c *Client) SyncStatus(ctx context.Context) ([]api.SyncStatus, error) {
	var out []api.SyncStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/sync", nil, &out)
	return out, err
}

// SyncRun syncs now and waits for the result.
func (c *Client) SyncRun(ctx context.Context, req api.SyncRunRequest) ([]api.SyncRunResult, error) {
	var out []api.SyncRunResult
	err := c.do(ctx, http.MethodPost, "/api/v1/sync/run", req, &out)
	return out, err
}

// Drift lists open drift ("" for every directory).
func (c *Client) Drift(ctx context.Context, directory string) ([]api.Drift, error) {
	var out []api.Drift
	err := c.do(ctx, http.MethodGet, "/api/v1/drift?"+url.Values{"directory": {directory}}.Encode(), nil, &out)
	return out, err
}

// Baseline shows a group's baseline.
func (c *Client) Baseline(ctx context.Context, directory, group string) (api.Baseline, error) {
	var out api.Baseline
	err := c.do(ctx, http.MethodGet, "/api/v1/baseline?"+url.Values{"directory": {directory}, "group": {group}}.Encode(), nil, &out)
	return out, err
}

// AcceptBaseline accepts open drift into the baseline and returns how many members.
func (c *Client) AcceptBaseline(ctx context.Context, req api.AcceptRequest) (int, error) {
	var out struct {
		Accepted int `json:"accepted"`
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/baseline/accept", req, &out)
	return out.Accepted, err
}

// RevertDrift removes open drift from the directory and returns how many
// memberships.
func (c *Client) RevertDrift(ctx context.Context, req api.AcceptRequest) (int, error) {
	var out struct {
		Reverted int `json:"reverted"`
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/drift/revert", req, &out)
	return out.Reverted, err
}

// BreakGlass grants the caller a group at once and opens a review.
func (c *Client) BreakGlass(ctx context.Context, req api.BreakGlassRequest) (api.BreakGlassResult, error) {
	var out api.BreakGlassResult
	err := c.do(ctx, http.MethodPost, "/api/v1/breakglass", req, &out)
	return out, err
}

// Reviews lists break-glass reviews in state ("open", "closed" or "" for all).
func (c *Client) Reviews(ctx context.Context, state string) ([]api.Review, error) {
	var out api.ReviewList
	err := c.do(ctx, http.MethodGet, "/api/v1/reviews?state="+url.QueryEscape(state), nil, &out)
	return out.Reviews, err
}

// CloseReview closes a break-glass review.
func (c *Client) CloseReview(ctx context.Context, id string, req api.CloseReviewRequest) (api.Review, error) {
	var out api.Review
	err := c.do(ctx, http.MethodPost, "/api/v1/reviews/"+url.PathEscape(id)+"/close", req, &out)
	return out, err
}

// CreateCampaign opens an access review campaign.
func (c *Client) CreateCampaign(ctx context.Context, req api.CampaignSpec) (api.Campaign, error) {
	var out api.Campaign
	err := c.do(ctx, http.MethodPost, "/api/v1/campaigns", req, &out)
	return out, err
}

// Campaigns lists campaigns in state ("" for all), newest first.
func (c *Client) Campaigns(ctx context.Context, state string) ([]api.Campaign, error) {
	var out api.CampaignList
	err := c.do(ctx, http.MethodGet, "/api/v1/campaigns?state="+url.QueryEscape(state), nil, &out)
	return out.Campaigns, err
}

// Campaign reads a campaign and a page of its items; q may say mine,
// pending, limit and offset.
func (c *Client) Campaign(ctx context.Context, id string, q url.Values) (api.CampaignDetail, error) {
	var out api.CampaignDetail
	err := c.do(ctx, http.MethodGet, "/api/v1/campaigns/"+url.PathEscape(id)+"?"+q.Encode(), nil, &out)
	return out, err
}

// DecideItem decides one item of a campaign.
func (c *Client) DecideItem(ctx context.Context, id string, seq int, req api.DecideItemRequest) (api.CampaignItem, error) {
	var out api.CampaignItem
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/campaigns/%s/items/%d/decide", url.PathEscape(id), seq), req, &out)
	return out, err
}

// CloseCampaign closes a campaign now.
func (c *Client) CloseCampaign(ctx context.Context, id string) (api.Campaign, error) {
	var out api.Campaign
	err := c.do(ctx, http.MethodPost, "/api/v1/campaigns/"+url.PathEscape(id)+"/close", nil, &out)
	return out, err
}

// Whoami returns the caller as jitd sees them.
func (c *Client) Whoami(ctx context.Context) (api.Whoami, error) {
	var w api.Whoami
	err := c.do(ctx, http.MethodGet, "/api/v1/whoami", nil, &w)
	return w, err
}

// CreateInvite makes a contractor invite; the token in the answer is shown once.
func (c *Client) CreateInvite(ctx context.Context, req api.CreateInviteRequest) (api.CreatedInvite, error) {
	var out api.CreatedInvite
	err := c.do(ctx, http.MethodPost, "/api/v1/invites", req, &out)
	return out, err
}

// Invites lists invites (an approver's own; everyone's for admins and
// auditors, or one sponsor's).
func (c *Client) Invites(ctx context.Context, sponsor string) ([]api.Invite, error) {
	var out []api.Invite
	path := "/api/v1/invites"
	if sponsor != "" {
		path += "?sponsor=" + url.QueryEscape(sponsor)
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// RevokeInvite withdraws an open invite.
func (c *Client) RevokeInvite(ctx context.Context, id, reason string) (api.Invite, error) {
	var out api.Invite
	err := c.do(ctx, http.MethodPost, "/api/v1/invites/"+url.PathEscape(id)+"/revoke", api.RevokeRequest{Reason: reason}, &out)
	return out, err
}

// Onboarding shows what an invite link offers and where its request stands.
func (c *Client) Onboarding(ctx context.Context, token string) (api.Onboarding, error) {
	var out api.Onboarding
	err := c.do(ctx, http.MethodGet, "/api/v1/onboarding/"+url.PathEscape(token), nil, &out)
	return out, err
}

// SubmitOnboarding uses an invite link: the contractor's form.
func (c *Client) SubmitOnboarding(ctx context.Context, token string, req api.SubmitOnboardingRequest) (api.Onboarding, error) {
	var out api.Onboarding
	err := c.do(ctx, http.MethodPost, "/api/v1/onboarding/"+url.PathEscape(token), req, &out)
	return out, err
}

// OnboardingPassword fetches the approved account's initial password, once.
func (c *Client) OnboardingPassword(ctx context.Context, token string) (api.InitialPassword, error) {
	var out api.InitialPassword
	err := c.do(ctx, http.MethodPost, "/api/v1/onboarding/"+url.PathEscape(token)+"/password", nil, &out)
	return out, err
}

// AccountFilter selects accounts to list.
type AccountFilter struct {
	Directory, Sponsor, Login string
	States                    []string
	Limit, Offset             int // a page (0: the API's defaults)
}

// CreateAccount creates an ephemeral account; the initial password in the
// answer is shown this once.
func (c *Client) CreateAccount(ctx context.Context, req api.CreateAccountRequest) (api.CreatedAccount, error) {
	var out api.CreatedAccount
	err := c.do(ctx, http.MethodPost, "/api/v1/accounts", req, &out)
	return out, err
}

// ListAccounts lists accounts, newest first.
func (c *Client) ListAccounts(ctx context.Context, f AccountFilter) ([]api.Account, error) {
	q := url.Values{}
	for k, v := range map[string]string{"directory": f.Directory, "sponsor": f.Sponsor, "login": f.Login} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(f.States) > 0 {
		q.Set("state", strings.Join(f.States, ","))
	}
	setPage(q, f.Limit, f.Offset)
	var out api.AccountList
	err := c.do(ctx, http.MethodGet, "/api/v1/accounts?"+q.Encode(), nil, &out)
	return out.Accounts, err
}

// Account returns one account.
func (c *Client) Account(ctx context.Context, id string) (api.Account, error) {
	var a api.Account
	err := c.do(ctx, http.MethodGet, "/api/v1/accounts/"+url.PathEscape(id), nil, &a)
	return a, err
}

// ExtendAccount moves an account's end date.
func (c *Client) ExtendAccount(ctx context.Context, id string, req api.ExtendAccountRequest) (api.Account, error) {
	var a api.Account
	err := c.do(ctx, http.MethodPost, "/api/v1/accounts/"+url.PathEscape(id)+"/extend", req, &a)
	return a, err
}

// DisableAccount ends an account now; it is deleted after retention.
func (c *Client) DisableAccount(ctx context.Context, id, reason string) (api.Account, error) {
	var a api.Account
	err := c.do(ctx, http.MethodPost, "/api/v1/accounts/"+url.PathEscape(id)+"/disable", api.RevokeRequest{Reason: reason}, &a)
	return a, err
}

// DeleteAccount ends an account now and deletes it without waiting.
func (c *Client) DeleteAccount(ctx context.Context, id, reason string) (api.Account, error) {
	var a api.Account
	err := c.do(ctx, http.MethodPost, "/api/v1/accounts/"+url.PathEscape(id)+"/delete", api.RevokeRequest{Reason: reason}, &a)
	return a, err
}

// TestPolicy asks what the policy would decide, and why.
func (c *Client) TestPolicy(ctx context.Context, req api.PolicyTestRequest) (api.PolicyDecision, error) {
	var out api.PolicyDecision
	err := c.do(ctx, http.MethodPost, "/api/v1/policy/test", req, &out)
	return out, err
}

// Tokens lists the tokens (never their secrets).
func (c *Client) Tokens(ctx context.Context) ([]api.TokenInfo, error) {
	var out []api.TokenInfo
	err := c.do(ctx, http.MethodGet, "/api/v1/tokens", nil, &out)
	return out, err
}

// RevokeToken stops a token from working.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/tokens/"+url.PathEscape(id)+"/revoke", struct{}{}, nil)
}

// CreateRequest asks for access as the caller.
func (c *Client) CreateRequest(ctx context.Context, req api.CreateRequestRequest) (api.Request, error) {
	var out api.Request
	err := c.do(ctx, http.MethodPost, "/api/v1/requests", req, &out)
	return out, err
}

// RequestFilter selects requests to list.
type RequestFilter struct {
	Mine, PendingMyApproval bool
	States                  []string
	Limit, Offset           int // a page (0: the API's defaults)
}

// ListRequests lists the requests the caller may see.
func (c *Client) ListRequests(ctx context.Context, f RequestFilter) ([]api.Request, error) {
	q := url.Values{}
	if f.Mine {
		q.Set("mine", "true")
	}
	if f.PendingMyApproval {
		q.Set("pending_my_approval", "true")
	}
	if len(f.States) > 0 {
		q.Set("state", strings.Join(f.States, ","))
	}
	setPage(q, f.Limit, f.Offset)
	var out api.RequestList
	err := c.do(ctx, http.MethodGet, "/api/v1/requests?"+q.Encode(), nil, &out)
	return out.Requests, err
}

// Request returns one request with its decisions.
func (c *Client) Request(ctx context.Context, id string) (api.Request, error) {
	var out api.Request
	err := c.do(ctx, http.MethodGet, "/api/v1/requests/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Approve approves the request's current step as the caller.
func (c *Client) Approve(ctx context.Context, id, comment string) (api.Request, error) {
	var out api.Request
	err := c.do(ctx, http.MethodPost, "/api/v1/requests/"+url.PathEscape(id)+"/approve", api.DecisionRequest{Comment: comment}, &out)
	return out, err
}

// Deny denies the request as the caller.
func (c *Client) Deny(ctx context.Context, id, reason string) (api.Request, error) {
	var out api.Request
	err := c.do(ctx, http.MethodPost, "/api/v1/requests/"+url.PathEscape(id)+"/deny", api.DecisionRequest{Comment: reason}, &out)
	return out, err
}

// CancelRequest withdraws the caller's pending request.
func (c *Client) CancelRequest(ctx context.Context, id string) (api.Request, error) {
	var out api.Request
	err := c.do(ctx, http.MethodPost, "/api/v1/requests/"+url.PathEscape(id)+"/cancel", struct{}{}, &out)
	return out, err
}

// CreateToken makes an API token (admins only).
func (c *Client) CreateToken(ctx context.Context, req api.CreateTokenRequest) (api.CreatedToken, error) {
	var out api.CreatedToken
	err := c.do(ctx, http.MethodPost, "/api/v1/tokens", req, &out)
	return out, err
}

// Groups lists the JIT-managed groups people may ask for.
func (c *Client) Groups(ctx context.Context) ([]api.ManagedGroup, error) {
	var out api.GroupList
	err := c.do(ctx, http.MethodGet, "/api/v1/groups", nil, &out)
	return out.Groups, err
}

// Report fetches a report (path under /api/v1/reports/) as its raw bytes:
// JSON, CSV or HTML as the query's format says.
func (c *Client) Report(ctx context.Context, name string, q url.Values) ([]byte, error) {
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/reports/"+url.PathEscape(name)+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// AuditKey returns the public key (hex) that signs checkpoints and
// evidence bundles.
func (c *Client) AuditKey(ctx context.Context) (string, error) {
	var out struct {
		PublicKey string `json:"public_key"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/audit/key", nil, &out)
	return out.PublicKey, err
}

// Evidence fetches an evidence bundle (tar.gz) for a period.
func (c *Client) Evidence(ctx context.Context, from, to string) ([]byte, error) {
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/evidence?"+url.Values{"from": {from}, "to": {to}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
