package api_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/demo"
	"github.com/jitd/jitd/core/account"
	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/expiry"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/invite"
	"github.com/jitd/jitd/core/notify"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/review"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/sync/mirror"
	"github.com/jitd/jitd/sync/reconcile"
)

type env struct {
	links  *notify.Links
	srv    *httptest.Server
	tokens map[string]string // role -> token
	sched  *expiry.Scheduler
	clock  *clock.Fake
}

// testRules is the policy of the tests' API.
var testRules = []policy.Rule{{Name: "dba", Match: `request.group == "prod-db-admins"`, Eligible: `requester.login != "carol"`,
	MaxDuration: 4 * time.Hour, Approvals: []policy.Step{{Any: 1, Users: []string{"bob"}}},
	AutoApprove: `context.mfa && request.duration <= duration("30m")`}}

// newEnv starts the API on a demo directory; opts may change its Deps
// before it starts (base is the server's URL).
func newEnv(t *testing.T, opts ...func(d *api.Deps, base string)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	conn, err := demo.New(demo.Config{File: filepath.Join(dir, "d.json"), Seed: "../../fixtures/demo/directory.json"})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	log := slog.New(slog.DiscardHandler)
	dirs := directories.Set{"demo": {Name: "demo", Conn: conn, Groups: map[string]directories.GroupPolicy{"prod-db-admins": {MaxDuration: 8 * time.Hour}}}}
	registry := directories.NewRegistry(dirs, 0)
	reg := prometheus.NewRegistry()
	sched := expiry.New(expiry.Config{}, st, registry, clk, log, expiry.NewMetrics(reg), nil)
	mgr := grant.New(grant.Config{MinDuration: time.Minute, MaxDuration: 30 * 24 * time.Hour}, st, registry, clk, log, sched.Wake)
	ready := func(context.Context) map[string]error { return map[string]error{"store": nil} }
	mir := mirror.New(mirror.Config{}, st, map[string]mirror.Source{"demo": {Conn: conn}}, clk, log, nil)
	rec := reconcile.New(st, mgr, map[string]reconcile.Policy{"demo": {Groups: []string{"prod-db-admins"}}}, clk, log, nil)
	accts := account.New(account.Config{}, st, registry, mgr, clk, log, nil)
	pol, err := policy.Compile(testRules, nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs := request.New(request.Config{BreakGlass: request.BreakGlassConfig{Users: []string{"carol"}, MaxDuration: 30 * time.Minute}}, st, pol, mgr, clk, log)
	links, err := notify.NewLinks([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	invites := invite.New(st, reqs, accts, mgr, dirs, 365*24*time.Hour, clk, log)
	reqs.Onboarder = invites
	reviews := review.New(review.Config{}, st, dirs, mgr, accts, clk, log)
	deps := api.Deps{Store: st, Grants: mgr, Accounts: accts, Mirror: mir, Reconcile: rec, Policy: pol,
		Requests: reqs, Reviews: reviews, Invites: invites, Links: links, SlackSecrets: [][]byte{[]byte("slack-signing")}, DefaultDirectory: "demo", Metrics: reg, Ready: ready, Clock: clk, Log: log}
	srv := httptest.NewUnstartedServer(nil)
	for _, o := range opts {
		o(&deps, "http://"+srv.Listener.Addr().String())
	}
	srv.Config.Handler = api.NewServer(deps)
	srv.Start()
	t.Cleanup(srv.Close)
	e := &env{srv: srv, tokens: map[string]string{}, sched: sched, clock: clk, links: links}
	for _, role := range []string{auth.RoleAdmin, auth.RoleAuditor} {
		tok, err := auth.NewToken(ctx, st, role+"-user", role, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[role] = tok
	}
	// People: requester and approver tokens are named by login.
	for login, role := range map[string]string{"alice": auth.RoleRequester, "bob": auth.RoleApprover, "carol": auth.RoleRequester, "okta": auth.RoleSCIM} {
		tok, err := auth.NewToken(ctx, st, login, role, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[login] = tok
	}

	return e
}

func (e *env) client(token string) *apiclient.Client { return apiclient.New(e.srv.URL, token, nil) }

func status(err error) int {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Status
	}
	if err != nil {
		return -1
	}
	return 200
}

// TestAuthorization_Matrix checks every route against every kind of caller.
func TestAuthorization_Matrix(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.client(e.tokens[auth.RoleAdmin])
	g, err := admin.AddGrant(ctx, api.AddGrantRequest{User: "alice", Group: "prod-db-admins", For: "1h", Reason: "INC-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SyncRun(ctx, api.SyncRunRequest{}); err != nil { // the mirror exists: every cell below is fixed
		t.Fatal(err)
	}
	newAccount := func(login string, sponsor ...string) string {
		sp := "bob"
		if len(sponsor) > 0 {
			sp = sponsor[0]
		}
		a, err := admin.CreateAccount(ctx, api.CreateAccountRequest{Login: login, Sponsor: sp, Until: e.clock.Now().Add(24 * time.Hour), Reason: "contract"})
		if err != nil {
			t.Fatal(err)
		}
		return a.Account.ID
	}
	extendable, disposable, alices := newAccount("c-one"), newAccount("c-two"), newAccount("c-three", "alice")
	forged := e.tokens[auth.RoleAdmin][:len(e.tokens[auth.RoleAdmin])-2] + "xx"
	callers := map[string]string{"none": "", "garbage": "not-a-token", "forged": forged, "auditor": e.tokens[auth.RoleAuditor], "admin": e.tokens[auth.RoleAdmin],
		"requester": e.tokens["alice"], "approver": e.tokens["bob"], "other requester": e.tokens["carol"], "scim client": e.tokens["okta"]}
	alice := e.client(e.tokens["alice"])
	// aliceAsks makes a fresh pending request of alice's, which bob may approve.
	aliceAsks := func() string {
		r, err := alice.CreateRequest(ctx, api.CreateRequestRequest{Group: "prod-db-admins", For: "1h", Reason: "deploy"})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	shown := aliceAsks()
	// aliceHolds makes a fresh grant of alice's.
	aliceHolds := func() string {
		g, err := admin.AddGrant(ctx, api.AddGrantRequest{User: "alice", Group: "prod-db-admins", For: "1h", Reason: "matrix"})
		if err != nil {
			t.Fatal(err)
		}
		return g.ID
	}
	carol := e.client(e.tokens["carol"])
	// carolBreaksGlass opens a fresh review of carol's.
	carolBreaksGlass := func() string {
		res, err := carol.BreakGlass(ctx, api.BreakGlassRequest{Group: "prod-db-admins", For: "10m", Reason: "SEV1"})
		if err != nil {
			t.Fatal(err)
		}
		return res.Review.ID
	}
	// bobInvites makes a fresh invite that bob sponsors.
	bobInvites := func() string {
		c, err := admin.CreateInvite(ctx, api.CreateInviteRequest{Sponsor: "bob", Until: e.clock.Now().Add(30 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return c.Invite.ID
	}
	// staffReview opens a fresh review of the staff group's members, each
	// decided by their manager: bob decides alice's item (item 1), alice
	// carol's; bob, who has no manager, is left to an admin.
	staffSpec := api.CampaignSpec{Name: "staff", Scope: api.CampaignScope{Kind: "members", Groups: []string{"staff"}}, Reviewers: review.Reviewers{Kind: "manager"}}
	staffReview := func() string {
		c, err := admin.CreateCampaign(ctx, staffSpec)
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	reviewed := staffReview()
	ops := map[string]func(c *apiclient.Client) error{
		"campaign create": func(c *apiclient.Client) error { _, err := c.CreateCampaign(ctx, staffSpec); return err },
		"campaign list":   func(c *apiclient.Client) error { _, err := c.Campaigns(ctx, "open"); return err },
		"campaign show":   func(c *apiclient.Client) error { _, err := c.Campaign(ctx, reviewed, nil); return err },
		"campaign decide alice's": func(c *apiclient.Client) error {
			_, err := c.DecideItem(ctx, staffReview(), 1, api.DecideItemRequest{Decision: "keep", Comment: "still on the team"})
			return err
		},
		"campaign close": func(c *apiclient.Client) error { _, err := c.CloseCampaign(ctx, staffReview()); return err },
		"report campaign": func(c *apiclient.Client) error {
			_, err := c.Report(ctx, "campaign", url.Values{"id": {reviewed}, "format": {"csv"}})
			return err
		},
		"grant revoke alice's": func(c *apiclient.Client) error { _, err := c.RevokeGrant(ctx, aliceHolds(), "done early"); return err },
		"breakglass": func(c *apiclient.Client) error {
			_, err := c.BreakGlass(ctx, api.BreakGlassRequest{Group: "prod-db-admins", For: "10m", Reason: "SEV1"})
			return err
		},
		"review list": func(c *apiclient.Client) error { _, err := c.Reviews(ctx, "open"); return err },
		"review close carol's": func(c *apiclient.Client) error {
			_, err := c.CloseReview(ctx, carolBreaksGlass(), api.CloseReviewRequest{Outcome: "justified", Comment: "ok"})
			return err
		},
		"grant add": func(c *apiclient.Client) error {
			_, err := c.AddGrant(ctx, api.AddGrantRequest{User: "bob", Group: "prod-db-admins", For: "1h", Reason: "r"})
			return err
		},
		"grant list": func(c *apiclient.Client) error { _, err := c.ListGrants(ctx, apiclient.GrantFilter{}); return err },
		"grant show": func(c *apiclient.Client) error { _, err := c.Grant(ctx, g.ID); return err },
		"grant extend": func(c *apiclient.Client) error {
			_, err := c.ExtendGrant(ctx, g.ID, api.ExtendRequest{For: "1m", Reason: "r"})
			return err
		},
		"audit list": func(c *apiclient.Client) error { _, err := c.AuditEvents(ctx, "", 10); return err },
		"report access": func(c *apiclient.Client) error {
			_, err := c.Report(ctx, "access", url.Values{"group": {"prod-db-admins"}, "from": {"2026-01-01T00:00:00Z"}, "to": {"2027-01-01T00:00:00Z"}, "format": {"csv"}})
			return err
		},
		"evidence": func(c *apiclient.Client) error {
			_, err := c.Evidence(ctx, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
			return err
		},
		"report conflicts": func(c *apiclient.Client) error {
			_, err := c.Report(ctx, "conflicts", url.Values{"format": {"html"}})
			return err
		},
		"report lateness": func(c *apiclient.Client) error {
			_, err := c.Report(ctx, "lateness", url.Values{"from": {"2026-01-01T00:00:00Z"}, "to": {"2027-01-01T00:00:00Z"}})
			return err
		},
		"audit verify": func(c *apiclient.Client) error { _, err := c.VerifyAudit(ctx); return err },
		"grant revoke": func(c *apiclient.Client) error { _, err := c.RevokeGrant(ctx, "g-none", "r"); return err },
		"sync status":  func(c *apiclient.Client) error { _, err := c.SyncStatus(ctx); return err },
		"sync run":     func(c *apiclient.Client) error { _, err := c.SyncRun(ctx, api.SyncRunRequest{}); return err },
		"drift list":   func(c *apiclient.Client) error { _, err := c.Drift(ctx, ""); return err },
		"baseline show": func(c *apiclient.Client) error {
			_, err := c.Baseline(ctx, "demo", "prod-db-admins")
			return err
		},
		"drift revert": func(c *apiclient.Client) error {
			_, err := c.RevertDrift(ctx, api.AcceptRequest{Directory: "demo", Group: "prod-db-admins", Reason: "r"})
			return err
		},
		"baseline accept": func(c *apiclient.Client) error {
			_, err := c.AcceptBaseline(ctx, api.AcceptRequest{Directory: "demo", Group: "prod-db-admins", Reason: "r"})
			return err
		},
		"account create": func(c *apiclient.Client) error {
			_, err := c.CreateAccount(ctx, api.CreateAccountRequest{Login: "c-new", Sponsor: "bob", Until: e.clock.Now().Add(time.Hour), Reason: "r"})
			return err
		},
		"account list": func(c *apiclient.Client) error { _, err := c.ListAccounts(ctx, apiclient.AccountFilter{}); return err },
		"account show": func(c *apiclient.Client) error { _, err := c.Account(ctx, extendable); return err },
		"account extend": func(c *apiclient.Client) error {
			_, err := c.ExtendAccount(ctx, extendable, api.ExtendAccountRequest{Until: e.clock.Now().Add(48 * time.Hour), Reason: "r"})
			return err
		},
		"account disable":                 func(c *apiclient.Client) error { _, err := c.DisableAccount(ctx, disposable, "r"); return err },
		"account show alice's contractor": func(c *apiclient.Client) error { _, err := c.Account(ctx, alices); return err },
		"account extend alice's contractor": func(c *apiclient.Client) error {
			_, err := c.ExtendAccount(ctx, alices, api.ExtendAccountRequest{Until: e.clock.Now().Add(48 * time.Hour), Reason: "r"})
			return err
		},
		"account delete": func(c *apiclient.Client) error { _, err := c.DeleteAccount(ctx, "a-none", "r"); return err },
		"policy test": func(c *apiclient.Client) error {
			_, err := c.TestPolicy(ctx, api.PolicyTestRequest{Directory: "demo", User: "carol", Group: "prod-db-admins", For: "1h"})
			return err
		},
		"request create": func(c *apiclient.Client) error {
			_, err := c.CreateRequest(ctx, api.CreateRequestRequest{Group: "prod-db-admins", For: "1h", Reason: "r"})
			return err
		},
		"request list":            func(c *apiclient.Client) error { _, err := c.ListRequests(ctx, apiclient.RequestFilter{}); return err },
		"request show alice's":    func(c *apiclient.Client) error { _, err := c.Request(ctx, shown); return err },
		"request approve alice's": func(c *apiclient.Client) error { _, err := c.Approve(ctx, aliceAsks(), ""); return err },
		"request deny alice's":    func(c *apiclient.Client) error { _, err := c.Deny(ctx, aliceAsks(), "no"); return err },
		"request cancel alice's":  func(c *apiclient.Client) error { _, err := c.CancelRequest(ctx, aliceAsks()); return err },
		"token create": func(c *apiclient.Client) error {
			_, err := c.CreateToken(ctx, api.CreateTokenRequest{Name: fmt.Sprint("t-", time.Now().UnixNano()), Role: auth.RoleAuditor, System: true})
			return err
		},
		"token list":   func(c *apiclient.Client) error { _, err := c.Tokens(ctx); return err },
		"token revoke": func(c *apiclient.Client) error { return c.RevokeToken(ctx, "t-none") },
		"whoami":       func(c *apiclient.Client) error { _, err := c.Whoami(ctx); return err },
		"invite create for bob": func(c *apiclient.Client) error {
			_, err := c.CreateInvite(ctx, api.CreateInviteRequest{Sponsor: "bob", Until: e.clock.Now().Add(30 * 24 * time.Hour)})
			return err
		},
		"invite list": func(c *apiclient.Client) error { _, err := c.Invites(ctx, ""); return err },
		"invite revoke bob's": func(c *apiclient.Client) error {
			_, err := c.RevokeInvite(ctx, bobInvites(), "not needed")
			return err
		},
	}
	want := map[string]map[string]int{
		"admin": {"grant add": 200, "grant list": 200, "grant show": 200, "grant extend": 200, "audit list": 200, "audit verify": 200, "grant revoke": 404,
			"report access": 200, "report lateness": 200, "report conflicts": 200, "evidence": 404, // no audit keys here
			"sync status": 200, "sync run": 200, "drift list": 200, "baseline show": 200, "baseline accept": 400, "drift revert": 400,
			"account create": 200, "account list": 200, "account show": 200, "account extend": 200, "account disable": 200, "account delete": 404, "policy test": 200,
			"account show alice's contractor": 200, "account extend alice's contractor": 200,
			// admin-user is nobody in the directory: it cannot request; nor is it an approver policy names.
			"request create": 400, "request list": 200, "request show alice's": 200, "request approve alice's": 403, "request deny alice's": 403,
			"request cancel alice's": 403, "token create": 200, "token list": 200, "token revoke": 404,
			"grant revoke alice's": 200, "breakglass": 400, "review list": 200, "review close carol's": 200, "whoami": 200,
			"invite create for bob": 200, "invite list": 200, "invite revoke bob's": 200,
			"campaign create": 200, "campaign list": 200, "campaign show": 200, "campaign decide alice's": 200, "campaign close": 200, "report campaign": 200},
		"auditor": {"grant add": 403, "grant list": 200, "grant show": 200, "grant extend": 403, "audit list": 200, "audit verify": 200, "grant revoke": 403,
			"report access": 200, "report lateness": 200, "report conflicts": 200, "evidence": 404, // no audit keys here
			"sync status": 200, "sync run": 403, "drift list": 200, "baseline show": 200, "baseline accept": 403, "drift revert": 403,
			"account create": 403, "account list": 200, "account show": 200, "account extend": 403, "account disable": 403, "account delete": 403, "policy test": 200,
			"account show alice's contractor": 200, "account extend alice's contractor": 403,
			"request create": 403, "request list": 200, "request show alice's": 200, "request approve alice's": 403, "request deny alice's": 403,
			"request cancel alice's": 403, "token create": 403, "token list": 403, "token revoke": 403,
			"grant revoke alice's": 403, "breakglass": 403, "review list": 200, "review close carol's": 403, "whoami": 200,
			"invite create for bob": 403, "invite list": 200, "invite revoke bob's": 403,
			"campaign create": 403, "campaign list": 200, "campaign show": 200, "campaign decide alice's": 403, "campaign close": 403, "report campaign": 200},
		// alice ends her own grant early, nobody else's; she may not break glass.
		// She reviews carol's item, never her own.
		"requester": own(map[string]int{"grant list": 200, "grant show": 200, "request create": 200, "request list": 200, "request show alice's": 200, "request cancel alice's": 200,
			"grant revoke alice's": 200, "breakglass": 403, "campaign list": 200, "campaign show": 200}),
		// bob sponsors the contractors: he sees, extends and disables theirs.
		"approver": own(map[string]int{"grant list": 200, "grant show": 404, "account list": 200, "account show": 200, "account extend": 200, "account disable": 200, "account show alice's contractor": 404, "request create": 200, "request list": 200, "request show alice's": 200,
			"request approve alice's": 200, "request deny alice's": 200, "breakglass": 403, "review list": 200, "review close carol's": 200,
			"invite create for bob": 200, "invite list": 200, "invite revoke bob's": 200,
			"campaign list": 200, "campaign show": 200, "campaign decide alice's": 200}),
		// carol may ask, but policy refuses her; she sees no one else's
		// request; she may break glass, and not close her own review.
		"other requester": own(map[string]int{"grant list": 200, "grant show": 404, "policy test": 200, "request create": 400, "request list": 200, "request show alice's": 404, "breakglass": 200,
			"campaign list": 200, "campaign show": 404}),
		// A provisioning client's token serves SCIM and nothing else.
		"scim client": own(map[string]int{}),
	}
	for caller, tok := range callers {
		for op, fn := range ops {
			t.Run(caller+"/"+op, func(t *testing.T) {
				w, ok := want[caller][op]
				if !ok {
					w = http.StatusUnauthorized
				}
				if got := status(fn(e.client(tok))); got != w && !(w == 200 && got == 201) {
					t.Fatalf("status %d, want %d", got, w)
				}
			})
		}
	}
}

// own fills in 403 for every operation a person's token may not do.
func own(allowed map[string]int) map[string]int {
	out := map[string]int{}
	for _, op := range []string{"grant add", "grant list", "grant show", "grant extend", "audit list", "audit verify", "report access", "report lateness", "report conflicts", "evidence", "grant revoke", "sync status",
		"sync run", "drift list", "baseline show", "baseline accept", "drift revert", "account create", "account list", "account show", "account extend",
		"account disable", "account delete", "account show alice's contractor", "account extend alice's contractor", "policy test", "request create", "request list", "request show alice's",
		"request approve alice's", "request deny alice's", "request cancel alice's", "token create", "token list", "token revoke",
		"grant revoke alice's", "breakglass", "review list", "review close carol's", "invite create for bob", "invite list", "invite revoke bob's",
		"campaign create", "campaign list", "campaign show", "campaign decide alice's", "campaign close", "report campaign"} {
		out[op] = http.StatusForbidden
	}
	out["whoami"] = http.StatusOK // anyone signed in
	for op, code := range allowed {
		out[op] = code
	}
	return out
}

func TestAddGrant_BadInputIsA400WithAClearMessage(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.tokens[auth.RoleAdmin])
	ctx := context.Background()
	for name, tc := range map[string]struct {
		req  api.AddGrantRequest
		want string
	}{
		"unknown user":   {api.AddGrantRequest{User: "mallory", Group: "prod-db-admins", For: "1h", Reason: "r"}, `no user "mallory"`},
		"disabled user":  {api.AddGrantRequest{User: "dave", Group: "prod-db-admins", For: "1h", Reason: "r"}, `user "dave" is disabled`},
		"not managed":    {api.AddGrantRequest{User: "alice", Group: "staff", For: "1h", Reason: "r"}, "not JIT-managed"},
		"absurd":         {api.AddGrantRequest{User: "alice", Group: "prod-db-admins", For: "400d", Reason: "r"}, "longer than the maximum 8h0m0s"},
		"bad duration":   {api.AddGrantRequest{User: "alice", Group: "prod-db-admins", For: "two hours", Reason: "r"}, "invalid duration"},
		"negative":       {api.AddGrantRequest{User: "alice", Group: "prod-db-admins", For: "-5m", Reason: "r"}, "negative"},
		"missing reason": {api.AddGrantRequest{User: "alice", Group: "prod-db-admins", For: "1h"}, "reason is required"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.AddGrant(ctx, tc.req)
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, tc.want) {
				t.Fatalf("got %v, want 400 mentioning %q", err, tc.want)
			}
		})
	}
	if gs, _ := c.ListGrants(ctx, apiclient.GrantFilter{}); len(gs) != 0 {
		t.Fatalf("bad requests created %d grants", len(gs))
	}
}

func TestGrantLifecycleOverTheAPI(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.tokens[auth.RoleAdmin])
	ctx := context.Background()
	g, err := c.AddGrant(ctx, api.AddGrantRequest{User: "alice", Group: "prod-db-admins", Until: e.clock.Now().Add(2 * time.Hour), Reason: "INC-9"})
	if err != nil || g.State != "active" || g.CreatedBy != "system:admin-user" {
		t.Fatalf("add: %+v %v", g, err)
	}
	g, err = c.ExtendGrant(ctx, g.ID, api.ExtendRequest{For: "1h", Reason: "more"})
	if err != nil || !g.ExpiresAt.Equal(e.clock.Now().Add(3*time.Hour)) {
		t.Fatalf("extend: %+v %v", g, err)
	}
	active, _ := c.ListGrants(ctx, apiclient.GrantFilter{States: []string{"active"}, User: "alice"})
	if len(active) != 1 {
		t.Fatalf("list active for alice: %d", len(active))
	}
	if _, err := c.ListGrants(ctx, apiclient.GrantFilter{States: []string{"bogus"}}); status(err) != 400 {
		t.Fatalf("unknown state filter: %v", err)
	}
	if _, err := c.RevokeGrant(ctx, g.ID, "done"); err != nil {
		t.Fatal(err)
	}
	e.sched.RunOnce(ctx)
	g, _ = c.Grant(ctx, g.ID)
	if g.State != "revoked" || g.EndReason != "revoked by system:admin-user: done" {
		t.Fatalf("after revoke: %+v", g)
	}
	evs, _ := c.AuditEvents(ctx, g.ID, 100)
	var actions []string
	for _, ev := range evs.Events {
		actions = append(actions, ev.Action)
	}
	if got := fmt.Sprint(actions); got != "[grant.revoked grant.revoking grant.extended grant.active grant.requested]" {
		t.Fatalf("audit: %s", got)
	}
	v, err := c.VerifyAudit(ctx)
	if err != nil || !v.OK || v.Events != 11 { // five grant events, six token.created
		t.Fatalf("verify: %+v %v", v, err)
	}
}

func TestUnknownJSONFieldIsRejected(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/grants", strings.NewReader(`{"user":"alice","group":"prod-db-admins","for":"1h","reason":"r","durration":"2h"}`))
	req.Header.Set("Authorization", "Bearer "+e.tokens[auth.RoleAdmin])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
}

func TestHealthAndMetricsNeedNoToken(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(e.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
}

func TestSyncOverTheAPI(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.tokens[auth.RoleAdmin])
	ctx := context.Background()
	st, err := c.SyncStatus(ctx)
	if err != nil || len(st) != 1 || st[0].FullSyncs != 0 || st[0].Users != 0 {
		t.Fatalf("status before any sync: %+v %v", st, err)
	}
	res, err := c.SyncRun(ctx, api.SyncRunRequest{Directory: "demo"})
	if err != nil || len(res) != 1 || !res[0].Full || res[0].Error != "" {
		t.Fatalf("run: %+v %v", res, err)
	}
	st, _ = c.SyncStatus(ctx)
	if st[0].FullSyncs != 1 || st[0].Users != 6 || st[0].Groups != 5 || st[0].Memberships != 6 {
		t.Fatalf("status after a sync: %+v", st[0])
	}
	if _, err := c.SyncRun(ctx, api.SyncRunRequest{Directory: "nope"}); status(err) != 400 {
		t.Fatalf("unknown directory: %v", err)
	}
}

// policy test reads the requester's groups from the mirror and explains
// the decision rule by rule.
func TestPolicyTestExplainsTheDecision(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(e.tokens[auth.RoleAuditor])
	if _, err := e.client(e.tokens[auth.RoleAdmin]).SyncRun(ctx, api.SyncRunRequest{}); err != nil {
		t.Fatal(err)
	}
	dec, err := c.TestPolicy(ctx, api.PolicyTestRequest{Directory: "demo", User: "carol", Group: "prod-db-admins", For: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if dec.Allowed || dec.Rule != "dba" || !strings.Contains(dec.Reason, "carol is not eligible") || !slices.Contains(dec.Groups, "staff") {
		t.Fatalf("carol: %+v", dec)
	}
	dec, _ = c.TestPolicy(ctx, api.PolicyTestRequest{Directory: "demo", User: "alice", Group: "prod-db-admins", For: "5h"})
	if dec.Allowed || !strings.Contains(dec.Reason, "at most 4h") {
		t.Fatalf("alice for 5h: %+v", dec)
	}
	if _, err := c.TestPolicy(ctx, api.PolicyTestRequest{Directory: "demo", User: "alice", Group: "prod-db-admins"}); status(err) != 400 {
		t.Fatalf("without a duration: %v", err)
	}
}

// A token stops working when it expires or is revoked.
func TestTokensExpireAndCanBeRevoked(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.client(e.tokens[auth.RoleAdmin])
	short, err := admin.CreateToken(ctx, api.CreateTokenRequest{Name: "temp", Role: auth.RoleAuditor, Expires: "1h", System: true})
	if err != nil {
		t.Fatal(err)
	}
	revoked, _ := admin.CreateToken(ctx, api.CreateTokenRequest{Name: "gone", Role: auth.RoleAuditor, System: true})
	for _, tok := range []string{short.Token, revoked.Token} {
		if _, err := e.client(tok).ListGrants(ctx, apiclient.GrantFilter{}); err != nil {
			t.Fatalf("fresh token: %v", err)
		}
	}
	if err := admin.RevokeToken(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client(revoked.Token).ListGrants(ctx, apiclient.GrantFilter{}); status(err) != 401 {
		t.Fatalf("revoked token: %v, want 401", err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.client(short.Token).ListGrants(ctx, apiclient.GrantFilter{}); status(err) != 401 {
		t.Fatalf("expired token: %v, want 401", err)
	}
	list, _ := admin.Tokens(ctx)
	for _, ti := range list {
		if ti.ID == revoked.ID && ti.RevokedAt.IsZero() {
			t.Fatal("the list does not show the revocation")
		}
	}
}

// Making a token is audited with whoever made it, and a bad name or an end
// that is not in the future is refused and changes nothing.
func TestTokens_CreationIsAuditedWithItsMakerAndBadInputIsRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.client(e.tokens[auth.RoleAdmin])
	if _, err := admin.CreateToken(ctx, api.CreateTokenRequest{Name: "ci-bot", Role: auth.RoleAuditor, System: true}); err != nil {
		t.Fatal(err)
	}
	evs, err := admin.AuditEvents(ctx, "", 5)
	if err != nil || len(evs.Events) == 0 || evs.Events[0].Action != "token.created" || evs.Events[0].Actor != "system:admin-user" {
		t.Fatalf("newest audit event: %+v %v; want token.created by system:admin-user", evs.Events, err)
	}
	before, _ := admin.Tokens(ctx)
	for _, req := range []api.CreateTokenRequest{
		{Name: "bell\x07", Role: auth.RoleAuditor, System: true},
		{Name: "two\nlines", Role: auth.RoleAuditor, System: true},
		{Name: strings.Repeat("x", 129), Role: auth.RoleAuditor, System: true},
		{Name: "past", Role: auth.RoleAuditor, Expires: "-1h", System: true},
	} {
		if _, err := admin.CreateToken(ctx, req); status(err) != 400 {
			t.Errorf("token %q expiring %q: %v, want 400", req.Name, req.Expires, err)
		}
	}
	if after, _ := admin.Tokens(ctx); len(after) != len(before) {
		t.Fatalf("refused tokens were made: %d tokens, then %d", len(before), len(after))
	}
}

// A person the directory disables loses the API once sync sees it: their
// token gets 401 (audited once), so they can neither approve nor ask. A
// token for a person must name an enabled user; a system's token acts as
// system:<name>, never as a person, and cannot request or approve.
func TestTokens_APersonDisabledInTheDirectoryLosesTheAPI(t *testing.T) {
	var st store.Store
	e := newEnv(t, func(d *api.Deps, _ string) { st = d.Store })
	ctx := context.Background()
	admin := e.client(e.tokens[auth.RoleAdmin])
	if _, err := admin.SyncRun(ctx, api.SyncRunRequest{}); err != nil {
		t.Fatal(err)
	}
	alice, bob := e.client(e.tokens["alice"]), e.client(e.tokens["bob"])
	rq, err := alice.CreateRequest(ctx, api.CreateRequestRequest{Group: "prod-db-admins", For: "1h", Reason: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	// The directory disables bob; the next sync records it.
	err = st.Update(ctx, func(tx store.Tx) error {
		return tx.UpsertMirrorUser("demo", connectors.User{ID: "6f1c2a4e-0002-4a1b-9c01-000000000002", Login: "bob", Enabled: false}, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Approve(ctx, rq.ID, "ok"); status(err) != 401 || !strings.Contains(err.Error(), "bob is disabled in the directory") {
		t.Fatalf("a disabled approver approves: %v, want 401", err)
	}
	if _, err := bob.CreateRequest(ctx, api.CreateRequestRequest{Group: "prod-db-admins", For: "1h", Reason: "me too"}); status(err) != 401 {
		t.Fatalf("a disabled person asks: %v, want 401", err)
	}
	if r, _ := admin.Request(ctx, rq.ID); r.State != "pending" {
		t.Fatalf("the request is %s after a disabled approver's try", r.State)
	}
	evs, _ := admin.AuditEvents(ctx, "", 100)
	refused := 0
	for _, ev := range evs.Events {
		if ev.Action == "auth.refused" && ev.User == "bob" {
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("%d auth.refused events for bob's two calls, want 1", refused)
	}

	for _, req := range []api.CreateTokenRequest{
		{Name: "dave", Role: auth.RoleRequester},             // disabled in the directory
		{Name: "mallory", Role: auth.RoleApprover},           // no such person
		{Name: "system:x", Role: auth.RoleAdmin},             // passes for a system
		{Name: "ci", Role: auth.RoleRequester, System: true}, // a system cannot ask
		{Name: "ci", Role: auth.RoleApprover, System: true},  // nor approve
	} {
		if _, err := admin.CreateToken(ctx, req); status(err) != 400 {
			t.Errorf("token %+v: %v, want 400", req, err)
		}
	}
	tk, err := admin.CreateToken(ctx, api.CreateTokenRequest{Name: "carol-admin", Role: auth.RoleAdmin, System: true})
	if err != nil || tk.Kind != "system" {
		t.Fatalf("system token: %+v %v", tk, err)
	}
	who, err := e.client(tk.Token).Whoami(ctx)
	if err != nil || who.Name != "system:carol-admin" {
		t.Fatalf("a system token acts as %+v %v, want system:carol-admin", who, err)
	}
	if scim, err := admin.CreateToken(ctx, api.CreateTokenRequest{Name: "entra", Role: auth.RoleSCIM}); err != nil || scim.Kind != "system" {
		t.Fatalf("a scim token: %+v %v, want a system's", scim, err)
	}
}

// A decider sees what the requester holds now and what separation of
// duties says; the request list does not carry it.
func TestGetRequest_TellsTheDeciderTheRequestersStanding(t *testing.T) {
	var reqs *request.Manager
	e := newEnv(t, func(d *api.Deps, _ string) { reqs = d.Requests })
	ctx := context.Background()
	admin, alice, bob := e.client(e.tokens[auth.RoleAdmin]), e.client(e.tokens["alice"]), e.client(e.tokens["bob"])
	if _, err := admin.SyncRun(ctx, api.SyncRunRequest{}); err != nil {
		t.Fatal(err)
	}
	q, err := alice.CreateRequest(ctx, api.CreateRequestRequest{Group: "prod-db-admins", For: "1h", Reason: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := bob.Request(ctx, q.ID)
	if err != nil || got.Context == nil || got.Context.Conflict || len(got.Context.Live) != 0 || !slices.Contains(got.Context.Groups, "staff") {
		t.Fatalf("before: %+v %v", got.Context, err)
	}
	// Since she asked, alice was granted the group for a while, and a
	// separation-of-duties set now keeps staff out of it.
	g, err := admin.AddGrant(ctx, api.AddGrantRequest{User: "alice", Group: "prod-db-admins", For: "30m", Reason: "incident"})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Compile(testRules, []policy.Separation{{Name: "sox", Groups: []string{"prod-db-admins", "staff"}}})
	if err != nil {
		t.Fatal(err)
	}
	reqs.SetPolicy(pol)
	got, err = bob.Request(ctx, q.ID)
	if err != nil || got.Context == nil || !got.Context.Conflict || len(got.Context.Live) != 1 || got.Context.Live[0].ID != g.ID ||
		!strings.Contains(strings.Join(got.Context.Separation, "\n"), "alice already holds staff") {
		t.Fatalf("after: %+v %v", got.Context, err)
	}
	rs, _ := bob.ListRequests(ctx, apiclient.RequestFilter{PendingMyApproval: true})
	if len(rs) != 1 || rs[0].Context != nil {
		t.Fatalf("listed: %+v", rs)
	}
}
