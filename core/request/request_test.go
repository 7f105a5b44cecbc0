package request

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors/demo"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/sync/mirror"
)

type env struct {
	t     *testing.T
	clock *clock.Fake
	store *sqlite.Store
	dir   *demo.Conn
	mgr   *Manager
}

func newEnv(t *testing.T) *env { return newEnvSynced(t, true) }

// newEnvSynced makes the env; without synced the mirror has never read the
// directory.
func newEnvSynced(t *testing.T, synced bool) *env {
	t.Helper()
	ctx := context.Background()
	conn, err := demo.New(demo.Config{File: filepath.Join(t.TempDir(), "d.json"), Seed: "../../fixtures/demo/directory.json"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	log := slog.New(slog.DiscardHandler)
	dirs := directories.Set{"demo": {Name: "demo", Conn: conn, Groups: map[string]directories.GroupPolicy{"prod-db-admins": {}, "payments-release": {}}}}
	grants := grant.New(grant.Config{MinDuration: time.Minute, MaxDuration: 24 * time.Hour}, st, directories.NewRegistry(dirs, 0), clk, log, nil)
	if synced {
		mir := mirror.New(mirror.Config{}, st, map[string]mirror.Source{"demo": {Conn: conn}}, clk, log, nil)
		if _, err := mir.Sync(ctx, "demo", true); err != nil {
			t.Fatal(err)
		}
	}
	pol, err := policy.Compile([]policy.Rule{
		{Name: "prod", Match: `request.group == "prod-db-admins"`, Eligible: `"staff" in requester.groups`, MaxDuration: 4 * time.Hour,
			Approvals:   []policy.Step{{Any: 1, Users: []string{"bob"}}, {Any: 1, Groups: []string{"staff"}}},
			AutoApprove: `request.duration <= duration("10m")`},
		{Name: "pay", Match: `request.group == "payments-release"`},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, clock: clk, store: st, dir: conn, mgr: New(Config{TTL: 24 * time.Hour,
		BreakGlass: BreakGlassConfig{Users: []string{"carol"}, Groups: []string{"oncall"}, Targets: []string{"prod-db-admins"}, MaxDuration: 30 * time.Minute}},
		st, pol, grants, clk, log)}
}

func (e *env) ask(user, group string, d time.Duration) (store.Request, error) {
	return e.mgr.Create(context.Background(), CreateRequest{Requester: user, Directory: "demo", Group: group, Duration: d, Reason: "deploy 2.3", Ticket: "CHG-1042"})
}

func (e *env) member(login, group string) bool {
	e.t.Helper()
	ctx := context.Background()
	u, _ := e.dir.LookupUser(ctx, login)
	g, _ := e.dir.LookupGroup(ctx, group)
	ok, err := e.dir.IsMember(ctx, g.ID, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

func (e *env) actions(id string) []string {
	evs, _ := e.store.AuditEvents(context.Background(), store.AuditFilter{GrantID: id})
	var out []string
	for _, ev := range slices.Backward(evs) {
		out = append(out, ev.Action)
	}
	return out
}

func TestTwoStepApprovalMakesAGrantCountedFromApproval(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r, err := e.ask("alice", "prod-db-admins", 2*time.Hour)
	if err != nil || r.State != store.RequestPending || len(r.Steps) != 2 {
		t.Fatalf("create: %+v %v", r, err)
	}
	for _, tc := range []struct {
		who  string
		want error
	}{{"alice", ErrForbidden}, {"carol", ErrForbidden}} {
		if _, err := e.mgr.Approve(ctx, r.ID, tc.who, ""); !errors.Is(err, tc.want) {
			t.Fatalf("%s approving step 1: %v, want %v", tc.who, err, tc.want)
		}
	}
	if r, err = e.mgr.Approve(ctx, r.ID, "bob", "ok"); err != nil || r.Step != 1 || r.State != store.RequestPending {
		t.Fatalf("bob's approval: %+v %v", r, err)
	}
	if _, err := e.mgr.Approve(ctx, r.ID, "bob", ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("bob approving a second step: %v, want ErrConflict", err)
	}
	if e.member("alice", "prod-db-admins") {
		t.Fatal("member before the last approval")
	}
	e.clock.Advance(3 * time.Hour) // the grant runs from approval, not from the request
	r, err = e.mgr.Approve(ctx, r.ID, "carol", "")
	if err != nil || r.State != store.RequestApproved || r.GrantID == "" {
		t.Fatalf("carol's approval: %+v %v", r, err)
	}
	g, _ := e.store.Grant(ctx, r.GrantID)
	if g.State != store.StateActive || !g.ExpiresAt.Equal(e.clock.Now().Add(2*time.Hour)) || !e.member("alice", "prod-db-admins") {
		t.Fatalf("grant %+v; member %v", g, e.member("alice", "prod-db-admins"))
	}
	if want := []string{ActionCreated, ActionApproval, ActionApproval, ActionApproved}; !slices.Equal(e.actions(r.ID), want) {
		t.Fatalf("audit %v, want %v", e.actions(r.ID), want)
	}
}

func TestPolicyAutoApprovesOrRefuses(t *testing.T) {
	e := newEnv(t)
	if r, err := e.ask("alice", "prod-db-admins", 5*time.Minute); err != nil || r.State != store.RequestApproved || !e.member("alice", "prod-db-admins") {
		t.Fatalf("short request: %+v %v", r, err)
	}
	if r, err := e.ask("carol", "payments-release", time.Hour); err != nil || r.State != store.RequestApproved {
		t.Fatalf("no-approval rule: %+v %v", r, err)
	}
	for _, tc := range []struct {
		user, group string
		d           time.Duration
	}{{"alice", "prod-db-admins", 5 * time.Hour}, {"dave", "prod-db-admins", time.Hour}} {
		r, err := e.ask(tc.user, tc.group, tc.d)
		if !errors.Is(err, ErrInvalid) || r.State != store.RequestDenied || r.Detail == "" {
			t.Fatalf("%s on %s for %s: %+v %v; want refused with the reason", tc.user, tc.group, tc.d, r, err)
		}
		if got := e.actions(r.ID); !slices.Equal(got, []string{ActionRefused}) {
			t.Fatalf("refusal audit: %v", got)
		}
	}
	if _, err := e.mgr.Create(context.Background(), CreateRequest{Requester: "alice", Directory: "demo", Group: "prod-db-admins", Duration: time.Hour}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no reason: %v", err)
	}
}

func TestDenyCancelAndExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	denied, _ := e.ask("alice", "prod-db-admins", time.Hour)
	if _, err := e.mgr.Deny(ctx, denied.ID, "bob", ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("deny without a reason: %v", err)
	}
	if r, err := e.mgr.Deny(ctx, denied.ID, "bob", "not during the freeze"); err != nil || r.State != store.RequestDenied {
		t.Fatalf("deny: %+v %v", r, err)
	}
	cancelled, _ := e.ask("alice", "prod-db-admins", time.Hour)
	if _, err := e.mgr.Cancel(ctx, cancelled.ID, "bob"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("cancel by someone else: %v", err)
	}
	if r, err := e.mgr.Cancel(ctx, cancelled.ID, "alice"); err != nil || r.State != store.RequestCancelled {
		t.Fatalf("cancel: %+v %v", r, err)
	}
	stale, _ := e.ask("carol", "prod-db-admins", time.Hour)
	e.clock.Advance(24*time.Hour - time.Second)
	if n, _ := e.mgr.ExpireDue(ctx); n != 0 {
		t.Fatal("expired early")
	}
	e.clock.Advance(time.Second)
	if n, err := e.mgr.ExpireDue(ctx); n != 1 || err != nil {
		t.Fatalf("ExpireDue = %d, %v", n, err)
	}
	for _, id := range []string{denied.ID, cancelled.ID, stale.ID} {
		if _, err := e.mgr.Approve(ctx, id, "bob", ""); !errors.Is(err, ErrConflict) {
			t.Fatalf("approving ended request %s: %v", id, err)
		}
	}
	if e.member("alice", "prod-db-admins") || e.member("carol", "prod-db-admins") {
		t.Fatal("an ended request made a membership")
	}
}

// Run sleeps until the earliest pending request expires.
func TestRunExpiresOnTime(t *testing.T) {
	e := newEnv(t)
	r, _ := e.ask("alice", "prod-db-admins", time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.mgr.Run(ctx) }()
	stop := make(chan struct{})
	e.clock.WaitForTimers(1, stop) // asleep until the request's end
	e.clock.Advance(24 * time.Hour)
	// A new request wakes Run, which has expired the first by then and now
	// sleeps until the new one's end.
	e.ask("carol", "prod-db-admins", time.Hour)
	e.clock.WaitForTimers(1, stop)
	if got, _ := e.store.Request(context.Background(), r.ID); got.State != store.RequestExpired {
		t.Fatalf("state %s after the TTL", got.State)
	}
	cancel()
	<-done
}

func TestReportingLine_ReportsNeverApproveTheirManagersRequest(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// In the demo directory alice reports to bob, and carol to alice; all
	// three are in staff and in payments; dave is in sales.
	pol, err := policy.Compile([]policy.Rule{{Name: "pay", Match: `request.group == "payments-release"`,
		Eligible:    `requester.attributes["department"] == "payments"`,
		Approvals:   []policy.Step{{Any: 1, Groups: []string{"staff"}}},
		AutoApprove: `requester.manager == "bob" && request.duration <= duration("15m")`}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, depth := range []int{0, 1, 2} {
		m := New(Config{ReportingLineDepth: depth}, e.store, pol, e.mgr.grants, e.clock, e.mgr.log)
		r, err := m.Create(ctx, CreateRequest{Requester: "bob", Directory: "demo", Group: "payments-release", Duration: time.Hour, Reason: "release 2.3"})
		if err != nil || r.State != store.RequestPending {
			t.Fatalf("depth %d: bob asks: %+v %v", depth, r, err)
		}
		for approver, level := range map[string]int{"alice": 1, "carol": 2} {
			err := m.CanDecide(ctx, r, approver)
			if refused := level <= depth; refused != errors.Is(err, ErrForbidden) {
				t.Errorf("depth %d: %s (%d level(s) below bob) may decide: %v", depth, approver, level, err)
			}
		}
	}
	m := New(Config{ReportingLineDepth: 2}, e.store, pol, e.mgr.grants, e.clock, e.mgr.log)
	r, _ := m.Create(ctx, CreateRequest{Requester: "bob", Directory: "demo", Group: "payments-release", Duration: time.Hour, Reason: "release 2.4"})
	if _, err := m.Approve(ctx, r.ID, "alice", ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("alice approving her manager's request: %v", err)
	}
	// Attributes and the manager come from the mirror: alice's manager is
	// bob, so her short request is automatic; dave works in sales.
	if r, err := m.Create(ctx, CreateRequest{Requester: "alice", Directory: "demo", Group: "payments-release", Duration: 10 * time.Minute, Reason: "hotfix"}); err != nil || r.State != store.RequestApproved {
		t.Fatalf("alice, 10m: %+v %v", r, err)
	}
	if r, err := m.Create(ctx, CreateRequest{Requester: "carol", Directory: "demo", Group: "payments-release", Duration: 10 * time.Minute, Reason: "hotfix"}); err != nil || r.State != store.RequestPending {
		t.Fatalf("carol, 10m (her manager is alice): %+v %v", r, err)
	}
}

type riskFunc func(dir, login string) (float64, error)

func (f riskFunc) Score(_ context.Context, dir, login string) (float64, error) { return f(dir, login) }

func TestRisk_SourceFeedsContextRiskAndAFailureNeverAutoApproves(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pol, err := policy.Compile([]policy.Rule{{Name: "pay", Match: `request.group == "payments-release"`,
		Approvals: []policy.Step{{Any: 1, Users: []string{"bob"}}}, AutoApprove: `context.risk < 0.3`}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := New(Config{}, e.store, pol, e.mgr.grants, e.clock, e.mgr.log)
	m.Risk = riskFunc(func(dir, login string) (float64, error) {
		switch login {
		case "alice":
			return 0.1, nil
		case "carol":
			return 1, errors.New("risk service down")
		}
		return 0.8, nil
	})
	// alice is low risk, bob high, and carol's score cannot be had.
	for login, want := range map[string]store.RequestState{"alice": store.RequestApproved, "bob": store.RequestPending, "carol": store.RequestPending} {
		r, err := m.Create(ctx, CreateRequest{Requester: login, Directory: "demo", Group: "payments-release", Duration: time.Hour, Reason: "release"})
		if err != nil || r.State != want {
			t.Fatalf("%s: %+v %v; want %s", login, r, err, want)
		}
		evs, _ := e.store.AuditEvents(ctx, store.AuditFilter{GrantID: r.ID})
		created := evs[len(evs)-1].Detail
		if login == "carol" && !strings.Contains(created, "risk 1.00 (the source failed: risk service down)") {
			t.Errorf("carol's request does not record the failed score: %q", created)
		}
		if login == "alice" && !strings.Contains(created, "risk 0.10") {
			t.Errorf("alice's request does not record her score: %q", created)
		}
		// The score is kept with the request, for whoever decides it.
		if kept, _ := m.Get(ctx, r.ID); kept.Risk == nil || (login == "bob" && *kept.Risk != 0.8) {
			t.Errorf("%s's request keeps the risk %v", login, kept.Risk)
		}
	}
	if r, _ := e.ask("alice", "payments-release", time.Hour); r.Risk != nil {
		t.Errorf("a request with no risk source has a risk: %v", *r.Risk)
	}
}

func TestFirstRequestBeforeAnySyncReadsTheDirectory(t *testing.T) {
	ctx := context.Background()
	e := newEnvSynced(t, false)
	pol, _ := policy.Compile([]policy.Rule{{Name: "staff", Eligible: `"staff" in requester.groups`, Approvals: []policy.Step{{Any: 1, Users: []string{"bob"}}}}}, nil)
	m := New(Config{}, e.store, pol, e.mgr.grants, e.clock, e.mgr.log)
	ask := func() (store.Request, error) {
		return m.Create(ctx, CreateRequest{Requester: "alice", Directory: "demo", Group: "prod-db-admins", Duration: time.Hour, Reason: "deploy"})
	}
	if _, err := ask(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "jitd sync run") {
		t.Fatalf("without a first sync: %v", err)
	}
	mir := mirror.New(mirror.Config{}, e.store, map[string]mirror.Source{"demo": {Conn: e.dir}}, e.clock, e.mgr.log, nil)
	syncs := 0
	m.FirstSync = func(ctx context.Context, dir string) error {
		syncs++
		_, err := mir.Sync(ctx, dir, true)
		return err
	}
	if r, err := ask(); err != nil || r.State != store.RequestPending {
		t.Fatalf("with a first sync: %+v %v", r, err)
	}
	// Once the directory was read, an unknown person is just unknown.
	if _, err := m.Create(ctx, CreateRequest{Requester: "mallory", Directory: "demo", Group: "prod-db-admins", Duration: time.Hour, Reason: "x"}); !errors.Is(err, ErrInvalid) || syncs != 1 {
		t.Fatalf("mallory: %v after %d syncs", err, syncs)
	}
}

// jitd stopped after the last approval was recorded and before the grant
// was: on start the request is finished, by its last approver.
func TestResume_ApprovedRequestWithoutItsGrantIsFinishedOnStart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r, err := e.ask("alice", "prod-db-admins", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// What decide commits before it makes the grant, for both steps.
	err = e.store.Update(ctx, func(tx store.Tx) error {
		for i, who := range []string{"bob", "carol"} {
			if err := tx.InsertApproval(store.Approval{RequestID: r.ID, Approver: who, Step: i, Decision: "approve", At: e.clock.Now()}); err != nil {
				return err
			}
		}
		r.Step = 2
		return tx.UpdateRequest(r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := e.store.Request(ctx, r.ID)
	if got.State != store.RequestApproved || got.GrantID == "" || got.DecidedBy != "carol" || !e.member("alice", "prod-db-admins") {
		t.Fatalf("after resume: %+v, member %v", got, e.member("alice", "prod-db-admins"))
	}
	// A second start changes nothing.
	if err := e.mgr.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if gs, _ := e.store.Grants(ctx, store.GrantFilter{UserName: "alice", States: grant.LiveStates}); len(gs) != 1 {
		t.Fatalf("%d live grants after two starts", len(gs))
	}
}

// What a request names is checked when it is made, not when an approver
// approves it: a directory or group that is not configured, a group the
// directory lacks, a user it lacks, text too long or on several lines. Each
// is the asker's mistake (ErrInvalid, a 400) and records nothing.
func TestCreate_BadTargetsAndTextAreRefusedAtOnceAndRecordNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ok := CreateRequest{Requester: "alice", Directory: "demo", Group: "prod-db-admins", Duration: time.Hour, Reason: "INC-1"}
	for name, change := range map[string]func(*CreateRequest){
		"unknown directory":   func(r *CreateRequest) { r.Directory = "nowhere" },
		"group not JIT":       func(r *CreateRequest) { r.Group = "staff" },
		"unknown user":        func(r *CreateRequest) { r.Requester = "mallory" },
		"reason too long":     func(r *CreateRequest) { r.Reason = strings.Repeat("x", 1001) },
		"reason on two lines": func(r *CreateRequest) { r.Reason = "INC-1\nrm -rf" },
		"ticket with NUL":     func(r *CreateRequest) { r.Ticket = "T-1\x00" },
	} {
		req := ok
		change(&req)
		if _, err := e.mgr.Create(ctx, req); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
		if _, _, err := e.mgr.BreakGlass(ctx, req); !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrForbidden) {
			t.Errorf("break-glass, %s: %v, want ErrInvalid", name, err)
		}
	}
	if rs, _ := e.store.Requests(ctx, store.RequestFilter{}); len(rs) != 0 {
		t.Fatalf("refused requests were recorded: %+v", rs)
	}
	r, err := e.ask("alice", "prod-db-admins", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.mgr.Approve(ctx, r.ID, "bob", strings.Repeat("y", 1001)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a comment too long: %v", err)
	}
}

// A request for later is approved now and granted when its start comes:
// not before, once, and not at all if the requester cancels first.
func TestAStartInTheFutureIsGrantedWhenItComes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ask := func(start time.Time) (store.Request, error) {
		return e.mgr.Create(ctx, CreateRequest{Requester: "alice", Directory: "demo", Group: "payments-release", Duration: time.Hour, Reason: "release 2.4", StartsAt: start})
	}
	now := e.clock.Now()
	for _, bad := range []time.Time{now.Add(-time.Minute), now, now.Add(MaxStartAhead + time.Hour)} {
		if r, err := ask(bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("start %v: %+v %v", bad, r, err)
		}
	}
	r, err := ask(now.Add(2 * time.Hour))
	if err != nil || r.State != store.RequestApproved || r.GrantID != "" || !strings.Contains(r.Detail, "starts at") {
		t.Fatalf("a request for later: %+v %v", r, err)
	}
	if n, err := e.mgr.StartDue(ctx); err != nil || n != 0 || e.member("alice", "payments-release") {
		t.Fatalf("before the start: %d %v", n, err)
	}
	if next, ok, _ := e.store.NextRequestDue(ctx); !ok || !next.Equal(r.StartsAt) {
		t.Fatalf("the loop would next wake at %v, not the start %v", next, r.StartsAt)
	}
	e.clock.Advance(2 * time.Hour)
	if n, err := e.mgr.StartDue(ctx); err != nil || n != 1 || !e.member("alice", "payments-release") {
		t.Fatalf("at the start: %d %v", n, err)
	}
	got, _ := e.mgr.Get(ctx, r.ID)
	g, err := e.store.Grant(ctx, got.GrantID)
	if err != nil || g.State != store.StateActive || !g.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("the grant: %+v %v", g, err)
	}
	if n, _ := e.mgr.StartDue(ctx); n != 0 {
		t.Fatalf("started twice: %d", n)
	}
	if acts := e.actions(r.ID); !slices.Contains(acts, ActionStarted) || !slices.Contains(acts, ActionApproved) {
		t.Fatalf("the approval and the start are not both audited with the request: %v", acts)
	}

	// Cancelled before its start: never granted.
	e.dir.RemoveMembers(ctx, mustGroup(t, e, "payments-release"), []string{mustUser(t, e, "alice")})
	later, err := ask(e.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.mgr.Cancel(ctx, later.ID, "bob"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("bob cancels alice's: %v", err)
	}
	if c, err := e.mgr.Cancel(ctx, later.ID, "alice"); err != nil || c.State != store.RequestCancelled {
		t.Fatalf("cancel before the start: %+v %v", c, err)
	}
	e.clock.Advance(2 * time.Hour)
	if n, _ := e.mgr.StartDue(ctx); n != 0 {
		t.Fatalf("a cancelled request started: %d", n)
	}
}

func mustGroup(t *testing.T, e *env, name string) string {
	g, err := e.dir.LookupGroup(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return g.ID
}

func mustUser(t *testing.T, e *env, login string) string {
	u, err := e.dir.LookupUser(context.Background(), login)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}
