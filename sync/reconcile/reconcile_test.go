package reconcile_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/expiry"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/core/store/storetest"
	"github.com/jitd/jitd/fixtures/slapd"
	"github.com/jitd/jitd/sync/mirror"
	"github.com/jitd/jitd/sync/reconcile"
)

var (
	srv      *slapd.Server
	startErr error
)

func TestMain(m *testing.M) { os.Exit(slapd.Main(m, slapd.Options{Users: 5}, &srv, &startErr)) }

type env struct {
	t     *testing.T
	clock *clock.Fake
	store *sqlite.Store
	conn  *ldap.Conn
	admin *goldap.Conn
	mgr   *grant.Manager
	sched *expiry.Scheduler
	mir   *mirror.Mirror
	rec   *reconcile.Reconciler
	pol   reconcile.Policy
}

func newEnv(t *testing.T) *env {
	slapd.Need(t, srv, startErr)
	if err := srv.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := ldap.New(ldap.Config{URL: srv.LDAPSURL, CAFile: srv.CAFile, BindDN: slapd.ServiceDN,
		BindPasswordFile: filepath.Join(srv.PasswordDir, "service"), UserBase: slapd.PeopleBase, GroupBase: slapd.GroupBase,
		EmptyMember: slapd.EmptyMember, DisabledAttr: "employeeType", DisabledValue: "disabled"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	admin, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	e := &env{t: t, clock: clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)), store: st, conn: conn, admin: admin}
	log := slog.New(slog.DiscardHandler)
	dirs := directories.Set{"corp": {Name: "corp", Conn: conn, Groups: map[string]directories.GroupPolicy{"prod-db-admins": {}, "payments-release": {}}}}
	reg := directories.NewRegistry(dirs, 0)
	e.sched = expiry.New(expiry.Config{Owner: "t"}, st, reg, e.clock, log, nil, nil)
	e.mgr = grant.New(grant.Config{MinDuration: time.Minute}, st, reg, e.clock, log, e.sched.Wake)
	e.mir = mirror.New(mirror.Config{}, st, map[string]mirror.Source{"corp": {Conn: conn}}, e.clock, log, nil)
	e.pol = reconcile.Policy{Groups: []string{"prod-db-admins", "payments-release"}}
	e.rec = reconcile.New(st, e.mgr, map[string]reconcile.Policy{"corp": e.pol}, e.clock, log, nil)
	return e
}

// cycle is what the daemon does every interval: sync, then reconcile against
// what that sync read; then the queue runs.
func (e *env) cycle() reconcile.Report {
	e.t.Helper()
	e.clock.Advance(time.Minute)
	asOf := e.clock.Now()
	if _, err := e.mir.Sync(context.Background(), "corp", false); err != nil {
		e.t.Fatal(err)
	}
	rep, err := e.rec.Reconcile(context.Background(), "corp", asOf)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.sched.RunOnce(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return rep
}

func (e *env) setPolicy(p reconcile.Policy) {
	e.rec = reconcile.New(e.store, e.mgr, map[string]reconcile.Policy{"corp": p}, e.clock, slog.New(slog.DiscardHandler), nil)
}

func (e *env) byHand(group string, add bool, uid string) {
	e.t.Helper()
	req := goldap.NewModifyRequest("cn="+group+","+slapd.GroupBase, nil)
	if add {
		req.Add("member", []string{"uid=" + uid + "," + slapd.PeopleBase})
	} else {
		req.Delete("member", []string{"uid=" + uid + "," + slapd.PeopleBase})
	}
	if err := e.admin.Modify(req); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) member(group, uid string) bool {
	e.t.Helper()
	ok, err := e.admin.Compare("cn="+group+","+slapd.GroupBase, "member", "uid="+uid+","+slapd.PeopleBase)
	if err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchAttribute) {
		e.t.Fatal(err)
	}
	return ok
}

func (e *env) grant(user string, d time.Duration) store.Grant {
	e.t.Helper()
	g, err := e.mgr.Add(context.Background(), grant.AddRequest{User: user, Group: "prod-db-admins", Duration: d, Reason: "INC-1", Actor: "admin"})
	if err != nil {
		e.t.Fatal(err)
	}
	return g
}

func (e *env) actions(filter func(audit.Event) bool) []string {
	evs, _ := e.store.AuditEvents(context.Background(), store.AuditFilter{})
	var out []string
	for _, ev := range slices.Backward(evs) {
		if filter(ev) {
			out = append(out, ev.Action+" "+ev.Group+" "+ev.User)
		}
	}
	return out
}

func TestReconcile_BaselineDriftAndRevert(t *testing.T) {
	e := newEnv(t)
	e.byHand("payments-release", true, "bob") // standing access from before jitd
	rep := e.cycle()
	if rep.BaselineRecorded != 1 || rep.DriftNew != 0 {
		t.Fatalf("first cycle: %+v; want bob recorded as baseline, no drift", rep)
	}

	g := e.grant("alice", time.Hour)
	if rep := e.cycle(); rep.DriftNew != 0 || rep.DriftOpen != 0 {
		t.Fatalf("a granted member was reported as drift: %+v", rep)
	}

	e.byHand("prod-db-admins", true, "carol") // nobody granted this
	rep = e.cycle()
	if rep.DriftNew != 1 || rep.DriftOpen != 1 || !e.member("prod-db-admins", "carol") {
		t.Fatalf("drift in report mode: %+v, carol member=%v", rep, e.member("prod-db-admins", "carol"))
	}
	if rep := e.cycle(); rep.DriftNew != 0 || rep.DriftOpen != 1 {
		t.Fatalf("the same drift was reported again as new: %+v", rep)
	}
	drift, _ := e.store.Drift(context.Background(), "corp")
	if len(drift) != 1 || drift[0].UserName != "carol" || drift[0].GroupName != "prod-db-admins" {
		t.Fatalf("drift list: %+v", drift)
	}

	p := e.pol
	p.RevertDrift = true
	e.setPolicy(p)
	rep = e.cycle() // reconcile queues the removal; the queue removes carol
	if rep.Removed != 1 || e.member("prod-db-admins", "carol") {
		t.Fatalf("revert: %+v, carol member=%v", rep, e.member("prod-db-admins", "carol"))
	}
	if rep := e.cycle(); rep.DriftOpen != 0 {
		t.Fatalf("drift still open after the revert: %+v", rep)
	}
	if !e.member("payments-release", "bob") || !e.member("prod-db-admins", "alice") {
		t.Fatal("revert removed baseline or granted access")
	}
	want := []string{"drift.detected prod-db-admins carol", "drift.resolved prod-db-admins carol"}
	if got := e.actions(func(ev audit.Event) bool {
		return ev.User == "carol" && ev.Action != audit.GrantRevoking && ev.Action != audit.GrantRevoked
	}); !slices.Equal(got, want) {
		t.Fatalf("carol's audit trail: %v, want %v", got, want)
	}

	// A grant whose membership is removed by hand is marked, not re-added.
	e.byHand("prod-db-admins", false, "alice")
	if rep := e.cycle(); rep.Vanished != 1 {
		t.Fatalf("vanished membership: %+v", rep)
	}
	if got, _ := e.store.Grant(context.Background(), g.ID); got.VanishedAt.IsZero() || got.State != store.StateActive || e.member("prod-db-admins", "alice") {
		t.Fatalf("vanished grant: %+v, member=%v", got, e.member("prod-db-admins", "alice"))
	}
}

func TestReconcile_ExpiredGrantIsNotDriftWhileTheMirrorIsBehind(t *testing.T) {
	e := newEnv(t)
	e.cycle()
	e.grant("alice", 2*time.Minute)
	e.clock.Advance(time.Minute)
	asOf := e.clock.Now()
	e.mir.Sync(context.Background(), "corp", false) // reads alice as a member
	e.clock.Advance(2 * time.Minute)
	e.sched.RunOnce(context.Background()) // the grant ends after the mirror was read
	rep, err := e.rec.Reconcile(context.Background(), "corp", asOf)
	if err != nil || rep.DriftNew != 0 {
		t.Fatalf("an expired grant's membership, stale in the mirror, was drift: %+v %v", rep, err)
	}
}

// sponsors records what offboarding asks of the account lifecycle.
type sponsors struct{ gone []string }

func (s *sponsors) SponsorGone(_ context.Context, dir, sponsor, why string) (int, error) {
	s.gone = append(s.gone, dir+"/"+sponsor+" "+why)
	return 1, nil
}

func TestReconcile_OffboardingRevokesEveryGrant(t *testing.T) {
	e := newEnv(t)
	rec := &sponsors{}
	e.rec.Sponsors = rec
	e.cycle()
	for i, sponsor := range []string{"dave", "dave", "alice"} {
		a := storetest.NewAccount(fmt.Sprint("acct-", i), fmt.Sprint("c", i), e.clock.Now().Add(24*time.Hour))
		a.Directory, a.Sponsor, a.CreatedAt = "corp", sponsor, e.clock.Now()
		if err := e.store.Update(context.Background(), func(tx store.Tx) error { return tx.InsertAccount(a) }); err != nil {
			t.Fatal(err)
		}
	}
	dave := e.grant("dave", 8*time.Hour)
	leaver := e.grant("user00001", 8*time.Hour)
	stays := e.grant("alice", 8*time.Hour)
	e.cycle()

	// dave is disabled, user00001 deleted.
	mod := goldap.NewModifyRequest("uid=dave,"+slapd.PeopleBase, nil)
	mod.Replace("employeeType", []string{"disabled"})
	if err := e.admin.Modify(mod); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m := goldap.NewModifyRequest("uid=dave,"+slapd.PeopleBase, nil)
		m.Delete("employeeType", nil)
		e.admin.Modify(m)
	})
	if err := e.admin.Del(goldap.NewDelRequest("uid=user00001,"+slapd.PeopleBase, nil)); err != nil {
		t.Fatal(err)
	}
	rep := e.cycle() // within one interval: revoked and removed
	if rep.Offboarded != 2 {
		t.Fatalf("offboarding: %+v", rep)
	}
	// The disabled sponsor's accounts go to the sponsor rule, once per
	// sponsor; those of a sponsor who stays are left alone.
	if want := []string{"corp/dave is disabled in the directory"}; !slices.Equal(rec.gone, want) || rep.SponsorAccounts != 1 {
		t.Fatalf("sponsor offboarding: %v (report %d), want %v", rec.gone, rep.SponsorAccounts, want)
	}
	for id, why := range map[string]string{dave.ID: "offboarded: the user is disabled in the directory", leaver.ID: "offboarded: the user is no longer in the directory"} {
		g, _ := e.store.Grant(context.Background(), id)
		if g.State != store.StateRevoked || g.EndReason != "revoked by jitd: "+why {
			t.Fatalf("grant of %s: %s %q", g.UserName, g.State, g.EndReason)
		}
	}
	if e.member("prod-db-admins", "dave") {
		t.Fatal("disabled user still a member")
	}
	if g, _ := e.store.Grant(context.Background(), stays.ID); g.State != store.StateActive {
		t.Fatalf("a grant of a user who stays was touched: %s", g.State)
	}
}

func TestReconcile_EmptyMirrorRefusesToOffboardEveryone(t *testing.T) {
	e := newEnv(t)
	e.cycle()
	e.grant("alice", time.Hour)
	e.cycle()
	// A wrong user base: the directory seems to have no users at all.
	wrong, err := ldap.New(ldap.Config{URL: srv.LDAPSURL, CAFile: srv.CAFile, BindDN: slapd.ServiceDN,
		BindPasswordFile: filepath.Join(srv.PasswordDir, "service"), UserBase: "ou=services," + slapd.Suffix, GroupBase: slapd.GroupBase})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	e.mir = mirror.New(mirror.Config{}, e.store, map[string]mirror.Source{"corp": {Conn: wrong}}, e.clock, slog.New(slog.DiscardHandler), nil)
	e.mir.Sync(context.Background(), "corp", true)
	_, err = e.rec.Reconcile(context.Background(), "corp", e.clock.Now())
	if err == nil {
		t.Fatal("an empty mirror offboarded without complaint")
	}
	gs, _ := e.store.Grants(context.Background(), store.GrantFilter{States: []store.State{store.StateActive}})
	if len(gs) != 1 {
		t.Fatalf("grants revoked on an empty mirror: %d active left", len(gs))
	}
}

func TestReconcile_AcceptedDriftBecomesBaseline(t *testing.T) {
	e := newEnv(t)
	e.cycle()
	e.byHand("prod-db-admins", true, "carol")
	if rep := e.cycle(); rep.DriftOpen != 1 {
		t.Fatalf("setup: %+v", rep)
	}
	if _, err := e.rec.Accept(context.Background(), "corp", "prod-db-admins", "carol", "secops", ""); err == nil {
		t.Fatal("accepted without a reason")
	}
	if _, err := e.rec.Accept(context.Background(), "corp", "prod-db-admins", "mallory", "secops", "r"); err == nil {
		t.Fatal("accepted a user with no drift")
	}
	n, err := e.rec.Accept(context.Background(), "corp", "prod-db-admins", "carol", "secops", "on-call DBA, approved in CHG-7")
	if err != nil || n != 1 {
		t.Fatalf("accept: %d %v", n, err)
	}
	if rep := e.cycle(); rep.DriftOpen != 0 || rep.DriftNew != 0 {
		t.Fatalf("accepted member is drift again: %+v", rep)
	}
	if got := e.actions(func(ev audit.Event) bool { return ev.Action == audit.BaselineAccepted }); len(got) != 1 {
		t.Fatalf("accept not audited: %v", got)
	}
}

// An operator reverts one finding by hand: the membership leaves the real
// directory through the queue, audited with the operator, and the finding
// is closed; other drift stays open.
func TestReconcile_RevertedDriftLeavesTheDirectory(t *testing.T) {
	e := newEnv(t)
	e.cycle()
	e.byHand("prod-db-admins", true, "carol")
	e.byHand("prod-db-admins", true, "dave")
	if rep := e.cycle(); rep.DriftOpen != 2 {
		t.Fatalf("setup: %+v", rep)
	}
	if _, err := e.rec.Revert(context.Background(), "corp", "prod-db-admins", "carol", "secops", " "); err == nil {
		t.Fatal("reverted without a reason")
	}
	n, err := e.rec.Revert(context.Background(), "corp", "prod-db-admins", "carol", "secops", "nobody asked for this")
	if err != nil || n != 1 {
		t.Fatalf("revert: %d %v", n, err)
	}
	if _, err := e.sched.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.member("prod-db-admins", "carol") || !e.member("prod-db-admins", "dave") {
		t.Fatalf("after the revert: carol member=%v, dave member=%v", e.member("prod-db-admins", "carol"), e.member("prod-db-admins", "dave"))
	}
	if rep := e.cycle(); rep.DriftOpen != 1 || rep.DriftNew != 0 {
		t.Fatalf("after the revert: %+v", rep)
	}
	evs, _ := e.store.AuditEvents(context.Background(), store.AuditFilter{})
	found := false
	for _, ev := range evs {
		found = found || (ev.Action == audit.GrantRevoking && ev.Actor == "secops" && ev.User == "carol")
	}
	if !found {
		t.Fatal("the revert is not audited with the operator")
	}
	if _, err := e.rec.Revert(context.Background(), "corp", "prod-db-admins", "carol", "secops", "again"); err == nil {
		t.Fatal("reverted drift that is closed")
	}
}
