package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jitd/jitd/core/account"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/config"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/invite"
	"github.com/jitd/jitd/core/notify"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/scim"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/sync/mirror"
	"github.com/jitd/jitd/sync/reconcile"
)

// Readiness reports whether the daemon can do its job; nil means ready.
type Readiness func(ctx context.Context) map[string]error

// Server serves the API.
type Server struct {
	store     store.Store
	mirror    *mirror.Mirror
	reconcile *reconcile.Reconciler
	grants    *grant.Manager
	accounts  *account.Manager
	policy    *policy.Policy
	clock     clock.Clock
	requests  *request.Manager
	invites   *invite.Manager
	links     *notify.Links
	oidc      *auth.OIDC

	slackSecrets     [][]byte
	slackHTTP        *http.Client
	defaultDirectory string
	log              *slog.Logger
	ready            Readiness
	metrics          http.Handler
	mux              *http.ServeMux
	guarded          http.Handler // mux behind the guard on unauthenticated requests
	goneAudited      sync.Map     // token ids refused (person gone) and audited in this run
	auditKeys        *audit.Keys
	routes           []string // "METHOD /path" of every route, for the OpenAPI check
}

// Deps are what the API serves from.
type Deps struct {
	Store     store.Store
	Grants    *grant.Manager
	Accounts  *account.Manager
	Mirror    *mirror.Mirror
	Reconcile *reconcile.Reconciler
	Policy    *policy.Policy
	Requests  *request.Manager
	// Invites, when set, serves contractor invites and onboarding.
	Invites *invite.Manager
	// Links verifies action links and Slack buttons (nil: not served);
	// SlackSecrets verify Slack's callbacks, and SlackHTTP posts the
	// outcome back to Slack.
	// OIDC, when set, accepts ID tokens and browser sessions.
	OIDC         *auth.OIDC
	Links        *notify.Links
	SlackSecrets [][]byte
	SlackHTTP    *http.Client
	// DefaultDirectory is used when a request names none (set when only
	// one directory is configured).
	DefaultDirectory string
	// SCIM, when set, is served under /scim/v2 to tokens of the scim role.
	SCIM    *scim.Server
	Metrics *prometheus.Registry
	Ready   Readiness
	Clock   clock.Clock
	Log     *slog.Logger
	// AuditKeys, when set, verify the keyed chain and signed checkpoints.
	AuditKeys *audit.Keys
	// UnauthenticatedPerAddr bounds the requests one client address may
	// have in flight before they show credentials (default 64); health
	// checks and signed-in requests are not counted.
	UnauthenticatedPerAddr int
}

// NewServer returns the API handler.
func NewServer(d Deps) *Server {
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	s := &Server{store: d.Store, grants: d.Grants, accounts: d.Accounts, mirror: d.Mirror, reconcile: d.Reconcile, policy: d.Policy, clock: d.Clock, requests: d.Requests, invites: d.Invites, defaultDirectory: d.DefaultDirectory,
		links: d.Links, oidc: d.OIDC, slackSecrets: d.SlackSecrets, slackHTTP: d.SlackHTTP,
		log: d.Log, ready: d.Ready, mux: http.NewServeMux(), metrics: promhttp.HandlerFor(d.Metrics, promhttp.HandlerOpts{Registry: d.Metrics})}
	if d.UnauthenticatedPerAddr <= 0 {
		d.UnauthenticatedPerAddr = 64
	}
	s.guarded = newGuard(d.UnauthenticatedPerAddr).guarded(s.mux)
	s.auditKeys = d.AuditKeys
	s.route("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.route("GET /readyz", s.readyz)
	if d.OIDC != nil && d.OIDC.BrowserLogin() {
		s.route("GET /auth/login", d.OIDC.Login)
		s.route("GET /auth/callback", s.authCallback)
		s.route("POST /auth/logout", s.logout)
	}
	s.handle("GET /api/v1/whoami", "", s.whoami)
	if d.Links != nil {
		s.route("GET /act/{token}", s.showAction)
		s.route("POST /act/{token}", s.doAction)
		if len(d.SlackSecrets) > 0 {
			s.route("POST /slack/actions", s.slackActions)
		}
	}
	s.route("GET /metrics", s.metrics.ServeHTTP)
	s.handle("POST /api/v1/grants", auth.GrantWrite, s.idempotent(s.addGrant, nil))
	s.handle("GET /api/v1/grants", auth.GrantRead, s.listGrants)
	s.handle("GET /api/v1/grants/{id}", auth.GrantRead, s.getGrant)
	s.handle("POST /api/v1/grants/{id}/extend", auth.GrantWrite, s.extendGrant)
	s.handle("POST /api/v1/grants/{id}/revoke", auth.RequestCreate, s.revokeGrant) // requesters: their own grants only
	s.handle("GET /api/v1/audit", auth.AuditRead, s.listAudit)
	s.handle("GET /api/v1/audit/verify", auth.AuditRead, s.verifyAudit)
	s.handle("POST /api/v1/audit/verify", auth.AuditRead, s.verifyAudit)
	s.handle("GET /api/v1/sync", auth.SyncRead, s.syncStatus)
	s.handle("POST /api/v1/sync/run", auth.SyncWrite, s.syncRun)
	s.handle("GET /api/v1/drift", auth.SyncRead, s.listDrift)
	s.handle("GET /api/v1/baseline", auth.SyncRead, s.showBaseline)
	s.handle("POST /api/v1/baseline/accept", auth.SyncWrite, s.acceptBaseline)
	s.handle("POST /api/v1/policy/test", auth.PolicyRead, s.testPolicy)
	s.handle("POST /api/v1/requests", auth.RequestCreate, s.idempotent(s.createRequest, nil))
	s.handle("GET /api/v1/requests", auth.RequestRead, s.listRequests)
	s.handle("GET /api/v1/requests/{id}", auth.RequestRead, s.getRequest)
	s.handle("POST /api/v1/requests/{id}/approve", auth.RequestDecide, s.decideRequest(true))
	s.handle("POST /api/v1/requests/{id}/deny", auth.RequestDecide, s.decideRequest(false))
	s.handle("POST /api/v1/requests/{id}/cancel", auth.RequestCreate, s.cancelRequest)
	s.handle("POST /api/v1/breakglass", auth.RequestCreate, s.idempotent(s.breakGlass, nil))
	s.handle("GET /api/v1/reviews", auth.ReviewRead, s.listReviews)
	s.handle("POST /api/v1/reviews/{id}/close", auth.ReviewClose, s.closeReview)
	if d.Invites != nil {
		s.handle("POST /api/v1/invites", auth.InviteWrite, s.idempotent(s.createInvite, redactToken))
		s.handle("GET /api/v1/invites", auth.InviteRead, s.listInvites)
		s.handle("POST /api/v1/invites/{id}/revoke", auth.InviteWrite, s.revokeInvite)
		// No sign-in here: each client address gets 1 call a second, 20 at once.
		lim := newLimiter(1, 20, s.clock.Now)
		s.route("GET /api/v1/onboarding/{token}", lim.limited(s.showOnboarding))
		s.route("POST /api/v1/onboarding/{token}", lim.limited(s.submitOnboarding))
		s.route("POST /api/v1/onboarding/{token}/password", lim.limited(s.onboardingPassword))
	}
	s.handle("POST /api/v1/tokens", auth.TokenWrite, s.createToken)
	s.handle("GET /api/v1/tokens", auth.TokenWrite, s.listTokens)
	s.handle("POST /api/v1/tokens/{id}/revoke", auth.TokenWrite, s.revokeToken)
	s.handle("POST /api/v1/accounts", auth.AccountWrite, s.idempotent(s.createAccount, redactPassword))
	s.handle("GET /api/v1/accounts", auth.AccountRead, s.listAccounts)
	s.handle("GET /api/v1/accounts/{id}", auth.AccountRead, s.getAccount)
	s.handle("POST /api/v1/accounts/{id}/extend", auth.AccountWrite, s.extendAccount)
	s.handle("POST /api/v1/accounts/{id}/disable", auth.AccountWrite, s.endAccount(false))
	s.handle("POST /api/v1/accounts/{id}/delete", auth.AccountWrite, s.endAccount(true))
	if d.SCIM != nil {
		s.mountSCIM(d.SCIM)
	}
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.guarded.ServeHTTP(w, r) }

type handlerFunc func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

func (s *Server) route(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, h)
}

// Routes lists every route as "METHOD /path".
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

// handle registers a route that requires a token whose role has perm.
func (s *Server) handle(pattern string, perm auth.Permission, h handlerFunc) {
	s.route(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			var apiErr *Error
			if !errors.As(err, &apiErr) && errors.Is(err, auth.ErrUnauthenticated) {
				apiErr = &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: strings.TrimPrefix(err.Error(), auth.ErrUnauthenticated.Error()+": ")}
			}
			if apiErr == nil {
				s.fail(w, r, err)
				return
			}
			dropConn(w)
			writeErr(w, apiErr)
			return
		}
		if perm != "" && !auth.Allowed(p.Role, perm) {
			writeErr(w, &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: fmt.Sprintf("role %s may not %s", p.Role, perm)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := h(w, r, p); err != nil {
			s.fail(w, r, err)
		}
	})
}

// authenticate finds the caller: an API token (jitd_...) or, with OIDC, an
// ID token as the bearer or a browser session cookie. A cookie never
// authorises a cross-site write: unsafe methods must come from this origin.
func (s *Server) authenticate(r *http.Request) (p auth.Principal, err error) {
	defer func() {
		if err == nil {
			authenticated(r)
		}
	}()
	now := s.clock.Now()
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		bearer = strings.TrimSpace(bearer)
		if strings.HasPrefix(bearer, "jitd_") || s.oidc == nil {
			p, err := auth.Authenticate(r.Context(), s.store, bearer, now)
			var gone *auth.PersonGoneError
			if errors.As(err, &gone) {
				s.auditGone(r.Context(), gone, now)
				return auth.Principal{}, err
			}
			if errors.Is(err, auth.ErrUnauthenticated) {
				return p, fmt.Errorf("%w: invalid API token", auth.ErrUnauthenticated)
			}
			return p, err
		}
		return s.oidc.Authenticate(r.Context(), bearer)
	}
	if c, err := r.Cookie(auth.SessionCookie); err == nil && s.oidc != nil {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !sameOrigin(r) {
			return auth.Principal{}, &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "a browser session cannot write from another site (Origin does not match)"}
		}
		return s.oidc.Session(r.Context(), c.Value)
	}
	msg := "an API token is required: Authorization: Bearer <token> (set JITD_TOKEN for the CLI)"
	if s.oidc != nil {
		msg = "sign in: Authorization: Bearer <API token or ID token>, or a browser session from /auth/login"
	}
	return auth.Principal{}, fmt.Errorf("%w: %s", auth.ErrUnauthenticated, msg)
}

// auditGone records, once per token and run, that a person's token was
// refused because the directory disabled or removed them.
func (s *Server) auditGone(ctx context.Context, gone *auth.PersonGoneError, now time.Time) {
	if _, seen := s.goneAudited.LoadOrStore(gone.TokenID, true); seen {
		return
	}
	_, err := store.Append(context.WithoutCancel(ctx), s.store, audit.Event{Time: now, Actor: gone.Login, Action: audit.AuthRefused, User: gone.Login,
		Detail: fmt.Sprintf("token %s refused: %s %s", gone.TokenID, gone.Login, gone.Why)})
	if err != nil {
		s.log.Error("audit a refused token", "token_id", gone.TokenID, "user", gone.Login, "err", err)
	}
}

// sameOrigin reports whether a browser request comes from this server's own
// pages (Sec-Fetch-Site, or else Origin naming this host).
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	o, err := url.Parse(r.Header.Get("Origin"))
	return err == nil && o.Host != "" && o.Host == r.Host
}

// maxBody bounds every request body.
const maxBody = 1 << 20

// sentinels maps the core packages' errors to responses. A fixed message
// replaces the error's text (not-found answers never echo what was asked).
var sentinels = []struct {
	err     error
	status  int
	code    string
	message string
}{
	{grant.ErrInvalid, http.StatusBadRequest, CodeInvalid, ""},
	{grant.ErrNotFound, http.StatusNotFound, CodeNotFound, "no such grant"},
	{grant.ErrConflict, http.StatusConflict, CodeConflict, ""},
	{grant.ErrDirectory, http.StatusBadGateway, CodeDirectory, ""},
	{account.ErrInvalid, http.StatusBadRequest, CodeInvalid, ""},
	{account.ErrNotFound, http.StatusNotFound, CodeNotFound, "no such account"},
	{account.ErrConflict, http.StatusConflict, CodeConflict, ""},
	{account.ErrDirectory, http.StatusBadGateway, CodeDirectory, ""},
	{request.ErrInvalid, http.StatusBadRequest, CodeInvalid, ""},
	{request.ErrNotFound, http.StatusNotFound, CodeNotFound, "no such request"},
	{request.ErrForbidden, http.StatusForbidden, CodeForbidden, ""},
	{request.ErrConflict, http.StatusConflict, CodeConflict, ""},
	{invite.ErrInvalid, http.StatusBadRequest, CodeInvalid, ""},
	{invite.ErrNotFound, http.StatusNotFound, CodeNotFound, ""},
	{invite.ErrGone, http.StatusGone, CodeGone, ""},
}

// fail maps an error to a response; unexpected errors are logged, not shown.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		for _, m := range sentinels {
			if errors.Is(err, m.err) {
				msg := m.message
				if msg == "" {
					msg = strings.TrimPrefix(err.Error(), m.err.Error()+": ")
				}
				apiErr = &Error{Status: m.status, Code: m.code, Message: msg}
				break
			}
		}
	}
	if apiErr == nil {
		s.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		apiErr = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error; see the daemon's log"}
	}
	writeErr(w, apiErr)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, e *Error) {
	p := *e
	p.Type, p.Title = "urn:jitd:problem:"+p.Code, problemTitles[p.Code]
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: fmt.Sprintf("the request body is over %d bytes", maxBody)}
		}
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "invalid JSON body: " + err.Error()}
	}
	if dec.More() {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "invalid JSON body: more than one JSON value"}
	}
	return nil
}

func parseFor(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := config.ParseDuration(s)
	if err != nil {
		return 0, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "for: " + err.Error()}
	}
	if d == 0 {
		return 0, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "for: duration must be positive"}
	}
	return d, nil
}

func (s *Server) addGrant(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req AddGrantRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	d, err := parseFor(req.For)
	if err != nil {
		return err
	}
	g, err := s.grants.Add(r.Context(), grant.AddRequest{Directory: req.Directory, User: req.User, Group: req.Group,
		Duration: d, Until: req.Until, Reason: req.Reason, Actor: p.Name})
	if err != nil && errors.Is(err, grant.ErrDirectory) && g.ID != "" {
		// Recorded as apply_failed: say so, with the grant for reference.
		return &Error{Status: http.StatusBadGateway, Code: CodeDirectory, Message: fmt.Sprintf("grant %s recorded as apply_failed: %v", g.ID, strings.TrimPrefix(err.Error(), grant.ErrDirectory.Error()+": "))}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, grantJSON(g))
	return nil
}

func (s *Server) listGrants(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	q := r.URL.Query()
	f := store.GrantFilter{Directory: q.Get("directory"), UserName: q.Get("user"), GroupName: q.Get("group"), Limit: 1000}
	for _, st := range q["state"] {
		for _, one := range strings.Split(st, ",") {
			if !store.State(one).Valid() {
				return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: fmt.Sprintf("unknown state %q (one of %v)", one, store.States)}
			}
			f.States = append(f.States, store.State(one))
		}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 10000 {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "limit must be between 1 and 10000"}
		}
		f.Limit = n
	}
	gs, err := s.store.Grants(r.Context(), f)
	if err != nil {
		return err
	}
	out := GrantList{Grants: []Grant{}}
	for _, g := range gs {
		out.Grants = append(out.Grants, grantJSON(g))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getGrant(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	g, err := s.store.Grant(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf("no grant %q", r.PathValue("id"))}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, grantJSON(g))
	return nil
}

func (s *Server) extendGrant(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ExtendRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	d, err := parseFor(req.For)
	if err != nil {
		return err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "a reason is required to extend a grant"}
	}
	g, err := s.grants.Extend(r.Context(), r.PathValue("id"), d, req.Until, p.Name, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, grantJSON(g))
	return nil
}

func (s *Server) revokeGrant(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req RevokeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if !auth.Allowed(p.Role, auth.GrantWrite) {
		// People end their own access early; nobody else's.
		g, err := s.store.Grant(r.Context(), r.PathValue("id"))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err != nil || !strings.EqualFold(g.UserName, p.Name) {
			return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "role " + p.Role + " may revoke only its own grants"}
		}
	}
	g, err := s.grants.Revoke(r.Context(), r.PathValue("id"), p.Name, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, grantJSON(g))
	return nil
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	limit := 100
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 10000 {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "limit must be between 1 and 10000"}
		}
		limit = n
	}
	evs, err := s.store.AuditEvents(r.Context(), store.AuditFilter{GrantID: r.URL.Query().Get("grant"), Limit: limit})
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []audit.Event{}
	}
	writeJSON(w, http.StatusOK, AuditList{Events: evs})
	return nil
}

func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	noWriteDeadline(w) // the whole log is read
	var req VerifyRequest
	if r.Method == http.MethodPost {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	res, err := VerifyAudit(r.Context(), s.store, s.auditKeys, req.Checkpoints)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// VerifyAudit checks the whole audit chain in the store: keyed from
// keys.Since on when keys are set, and against each signed checkpoint (the
// log must still hold the event a checkpoint saw, unchanged).
func VerifyAudit(ctx context.Context, st store.Audit, keys *audit.Keys, checkpoints []string) (VerifyResult, error) {
	v := audit.NewVerifier()
	if keys != nil {
		v = audit.NewKeyedVerifier(*keys)
	}
	seen := map[int64]string{} // seq -> hash, of the checkpoints not yet found in the log
	checked := 0
	var problems []audit.Problem
	for i, line := range checkpoints {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if keys == nil {
			return VerifyResult{}, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "this log is not keyed: there are no checkpoints to check"}
		}
		c, err := keys.ParseCheckpoint(line)
		if err != nil {
			problems = append(problems, audit.Problem{Reason: fmt.Sprintf("checkpoint %d: %v", i+1, err)})
			continue
		}
		seen[c.Seq] = c.Hash
		checked++
	}
	err := st.WalkAudit(ctx, func(e audit.Event) error {
		v.Add(e)
		if want, ok := seen[e.Seq]; ok {
			if want != e.Hash {
				problems = append(problems, audit.Problem{Seq: e.Seq, Reason: "differs from what a signed checkpoint saw: the log was rewritten"})
			}
			delete(seen, e.Seq)
		}
		return nil
	})
	if err != nil {
		return VerifyResult{}, err
	}
	for seq := range seen {
		problems = append(problems, audit.Problem{Seq: seq, Reason: "a signed checkpoint saw this event, and the log no longer holds it: rows deleted"})
	}
	seq, hash, err := st.AuditHead(ctx)
	if err != nil {
		return VerifyResult{}, err
	}
	problems = append(v.Finish(seq, hash), problems...)
	res := VerifyResult{OK: len(problems) == 0, Events: v.Count, Problems: problems, Checkpoints: checked}
	if res.Problems == nil {
		res.Problems = []audit.Problem{}
	}
	if keys != nil {
		res.Keyed, res.KeyedSince = true, keys.Since
	}
	return res, nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	checks := map[string]string{}
	status := http.StatusOK
	for name, err := range s.ready(ctx) {
		checks[name] = "ok"
		if err != nil {
			checks[name] = err.Error()
			status = http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, map[string]any{"ready": status == http.StatusOK, "checks": checks})
}

func (s *Server) syncStatus(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	out := []SyncStatus{}
	for _, dir := range s.mirror.Directories() {
		st, err := s.store.SyncState(r.Context(), dir)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		c, err := s.store.MirrorCounts(r.Context(), dir)
		if err != nil {
			return err
		}
		out = append(out, SyncStatus{
			Directory: dir, LastFullAt: st.LastFullAt, LastIncrementalAt: st.LastIncrementalAt, CursorAt: st.CursorAt,
			Incremental: st.Cursor != "", FullSyncs: st.FullSyncs, IncrementalSyncs: st.IncrementalSyncs, CursorExpired: st.CursorExpired,
			Users: c.Users, Groups: c.Groups, Memberships: c.Members, LastError: st.LastError, LastErrorAt: st.LastErrorAt,
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) syncRun(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	noWriteDeadline(w) // a full sync of a large directory takes minutes
	var req SyncRunRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	dirs := s.mirror.Directories()
	if req.Directory != "" {
		if !slices.Contains(dirs, req.Directory) {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: fmt.Sprintf("unknown directory %q (configured: %s)", req.Directory, strings.Join(dirs, ", "))}
		}
		dirs = []string{req.Directory}
	}
	out := []SyncRunResult{}
	for _, dir := range dirs {
		res, err := s.mirror.Sync(r.Context(), dir, req.Full)
		one := SyncRunResult{Directory: dir, Full: res.Full, Reason: res.Reason, Changes: res.Changes, Removed: res.Removed, DurationMS: res.Duration.Milliseconds()}
		if err != nil {
			one.Error = err.Error()
		}
		out = append(out, one)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listDrift(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	ds, err := s.store.Drift(r.Context(), r.URL.Query().Get("directory"))
	if err != nil {
		return err
	}
	out := []Drift{}
	for _, d := range ds {
		out = append(out, Drift{Directory: d.Directory, Group: d.GroupName, User: d.UserName, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) showBaseline(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	dir, name := r.URL.Query().Get("directory"), r.URL.Query().Get("group")
	if dir == "" || name == "" {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "directory and group are required"}
	}
	g, err := s.store.MirrorGroup(r.Context(), dir, name)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf("no group %q in the mirror of %q (has it synced?)", name, dir)}
	}
	if err != nil {
		return err
	}
	ids, recorded, err := s.store.Baseline(r.Context(), dir, g.ID)
	if err != nil {
		return err
	}
	out := Baseline{Directory: dir, Group: name, Recorded: recorded, Members: []string{}}
	for _, id := range ids {
		login := id
		if u, err := s.store.MirrorUserByID(r.Context(), dir, id); err == nil {
			login = u.Login
		}
		out.Members = append(out.Members, login)
	}
	slices.Sort(out.Members)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) acceptBaseline(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req AcceptRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	n, err := s.reconcile.Accept(r.Context(), req.Directory, req.Group, req.User, p.Name, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"accepted": n})
	return nil
}
