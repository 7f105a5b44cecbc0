package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jitd/jitd/core/account"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/invite"
	"github.com/jitd/jitd/core/notify"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/review"
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
	reviews   *review.Manager
	invites   *invite.Manager
	links     *notify.Links
	oidc      *auth.OIDC
	sessions  *auth.Sessions

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
	// Reviews runs access review campaigns.
	Reviews *review.Manager
	// Invites, when set, serves contractor invites and onboarding.
	Invites *invite.Manager
	// Links verifies action links and Slack buttons (nil: not served);
	// SlackSecrets verify Slack's callbacks, and SlackHTTP posts the
	// outcome back to Slack.
	// OIDC, when set, accepts ID tokens and browser sessions.
	OIDC *auth.OIDC
	// Sessions, when set, accepts browser session cookies (default: the
	// OIDC sign-in's).
	Sessions     *auth.Sessions
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
	s := &Server{store: d.Store, grants: d.Grants, accounts: d.Accounts, mirror: d.Mirror, reconcile: d.Reconcile, policy: d.Policy, clock: d.Clock, requests: d.Requests, reviews: d.Reviews, invites: d.Invites, defaultDirectory: d.DefaultDirectory,
		links: d.Links, oidc: d.OIDC, slackSecrets: d.SlackSecrets, slackHTTP: d.SlackHTTP,
		log: d.Log, ready: d.Ready, mux: http.NewServeMux(), metrics: promhttp.HandlerFor(d.Metrics, promhttp.HandlerOpts{Registry: d.Metrics})}
	if d.UnauthenticatedPerAddr <= 0 {
		d.UnauthenticatedPerAddr = 64
	}
	var reg prometheus.Registerer
	if d.Metrics != nil {
		reg = d.Metrics
	}
	s.guarded = newAccess(newGuard(d.UnauthenticatedPerAddr).guarded(s.mux), d.Log, d.Clock, reg)
	s.auditKeys = d.AuditKeys
	s.sessions = d.Sessions
	if s.sessions == nil && d.OIDC != nil {
		s.sessions = d.OIDC.Sessions()
	}
	s.route("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.route("GET /readyz", s.readyz)
	if d.OIDC != nil && d.OIDC.BrowserLogin() {
		s.route("GET /auth/login", d.OIDC.Login)
		s.route("GET /auth/callback", s.authCallback)
	}
	if s.sessions != nil {
		s.route("POST /auth/logout", s.logout)
	}
	if d.OIDC != nil {
		if cli, ok := d.OIDC.CLI(); ok {
			s.route("GET /auth/cli", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, cli) })
		}
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
	s.handle("GET /api/v1/reports/access", auth.AuditRead, s.accessReport)
	s.handle("GET /api/v1/evidence", auth.AuditRead, s.evidence)
	s.handle("GET /api/v1/audit/key", auth.AuditRead, s.auditKey)
	s.handle("GET /api/v1/reports/lateness", auth.AuditRead, s.latenessReport)
	s.handle("GET /api/v1/reports/breakglass", auth.AuditRead, s.breakGlassReport)
	s.handle("GET /api/v1/reports/accounts-past-end", auth.AuditRead, s.accountsPastEndReport)
	s.handle("GET /api/v1/reports/conflicts", auth.AuditRead, s.conflictsReport)
	s.handle("GET /api/v1/sync", auth.SyncRead, s.syncStatus)
	s.handle("POST /api/v1/sync/run", auth.SyncWrite, s.syncRun)
	s.handle("GET /api/v1/drift", auth.SyncRead, s.listDrift)
	s.handle("GET /api/v1/baseline", auth.SyncRead, s.showBaseline)
	s.handle("POST /api/v1/baseline/accept", auth.SyncWrite, s.acceptBaseline)
	s.handle("POST /api/v1/drift/revert", auth.SyncWrite, s.revertDrift)
	s.handle("POST /api/v1/policy/test", "", s.testPolicy) // requesters: their own request only
	s.handle("GET /api/v1/groups", auth.RequestRead, s.listGroups)
	s.handle("POST /api/v1/requests", auth.RequestCreate, s.idempotent(s.createRequest, nil))
	s.handle("GET /api/v1/requests", auth.RequestRead, s.listRequests)
	s.handle("GET /api/v1/requests/{id}", auth.RequestRead, s.getRequest)
	s.handle("POST /api/v1/requests/{id}/approve", auth.RequestDecide, s.decideRequest(true))
	s.handle("POST /api/v1/requests/{id}/deny", auth.RequestDecide, s.decideRequest(false))
	s.handle("POST /api/v1/requests/{id}/cancel", auth.RequestCreate, s.cancelRequest)
	s.handle("POST /api/v1/breakglass", auth.RequestCreate, s.idempotent(s.breakGlass, nil))
	s.handle("GET /api/v1/reviews", auth.ReviewRead, s.listReviews)
	s.handle("POST /api/v1/reviews/{id}/close", auth.ReviewClose, s.closeReview)
	if d.Reviews != nil {
		s.handle("POST /api/v1/campaigns", auth.CampaignWrite, s.idempotent(s.createCampaign, nil))
		s.handle("GET /api/v1/campaigns", auth.CampaignRead, s.listCampaigns)
		s.handle("GET /api/v1/campaigns/{id}", auth.CampaignRead, s.getCampaign)
		s.handle("POST /api/v1/campaigns/{id}/items/{seq}/decide", auth.CampaignDecide, s.decideItem)
		s.handle("POST /api/v1/campaigns/{id}/close", auth.CampaignWrite, s.closeCampaign)
		s.handle("GET /api/v1/reports/campaign", auth.AuditRead, s.campaignReport)
	}
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
	s.handle("POST /api/v1/accounts/{id}/extend", auth.AccountRead, s.extendAccount)      // sponsors: their contractors' only
	s.handle("POST /api/v1/accounts/{id}/disable", auth.AccountRead, s.endAccount(false)) // sponsors: their contractors' only
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
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		infoOf(r).route = pattern
		h(w, r)
	})
}

// MountPages serves the portal's pages (HTML for people, not part of the
// API document) under /ui/, and sends / there.
func (s *Server) MountPages(h http.Handler) {
	s.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		infoOf(r).route = "/ui/"
		h.ServeHTTP(w, r)
	})
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		infoOf(r).route = "GET /"
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
	})
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
			s.log.Warn("authentication failed", "route", pattern, "remote", r.RemoteAddr, "status", apiErr.Status, "reason", apiErr.Message)
			dropConn(w)
			writeErr(w, apiErr)
			return
		}
		infoOf(r).principal = p.Name
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
