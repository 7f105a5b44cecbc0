package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/store"
)

// Request is an access request as the API shows it.
type Request struct {
	ID        string               `json:"id"`
	Requester string               `json:"requester"`
	Directory string               `json:"directory"`
	Group     string               `json:"group"`
	Duration  string               `json:"duration"`
	Reason    string               `json:"reason"`
	Ticket    string               `json:"ticket,omitempty"`
	State     string               `json:"state"`
	Rule      string               `json:"rule,omitempty"`
	Steps     []store.ApprovalStep `json:"steps"`
	Step      int                  `json:"step"` // steps done so far
	CreatedAt time.Time            `json:"created_at"`
	ExpiresAt time.Time            `json:"expires_at"`
	DecidedAt time.Time            `json:"decided_at,omitzero"`
	DecidedBy string               `json:"decided_by,omitempty"`
	Detail    string               `json:"detail,omitempty"`
	GrantID   string               `json:"grant_id,omitempty"`
	// Extends is the grant an extension request moves; BreakGlass marks
	// self-granted emergency access.
	Extends    string `json:"extends,omitempty"`
	BreakGlass bool   `json:"breakglass,omitempty"`
	// StartsAt is when the access begins, when asked for later.
	StartsAt time.Time `json:"starts_at,omitzero"`
	// Risk is the score policy saw when the request was made (absent
	// without a risk source).
	Risk *float64 `json:"risk,omitempty"`
	// Onboarding is a contractor's request for an account (through an
	// invite) instead of a group; AccountID is the account it made.
	Onboarding *store.Onboarding `json:"onboarding,omitempty"`
	AccountID  string            `json:"account_id,omitempty"`
	// Context is what deciders need to know of the requester now (on GET
	// of one pending request for a group).
	Context   *RequestContext `json:"context,omitempty"`
	Approvals []Approval      `json:"approvals"`
}

// RequestContext is the requester's standing as a request is decided:
// their directory groups, their live grants, and what separation of duties
// says.
type RequestContext struct {
	Groups     []string      `json:"groups"`
	Live       []ContextLive `json:"live"`
	Separation []string      `json:"separation"`
	Conflict   bool          `json:"conflict"`
}

// ContextLive is one of the requester's live grants.
type ContextLive struct {
	ID        string    `json:"id"`
	Group     string    `json:"group"`
	State     string    `json:"state"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Approval is one decision on a request.
type Approval struct {
	Approver string    `json:"approver"`
	Step     int       `json:"step"`
	Decision string    `json:"decision"`
	Comment  string    `json:"comment,omitempty"`
	At       time.Time `json:"at"`
}

func requestJSON(r store.Request, as []store.Approval) Request {
	out := Request{ID: r.ID, Requester: r.Requester, Directory: r.Directory, Group: r.Group, Duration: r.Duration.String(), Reason: r.Reason,
		Ticket: r.Ticket, State: string(r.State), Rule: r.Rule, Steps: r.Steps, Step: r.Step, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		DecidedAt: r.DecidedAt, DecidedBy: r.DecidedBy, Detail: r.Detail, GrantID: r.GrantID, Extends: r.Extends, BreakGlass: r.BreakGlass, StartsAt: r.StartsAt, Risk: r.Risk,
		Onboarding: r.Onboarding, AccountID: r.AccountID, Approvals: []Approval{}}
	if out.Steps == nil {
		out.Steps = []store.ApprovalStep{}
	}
	for _, a := range as {
		out.Approvals = append(out.Approvals, Approval{Approver: a.Approver, Step: a.Step, Decision: a.Decision, Comment: a.Comment, At: a.At})
	}
	return out
}

// CreateRequestRequest asks for access for the caller, or, with Extends, to
// extend one of the caller's active grants by For (Group may then be empty).
type CreateRequestRequest struct {
	Directory string `json:"directory,omitempty"`
	Group     string `json:"group,omitempty"`
	For       string `json:"for"`
	Reason    string `json:"reason"`
	Ticket    string `json:"ticket,omitempty"`
	Extends   string `json:"extends,omitempty"`
	// StartsAt asks for the access from a time in the future.
	StartsAt time.Time `json:"starts_at,omitzero"`
}

// DecisionRequest approves (comment optional) or denies (reason required).
type DecisionRequest struct {
	Comment string `json:"comment,omitempty"`
}

// RequestList is a page of requests, newest first.
type RequestList struct {
	Requests []Request `json:"requests"`
}

func (s *Server) createRequest(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req CreateRequestRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	d, err := parseFor(req.For)
	if err != nil {
		return err
	}
	if req.Directory == "" && req.Extends == "" {
		req.Directory = s.defaultDirectory
	}
	q, err := s.requests.Create(r.Context(), request.CreateRequest{Requester: p.Name, Directory: req.Directory, Group: req.Group,
		Duration: d, Reason: req.Reason, Ticket: req.Ticket, Extends: req.Extends, StartsAt: req.StartsAt, MFA: p.MFA})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, requestJSON(q, nil))
	return nil
}

// visible reports whether p may read r: their own, or one they may decide
// (decide is p's Decider), unless their role reads everything.
func visible(ctx context.Context, p auth.Principal, r store.Request, decide func(context.Context, store.Request) error) bool {
	if auth.SeesAll(p.Role) || strings.EqualFold(r.Requester, p.Name) {
		return true
	}
	if r.Onboarding != nil && strings.EqualFold(r.Onboarding.Sponsor, p.Name) {
		return true // a sponsor follows their contractor's request
	}
	return auth.Allowed(p.Role, auth.RequestDecide) && decide(ctx, r) == nil
}

func (s *Server) listRequests(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	f := store.RequestFilter{Directory: q.Get("directory")}
	var err error
	if f.Limit, f.Offset, err = page(q, 1000, 1000); err != nil {
		return err
	}
	for _, st := range q["state"] {
		for _, one := range strings.Split(st, ",") {
			if !store.RequestState(one).Valid() {
				return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: fmt.Sprintf("unknown request state %q (one of %v)", one, store.RequestStates)}
			}
			f.States = append(f.States, store.RequestState(one))
		}
	}
	mine, waiting := q.Get("mine") == "true", q.Get("pending_my_approval") == "true"
	if mine {
		f.Requester = p.Name
	}
	if waiting {
		f.States = []store.RequestState{store.RequestPending}
	}
	rs, err := s.store.Requests(r.Context(), f)
	if err != nil {
		return err
	}
	out := RequestList{Requests: []Request{}}
	decide := s.requests.Decider(p.Name)
	for _, q := range rs {
		if waiting && decide(r.Context(), q) != nil {
			continue
		}
		if !visible(r.Context(), p, q, decide) {
			continue
		}
		out.Requests = append(out.Requests, requestJSON(q, nil))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getRequest(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q, err := s.requests.Get(r.Context(), r.PathValue("id"))
	if err == nil && !visible(r.Context(), p, q, s.requests.Decider(p.Name)) {
		err = request.ErrNotFound // another requester's request is not shown, nor said to exist
	}
	if err != nil {
		return err
	}
	as, err := s.store.Approvals(r.Context(), q.ID)
	if err != nil {
		return err
	}
	out := requestJSON(q, as)
	if q.State == store.RequestPending && q.Group != "" && q.Onboarding == nil {
		if out.Context, err = s.requestContext(r.Context(), q); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// requestContext is what a decider needs to know of q's requester now.
func (s *Server) requestContext(ctx context.Context, q store.Request) (*RequestContext, error) {
	in, err := request.Input(ctx, s.store, s.clock.Now(), q.Directory, q.Requester)
	if errors.Is(err, request.ErrInvalid) {
		return nil, nil // gone from the mirror: nothing to say
	}
	if err != nil {
		return nil, err
	}
	out := &RequestContext{Groups: in.Groups, Live: []ContextLive{}, Separation: []string{}}
	live, err := s.store.Grants(ctx, store.GrantFilter{Directory: q.Directory, UserName: q.Requester, States: grant.LiveStates})
	if err != nil {
		return nil, err
	}
	for _, g := range live {
		out.Live = append(out.Live, ContextLive{ID: g.ID, Group: g.GroupName, State: string(g.State), ExpiresAt: g.ExpiresAt})
	}
	in.Group = q.Group
	if pol := s.policyInForce(); pol != nil {
		sep, refused := pol.Separate(in)
		out.Separation, out.Conflict = append(out.Separation, sep...), refused
	}
	return out, nil
}

func (s *Server) decideRequest(approve bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		var req DecisionRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		decide := s.requests.Deny
		if approve {
			decide = s.requests.Approve
		}
		q, err := decide(r.Context(), r.PathValue("id"), p.Name, req.Comment)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, requestJSON(q, nil))
		return nil
	}
}

func (s *Server) cancelRequest(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q, err := s.requests.Cancel(r.Context(), r.PathValue("id"), p.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, requestJSON(q, nil))
	return nil
}

// CreateTokenRequest makes an API token; for requester and approver
// tokens, name is the person's login. Expires ("90d", "12h") is optional.
type CreateTokenRequest struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Expires string `json:"expires,omitempty"`
	// System makes a token for a system (a SCIM client, automation)
	// instead of a person: its name need not be a login, and it acts as
	// system:<name>. SCIM tokens always are.
	System bool `json:"system,omitempty"`
}

// CreatedToken is a new token, shown once.
type CreatedToken struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Kind      string    `json:"kind"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// TokenInfo describes a token, never its secret.
type TokenInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Kind      string    `json:"kind"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req CreateTokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Name) == "" {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "name is required (for requester and approver tokens, the person's login)"}
	}
	if bad := strings.IndexFunc(req.Name, func(r rune) bool { return unicode.IsControl(r) || !unicode.IsPrint(r) }); bad >= 0 || len(req.Name) > 128 {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "name must be at most 128 printable characters, without control characters"}
	}
	now := s.clock.Now()
	var expires time.Time
	if req.Expires != "" {
		d, err := parseFor(req.Expires)
		if err != nil {
			return err
		}
		if d <= 0 {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: fmt.Sprintf("expires %q is not in the future: give how long the token lasts, such as 90d", req.Expires)}
		}
		expires = now.Add(d)
	}
	kind := store.TokenPerson
	if req.System || req.Role == auth.RoleSCIM {
		kind = store.TokenSystem
	}
	if kind == store.TokenPerson {
		// A person's token is named by their login, and only an enabled
		// user of a directory is one.
		if strings.HasPrefix(req.Name, auth.SystemPrefix) {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: fmt.Sprintf("a person's login cannot start with %q", auth.SystemPrefix)}
		}
		if _, enabled, _, err := s.store.Person(r.Context(), req.Name); err != nil {
			return err
		} else if !enabled {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: fmt.Sprintf("%q is not an enabled user of any directory (as of the last sync): a token for a person is named by their login; for a SCIM client or automation make a system token (--system)", req.Name)}
		}
	}
	tok, id, err := auth.NewExpiringToken(r.Context(), s.store, p.Name, req.Name, req.Role, kind, now, expires)
	if errors.Is(err, auth.ErrUnknownRole) || errors.Is(err, auth.ErrInvalidToken) {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: err.Error()}
	}
	if errors.Is(err, store.ErrConflict) {
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: fmt.Sprintf("a token named %q exists", req.Name)}
	}
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, CreatedToken{ID: id, Name: req.Name, Role: req.Role, Kind: kind, Token: tok, ExpiresAt: expires})
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	ts, err := s.store.Tokens(r.Context())
	if err != nil {
		return err
	}
	out := []TokenInfo{}
	for _, t := range ts {
		out = append(out, TokenInfo{ID: t.ID, Name: t.Name, Role: t.Role, Kind: t.Kind, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, now := r.PathValue("id"), s.clock.Now()
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		if err := tx.RevokeToken(id, now); err != nil {
			return err
		}
		_, err := tx.AppendAudit(audit.Event{Time: now, Actor: p.Name, Action: audit.TokenRevoked, Detail: "token " + id})
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf("no token %q", id)}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"revoked": id})
	return nil
}
