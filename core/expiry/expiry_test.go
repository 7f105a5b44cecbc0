package expiry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/demo"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
)

var start = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// faulty wraps a connector and can fail, count and observe membership calls.
type faulty struct {
	connectors.Connector
	inner   *demo.Conn
	mu      sync.Mutex
	fail    error         // returned instead of calling the directory
	after   func()        // called after a successful removal
	removes atomic.Int64  // RemoveMembers calls
	batches []int         // sizes of RemoveMembers calls
	inCall  chan struct{} // if set, RemoveMembers signals here, then waits on release
	release chan struct{}
	onAdd   func() // called inside AddMembers, before the directory call
	// hangAdd, if set, makes AddMembers signal on it and then hang until
	// its context ends, as a directory that stopped answering does.
	hangAdd chan struct{}
}

func (f *faulty) setFail(err error) { f.mu.Lock(); f.fail = err; f.mu.Unlock() }
func (f *faulty) failure() error    { f.mu.Lock(); defer f.mu.Unlock(); return f.fail }

func (f *faulty) LookupUser(ctx context.Context, l string) (connectors.User, error) {
	return f.inner.LookupUser(ctx, l)
}
func (f *faulty) LookupGroup(ctx context.Context, n string) (connectors.Group, error) {
	return f.inner.LookupGroup(ctx, n)
}
func (f *faulty) IsMember(ctx context.Context, g, u string) (bool, error) {
	if err := f.failure(); err != nil {
		return false, err
	}
	return f.inner.IsMember(ctx, g, u)
}
func (f *faulty) AddMembers(ctx context.Context, g string, us []string) ([]connectors.MemberResult, error) {
	if err := f.failure(); err != nil {
		return nil, err
	}
	if f.onAdd != nil {
		f.onAdd()
	}
	if f.hangAdd != nil {
		f.hangAdd <- struct{}{}
		<-ctx.Done()
		return nil, fmt.Errorf("no answer: %w: %w", connectors.ErrUnavailable, ctx.Err())
	}

	return f.inner.AddMembers(ctx, g, us)
}
func (f *faulty) RemoveMembers(ctx context.Context, g string, us []string) ([]connectors.MemberResult, error) {
	f.removes.Add(1)
	if err := f.failure(); err != nil {
		return nil, err
	}
	if f.inCall != nil {
		f.inCall <- struct{}{}
		<-f.release
	}
	r, err := f.inner.RemoveMembers(ctx, g, us)
	if err == nil && f.after != nil {
		f.after()
	}
	return r, err
}

type env struct {
	t     *testing.T
	path  string
	clock *clock.Fake
	store *sqlite.Store
	dir   *demo.Conn
	conn  *faulty
	dirs  directories.Set
	reg   *directories.Registry
	mgr   *grant.Manager
	sched *Scheduler
	cfg   Config
}

// newEnv makes a demo directory with the given number of groups and users per
// group (users u0..uN shared by all groups), all JIT-managed.
func newEnv(t *testing.T, groups, users int) *env {
	t.Helper()
	dirPath := t.TempDir()
	data := demo.Data{}
	for i := range users {
		data.Users = append(data.Users, demo.User{ID: fmt.Sprint("uid-", i), Login: fmt.Sprint("u", i)})
	}
	managed := map[string]directories.GroupPolicy{}
	for i := range groups {
		name := fmt.Sprint("grp", i)
		data.Groups = append(data.Groups, demo.Group{ID: fmt.Sprint("gid-", i), Name: name})
		managed[name] = directories.GroupPolicy{}
	}
	seed := filepath.Join(dirPath, "seed.json")
	writeJSON(t, seed, data)
	conn, err := demo.New(demo.Config{File: filepath.Join(dirPath, "dir.json"), Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, path: filepath.Join(dirPath, "jitd.db"), clock: clock.NewFake(start), dir: conn}
	e.conn = &faulty{Connector: conn, inner: conn}
	e.dirs = directories.Set{"demo": {Name: "demo", Conn: e.conn, Groups: managed}}
	e.reg = directories.NewRegistry(e.dirs, 0)
	e.cfg = Config{Owner: "test-host", MinBackoff: time.Second, MaxBackoff: 5 * time.Minute, MaxAttempts: 6}
	e.open()
	return e
}

// open (re)starts the daemon's pieces on the same database file.
func (e *env) open() {
	e.t.Helper()
	st, err := sqlite.Open(context.Background(), e.path)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	e.store = st
	log := slog.New(slog.DiscardHandler)
	e.sched = New(e.cfg, st, e.reg, e.clock, log, nil, nil)
	e.mgr = grant.New(grant.Config{MinDuration: time.Minute, MaxDuration: 30 * 24 * time.Hour}, st, e.reg, e.clock, log, e.sched.Wake)
}

func (e *env) add(user, group string, d time.Duration) store.Grant {
	e.t.Helper()
	g, err := e.mgr.Add(context.Background(), grant.AddRequest{User: user, Group: group, Duration: d, Reason: "INC-1", Actor: "admin"})
	if err != nil {
		e.t.Fatalf("add %s to %s: %v", user, group, err)
	}
	return g
}

func (e *env) runOnce() int {
	e.t.Helper()
	n, err := e.sched.RunOnce(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) member(user, group string) bool {
	e.t.Helper()
	u, _ := e.dir.LookupUser(context.Background(), user)
	g, _ := e.dir.LookupGroup(context.Background(), group)
	ok, err := e.dir.IsMember(context.Background(), g.ID, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

func (e *env) state(id string) store.Grant {
	e.t.Helper()
	g, err := e.store.Grant(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return g
}

func (e *env) actions(id string) []string {
	evs, err := e.store.AuditEvents(context.Background(), store.AuditFilter{GrantID: id})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range slices.Backward(evs) {
		out = append(out, ev.Action)
	}
	return out
}

func (e *env) verifyAudit() {
	e.t.Helper()
	v := audit.NewVerifier()
	e.store.WalkAudit(context.Background(), func(ev audit.Event) error { v.Add(ev); return nil })
	seq, hash, _ := e.store.AuditHead(context.Background())
	if p := v.Finish(seq, hash); len(p) > 0 {
		e.t.Fatalf("audit chain broken: %v", p)
	}
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestExpiry_RemovesMembershipWhenGrantEnds(t *testing.T) {
	e := newEnv(t, 1, 1)
	g := e.add("u0", "grp0", 2*time.Minute)
	if !e.member("u0", "grp0") || g.State != store.StateActive {
		t.Fatalf("after add: member=%v state=%s", e.member("u0", "grp0"), g.State)
	}
	e.clock.Advance(2*time.Minute - time.Millisecond)
	if n := e.runOnce(); n != 0 || !e.member("u0", "grp0") {
		t.Fatalf("grant ended early: processed %d", n)
	}
	e.clock.Advance(time.Millisecond)
	e.runOnce()
	got := e.state(g.ID)
	if e.member("u0", "grp0") || got.State != store.StateRevoked || !got.EndedAt.Equal(g.ExpiresAt) || got.EndReason != "expired" {
		t.Fatalf("after expiry: member=%v grant=%+v", e.member("u0", "grp0"), got)
	}
	want := []string{audit.GrantRequested, audit.GrantActive, audit.GrantRevoking, audit.GrantRevoked}
	if a := e.actions(g.ID); !slices.Equal(a, want) {
		t.Fatalf("audit trail %v, want %v", a, want)
	}
	e.verifyAudit()
}

func TestExpiry_PreexistingMembershipIsLeftInPlace(t *testing.T) {
	e := newEnv(t, 1, 1)
	e.dir.AddMembers(context.Background(), "gid-0", []string{"uid-0"})
	g := e.add("u0", "grp0", time.Hour)
	if !g.Preexisting {
		t.Fatal("grant on an existing membership not marked preexisting")
	}
	e.clock.Advance(time.Hour)
	e.runOnce()
	if !e.member("u0", "grp0") {
		t.Fatal("expiry removed a membership jitd did not add")
	}
	if s := e.state(g.ID); s.State != store.StateRevoked {
		t.Fatalf("grant state %s, want revoked", s.State)
	}
	if e.conn.removes.Load() != 0 {
		t.Fatalf("made %d removal calls for a preexisting membership", e.conn.removes.Load())
	}
}

func TestExpiry_OverlappingGrantsRemoveOnlyWhenLastEnds(t *testing.T) {
	e := newEnv(t, 1, 1)
	first := e.add("u0", "grp0", time.Hour)
	e.clock.Advance(10 * time.Minute)
	second := e.add("u0", "grp0", 2*time.Hour) // ends at 2h10m
	if second.Preexisting {
		t.Fatal("second grant counted jitd's own membership as preexisting")
	}
	e.clock.Advance(50 * time.Minute) // first ends
	e.runOnce()
	if !e.member("u0", "grp0") || e.state(first.ID).State != store.StateRevoked {
		t.Fatalf("first grant's end: member=%v state=%s", e.member("u0", "grp0"), e.state(first.ID).State)
	}
	e.clock.Advance(80 * time.Minute) // second ends
	e.runOnce()
	if e.member("u0", "grp0") || e.state(second.ID).State != store.StateRevoked {
		t.Fatalf("last grant's end: member=%v state=%s", e.member("u0", "grp0"), e.state(second.ID).State)
	}
}

func TestExpiry_ExtendMovesTheEnd(t *testing.T) {
	e := newEnv(t, 1, 1)
	g := e.add("u0", "grp0", time.Hour)
	if _, err := e.mgr.Extend(context.Background(), g.ID, time.Hour, time.Time{}, "admin", "still needed"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	e.runOnce()
	if !e.member("u0", "grp0") {
		t.Fatal("membership removed at the original end after an extension")
	}
	e.clock.Advance(time.Hour)
	e.runOnce()
	if e.member("u0", "grp0") {
		t.Fatal("membership kept past the extended end")
	}
	if a := e.actions(g.ID); !slices.Contains(a, audit.GrantExtended) {
		t.Fatalf("no extension in the audit trail: %v", a)
	}
	if _, err := e.mgr.Extend(context.Background(), g.ID, time.Hour, time.Time{}, "admin", "again"); !errors.Is(err, grant.ErrConflict) {
		t.Fatalf("extending a revoked grant: %v, want ErrConflict", err)
	}
}

func TestExpiry_EarlyRevoke(t *testing.T) {
	e := newEnv(t, 1, 1)
	g := e.add("u0", "grp0", 8*time.Hour)
	e.clock.Advance(time.Minute)
	r, err := e.mgr.Revoke(context.Background(), g.ID, "secops", "left the incident")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != store.StateRevoking || !r.ExpiresAt.Equal(e.clock.Now()) {
		t.Fatalf("revoke returned %+v", r)
	}
	e.runOnce()
	got := e.state(g.ID)
	if e.member("u0", "grp0") || got.State != store.StateRevoked || got.EndReason != "revoked by secops: left the incident" {
		t.Fatalf("after revoke: member=%v grant=%+v", e.member("u0", "grp0"), got)
	}
	if _, err := e.mgr.Revoke(context.Background(), g.ID, "secops", "again"); !errors.Is(err, grant.ErrConflict) {
		t.Fatalf("revoking twice: %v", err)
	}
}

func TestGrant_BadInputIsRefusedAndChangesNothing(t *testing.T) {
	e := newEnv(t, 1, 1)
	e.dirs["demo"].Groups["grp0"] = directories.GroupPolicy{MaxDuration: 4 * time.Hour}
	e.dir.AddMembers(context.Background(), "gid-0", nil)
	for name, req := range map[string]grant.AddRequest{
		"unknown user":           {User: "nobody", Group: "grp0", Duration: time.Hour, Reason: "r"},
		"unknown group":          {User: "u0", Group: "nope", Duration: time.Hour, Reason: "r"},
		"unknown directory":      {Directory: "corp", User: "u0", Group: "grp0", Duration: time.Hour, Reason: "r"},
		"negative duration":      {User: "u0", Group: "grp0", Duration: -time.Hour, Reason: "r"},
		"over the group maximum": {User: "u0", Group: "grp0", Duration: 5 * time.Hour, Reason: "r"},
		"under the minimum":      {User: "u0", Group: "grp0", Duration: time.Second, Reason: "r"},
		"until in the past":      {User: "u0", Group: "grp0", Until: start.Add(-time.Hour), Reason: "r"},
		"both for and until":     {User: "u0", Group: "grp0", Duration: time.Hour, Until: start.Add(time.Hour), Reason: "r"},
		"no duration":            {User: "u0", Group: "grp0", Reason: "r"},
		"no reason":              {User: "u0", Group: "grp0", Duration: time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.mgr.Add(context.Background(), req)
			if !errors.Is(err, grant.ErrInvalid) {
				t.Fatalf("Add = %v, want ErrInvalid", err)
			}
		})
	}
	if gs, _ := e.store.Grants(context.Background(), store.GrantFilter{}); len(gs) != 0 {
		t.Fatalf("refused requests left %d grants", len(gs))
	}
	if seq, _, _ := e.store.AuditHead(context.Background()); seq != 0 {
		t.Fatalf("refused requests wrote %d audit events", seq)
	}
	if e.member("u0", "grp0") {
		t.Fatal("refused request changed the directory")
	}
}

func TestGrant_NonManagedGroupIsRefused(t *testing.T) {
	e := newEnv(t, 2, 1)
	delete(e.dirs["demo"].Groups, "grp1")
	_, err := e.mgr.Add(context.Background(), grant.AddRequest{User: "u0", Group: "grp1", Duration: time.Hour, Reason: "r"})
	if !errors.Is(err, grant.ErrInvalid) || e.member("u0", "grp1") {
		t.Fatalf("grant on a group that is not JIT-managed: %v", err)
	}
}

func TestExpiry_RevokesOverdueGrantsAfterRestart(t *testing.T) {
	e := newEnv(t, 3, 3)
	var ids []string
	for i := range 3 {
		ids = append(ids, e.add(fmt.Sprint("u", i), fmt.Sprint("grp", i), time.Duration(i+1)*time.Hour).ID)
	}
	e.store.Close() // the daemon stops; time passes while it is down
	e.clock.Advance(10 * time.Hour)
	e.open()
	if err := e.sched.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.runOnce(); n != 3 {
		t.Fatalf("catch-up processed %d grants, want 3", n)
	}
	for i, id := range ids {
		if g := e.state(id); g.State != store.StateRevoked || e.member(fmt.Sprint("u", i), fmt.Sprint("grp", i)) {
			t.Fatalf("grant %s after restart: %s", id, g.State)
		}
	}
	e.verifyAudit()
}

func TestExpiry_DirectoryUnreachableForAnHourThenBack(t *testing.T) {
	e := newEnv(t, 1, 2)
	g := e.add("u0", "grp0", 5*time.Minute)
	var alerts []string
	e.sched.alert = func(g store.Grant, err error) { alerts = append(alerts, g.ID) }
	e.conn.setFail(fmt.Errorf("dial: %w", connectors.ErrUnavailable))
	e.clock.Advance(5 * time.Minute)
	outageEnd := e.clock.Now().Add(time.Hour)
	for e.clock.Now().Before(outageEnd) {
		e.runOnce()
		next, ok, err := e.store.NextDue(context.Background())
		if err != nil || !ok {
			t.Fatalf("grant dropped from the queue during the outage (ok=%v err=%v)", ok, err)
		}
		if wait := next.Sub(e.clock.Now()); wait > 5*time.Minute {
			t.Fatalf("retry scheduled %s ahead; backoff must stay within 5m", wait)
		}
		e.clock.Set(next)
	}
	mid := e.state(g.ID)
	if mid.State != store.StateRevokeFailed || mid.Attempts < 6 || mid.LastError == "" {
		t.Fatalf("after an hour of failures: %+v", mid)
	}
	if len(alerts) != 1 {
		t.Fatalf("alerts = %v, want exactly one when the grant became revoke_failed", alerts)
	}
	calls := e.conn.removes.Load()
	if calls > 40 {
		t.Fatalf("%d removal attempts in an hour: backoff is not backing off", calls)
	}
	e.conn.setFail(nil) // the directory is back
	next, _, _ := e.store.NextDue(context.Background())
	e.clock.Set(next)
	e.runOnce()
	got := e.state(g.ID)
	if got.State != store.StateRevoked || e.member("u0", "grp0") {
		t.Fatalf("after the outage: state=%s member=%v", got.State, e.member("u0", "grp0"))
	}
	if late := got.EndedAt.Sub(got.ExpiresAt); late < time.Hour || late > time.Hour+5*time.Minute {
		t.Fatalf("removed %s after expiry; want just over the hour outage", late)
	}
	want := []string{audit.GrantRequested, audit.GrantActive, audit.GrantRevoking, audit.GrantRevokeFailed, audit.GrantRevoked}
	if a := e.actions(g.ID); !slices.Equal(a, want) {
		t.Fatalf("audit trail %v, want %v", a, want)
	}
}

func TestExpiry_HonoursRateLimitWait(t *testing.T) {
	e := newEnv(t, 1, 1)
	g := e.add("u0", "grp0", 5*time.Minute)
	e.conn.setFail(&connectors.RateLimitError{Wait: 90 * time.Second})
	e.clock.Advance(5 * time.Minute)
	e.runOnce()
	got := e.state(g.ID)
	if !got.NextAttempt.Equal(e.clock.Now().Add(90*time.Second)) || got.State != store.StateRevoking {
		t.Fatalf("rate-limited grant: next attempt %v state %s, want now+90s revoking", got.NextAttempt, got.State)
	}
	e.conn.setFail(nil)
	e.clock.Advance(89 * time.Second)
	if e.runOnce() != 0 {
		t.Fatal("retried before the rate limit's wait")
	}
	e.clock.Advance(time.Second)
	e.runOnce()
	if e.state(g.ID).State != store.StateRevoked {
		t.Fatal("not revoked after the wait")
	}
}

func TestExpiry_CrashBetweenDirectoryCallAndCommitIsRerunIdempotently(t *testing.T) {
	e := newEnv(t, 1, 1)
	g := e.add("u0", "grp0", 5*time.Minute)
	e.clock.Advance(5 * time.Minute)
	// The member is removed, then the process dies before recording it.
	e.conn.after = func() { e.store.Close() }
	e.sched.RunOnce(context.Background())
	if e.member("u0", "grp0") {
		t.Fatal("setup: removal did not reach the directory")
	}
	e.conn.after = nil
	e.open() // restart on the same file
	if s := e.state(g.ID); s.State != store.StateRevoking || s.LeaseOwner != "test-host" {
		t.Fatalf("after the crash the grant is %s leased by %q; want revoking under our lease", s.State, s.LeaseOwner)
	}
	if err := e.sched.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := e.conn.removes.Load()
	e.runOnce() // no clock movement: the own lease is taken back at once
	if e.conn.removes.Load() != before+1 {
		t.Fatal("the interrupted removal was not re-run")
	}
	if s := e.state(g.ID); s.State != store.StateRevoked {
		t.Fatalf("after rerun: %s (%s)", s.State, s.LastError)
	}
	e.verifyAudit()
}

func TestExpiry_AnotherInstanceWaitsForTheLease(t *testing.T) {
	e := newEnv(t, 1, 1)
	g := e.add("u0", "grp0", 5*time.Minute)
	e.clock.Advance(5 * time.Minute)
	e.conn.after = func() { e.store.Close() }
	e.sched.RunOnce(context.Background())
	e.conn.after = nil
	e.cfg.Owner = "other-host"
	e.open()
	e.sched.Recover(context.Background())
	if n := e.runOnce(); n != 0 {
		t.Fatalf("another instance took %d leased grants before the lease ran out", n)
	}
	e.clock.Advance(Defaults().Lease)
	e.runOnce()
	if e.state(g.ID).State != store.StateRevoked {
		t.Fatal("lease ran out but the grant was not reclaimed")
	}
}

func TestGrant_ResumeAfterCrashBeforeApplyOutcome(t *testing.T) {
	e := newEnv(t, 1, 1)
	// A crash after the intent was committed and before the add: simulate by
	// writing the applying row directly, as Add does first.
	g := store.Grant{ID: "g-crash", Directory: "demo", GroupID: "gid-0", GroupName: "grp0", UserID: "uid-0", UserName: "u0",
		State: store.StateApplying, Reason: "r", CreatedBy: "admin", StartsAt: start, ExpiresAt: start.Add(time.Hour), CreatedAt: start, UpdatedAt: start}
	e.store.Update(context.Background(), func(tx store.Tx) error { return tx.InsertGrant(g) })
	if err := e.mgr.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := e.state(g.ID); s.State != store.StateActive || !e.member("u0", "grp0") {
		t.Fatalf("resumed grant: %s member=%v", s.State, e.member("u0", "grp0"))
	}
}

func TestExpiry_TenThousandGrantsDueInTheSameSecond(t *testing.T) {
	const groups, users = 100, 100
	e := newEnv(t, groups, users)
	// Insert directly: the subject is the queue, not 10,000 Add calls.
	ctx := context.Background()
	var gids []string
	for gi := range groups {
		var ids []string
		for ui := range users {
			ids = append(ids, fmt.Sprint("uid-", ui))
		}
		e.dir.AddMembers(ctx, fmt.Sprint("gid-", gi), ids)
	}
	err := e.store.Update(ctx, func(tx store.Tx) error {
		for gi := range groups {
			for ui := range users {
				g := store.Grant{ID: fmt.Sprintf("g-%d-%d", gi, ui), Directory: "demo", GroupID: fmt.Sprint("gid-", gi), GroupName: fmt.Sprint("grp", gi),
					UserID: fmt.Sprint("uid-", ui), UserName: fmt.Sprint("u", ui), State: store.StateActive, Reason: "r", CreatedBy: "admin",
					StartsAt: start, ExpiresAt: start.Add(time.Hour + time.Duration(gi*users+ui)*time.Microsecond), CreatedAt: start, UpdatedAt: start}
				if err := tx.InsertGrant(g); err != nil {
					return err
				}
				gids = append(gids, g.ID)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour + time.Second)
	if n := e.runOnce(); n != groups*users {
		t.Fatalf("processed %d, want %d", n, groups*users)
	}
	counts, _ := e.store.CountGrants(ctx)
	if counts[store.StateRevoked] != groups*users {
		t.Fatalf("states after one pass: %v", counts)
	}
	if calls := e.conn.removes.Load(); calls != groups {
		t.Fatalf("%d RemoveMembers calls for %d groups; removals must be batched per group", calls, groups)
	}
	for gi := range groups {
		n := 0
		e.dir.ListMembers(ctx, fmt.Sprint("gid-", gi), func(string) error { n++; return nil })
		if n != 0 {
			t.Fatalf("group %d still has %d members", gi, n)
		}
	}
}

func TestScheduler_SleepsUntilDueAndWakesOnChange(t *testing.T) {
	e := newEnv(t, 1, 2)
	passes := make(chan struct{}, 16)
	batches := make(chan string, 16)
	e.sched.afterPass = func() { passes <- struct{}{} }
	e.sched.afterBatch = func(_, groupID string) { batches <- groupID }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.sched.Run(ctx) }()
	wait := func(what string) {
		t.Helper()
		select {
		case <-passes:
		case <-time.After(10 * time.Second):
			t.Fatalf("scheduler did not run a pass: %s", what)
		}
	}
	wait("start")
	if e.clock.Waiters() != 0 {
		t.Fatal("an empty queue set a timer: it must sleep until woken")
	}
	g := e.add("u0", "grp0", 10*time.Minute) // wakes the scheduler
	wait("woken by a new grant")
	e.clock.WaitForTimers(1, nil)
	e.clock.Advance(10 * time.Minute)
	wait("timer at expiry")
	<-batches
	if e.state(g.ID).State != store.StateRevoked || e.member("u0", "grp0") {
		t.Fatalf("grant not revoked when its timer fired: %s", e.state(g.ID).State)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestBackoff_GrowsWithJitterAndCaps(t *testing.T) {
	e := newEnv(t, 0, 0)
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 20: 5 * time.Minute} {
		for range 50 {
			if d := e.sched.delays.Delay(n); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s]", n, d, want/2, want)
			}
		}
	}
}

// TestGrant_WakesTheQueueOnceTheGrantIsDueable guards the wake-up order: the
// scheduler must be told about a grant after it is active (when NextDue sees
// it), not only while it is still being applied.
func TestGrant_WakesTheQueueOnceTheGrantIsDueable(t *testing.T) {
	e := newEnv(t, 1, 1)
	var seen []bool // at each wake: does NextDue see the grant?
	log := slog.New(slog.DiscardHandler)
	e.mgr = grant.New(grant.Config{MinDuration: time.Minute}, e.store, e.reg, e.clock, log, func() {
		_, ok, _ := e.store.NextDue(context.Background())
		seen = append(seen, ok)
	})
	e.add("u0", "grp0", time.Minute)
	if len(seen) == 0 || !seen[len(seen)-1] {
		t.Fatalf("wakes saw the grant as due-able: %v; the last wake must come after it is active", seen)
	}
}

func TestScheduler_ShutdownFinishesTheCallInFlight(t *testing.T) {
	e := newEnv(t, 1, 1)
	g := e.add("u0", "grp0", time.Minute)
	e.conn.inCall, e.conn.release = make(chan struct{}), make(chan struct{})
	e.clock.Advance(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.sched.Run(ctx) }()
	<-e.conn.inCall // the removal is in the directory
	cancel()        // SIGTERM arrives
	select {
	case <-done:
		t.Fatal("Run returned while a directory call was in flight")
	default:
	}
	close(e.conn.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := e.state(g.ID); s.State != store.StateRevoked || e.member("u0", "grp0") {
		t.Fatalf("after shutdown: %s, member=%v; the in-flight removal must finish and be recorded", s.State, e.member("u0", "grp0"))
	}
}

// TestGrant_RevokeOrExtendDuringApplyIsNotLost: a revoke that lands while the
// add is still in the directory must win over the add's outcome.
func TestGrant_RevokeDuringApplyIsNotLost(t *testing.T) {
	e := newEnv(t, 1, 1)
	e.conn.onAdd = func() {
		gs, _ := e.store.Grants(context.Background(), store.GrantFilter{States: []store.State{store.StateApplying}})
		if len(gs) != 1 {
			t.Errorf("applying grants: %d", len(gs))
			return
		}
		if _, err := e.mgr.Revoke(context.Background(), gs[0].ID, "secops", "changed my mind"); err != nil {
			t.Error(err)
		}
	}
	g := e.add("u0", "grp0", time.Hour)
	e.conn.onAdd = nil
	if s := e.state(g.ID); s.State != store.StateRevoking {
		t.Fatalf("after a revoke during the add: %s, want revoking", s.State)
	}
	e.runOnce()
	if s := e.state(g.ID); s.State != store.StateRevoked || e.member("u0", "grp0") {
		t.Fatalf("revoke during apply was lost: %s, member=%v", s.State, e.member("u0", "grp0"))
	}
}

// twoDirs adds a second demo directory "other" with one JIT-managed group.
func (e *env) addDirectory(t *testing.T, name string) *demo.Conn {
	t.Helper()
	seed := filepath.Join(t.TempDir(), "seed.json")
	writeJSON(t, seed, demo.Data{Users: []demo.User{{ID: "o-u", Login: "ou"}}, Groups: []demo.Group{{ID: "o-g", Name: "og"}}})
	conn, err := demo.New(demo.Config{File: filepath.Join(t.TempDir(), "dir.json"), Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	e.dirs[name] = &directories.Directory{Name: name, Conn: conn, Groups: map[string]directories.GroupPolicy{"og": {}}}
	return conn
}

// TestScheduler_StuckDirectoryDoesNotDelayAnother: while one directory's call
// hangs, a grant in another directory is still revoked when it falls due.
func TestScheduler_StuckDirectoryDoesNotDelayAnother(t *testing.T) {
	e := newEnv(t, 1, 1)
	stuck := e.add("u0", "grp0", time.Minute)
	other := e.addDirectory(t, "other")
	g, err := e.mgr.Add(context.Background(), grant.AddRequest{Directory: "other", User: "ou", Group: "og", Duration: 2 * time.Minute, Reason: "r", Actor: "a"})
	if err != nil {
		t.Fatal(err)
	}
	e.conn.inCall, e.conn.release = make(chan struct{}), make(chan struct{})
	batches := make(chan string, 16)
	e.sched.afterBatch = func(dir, _ string) { batches <- dir }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.sched.Run(ctx) }()

	e.clock.WaitForTimers(1, nil)
	e.clock.Advance(time.Minute)
	<-e.conn.inCall // the demo directory's removal hangs
	e.clock.WaitForTimers(1, nil)
	e.clock.Advance(time.Minute)
	if dir := <-batches; dir != "other" {
		t.Fatalf("first finished batch is for %s, want other", dir)
	}
	if s := e.state(g.ID); s.State != store.StateRevoked {
		t.Fatalf("grant in the answering directory is %s while another directory hangs", s.State)
	}
	if ok, _ := other.IsMember(context.Background(), "o-g", "o-u"); ok {
		t.Fatal("membership in the answering directory not removed")
	}
	close(e.conn.release)
	<-batches
	cancel()
	<-done
	if s := e.state(stuck.ID); s.State != store.StateRevoked {
		t.Fatalf("the hung directory's grant after release: %s", s.State)
	}
}

func TestExpiry_RateLimitIsNotFailureUntilItHoldsTooLong(t *testing.T) {
	e := newEnv(t, 1, 1)
	g := e.add("u0", "grp0", 5*time.Minute)
	e.conn.setFail(&connectors.RateLimitError{Wait: time.Minute})
	e.clock.Advance(5 * time.Minute)
	for range 10 { // ten minutes of rate limiting: throttling, not failure
		e.runOnce()
		e.clock.Advance(time.Minute)
	}
	if s := e.state(g.ID); s.State != store.StateRevoking || s.Attempts != 0 {
		t.Fatalf("after 10 minutes rate limited: %s, attempts %d; want revoking with no failed attempts", s.State, s.Attempts)
	}
	for range 7 {
		e.runOnce()
		e.clock.Advance(time.Minute)
	}
	if s := e.state(g.ID); s.State != store.StateRevokeFailed {
		t.Fatalf("after 16 minutes rate limited: %s; want revoke_failed (alerted)", s.State)
	}
	e.conn.setFail(nil)
	e.runOnce()
	if s := e.state(g.ID); s.State != store.StateRevoked {
		t.Fatalf("after the limit lifts: %s", s.State)
	}
}

// When the directory answers again, every removal waiting out its backoff
// goes at once, in batches: after an outage of any length nothing overdue
// waits for its next attempt.
func TestExpiry_RetryNowEndsTheBackoffWhenTheDirectoryIsBack(t *testing.T) {
	e := newEnv(t, 3, 20)
	var gs []store.Grant
	for i := range 20 {
		gs = append(gs, e.add(fmt.Sprint("u", i), fmt.Sprint("grp", i%3), time.Duration(5+i)*time.Minute))
	}
	e.conn.setFail(fmt.Errorf("dial: %w", connectors.ErrUnavailable))
	// A three-minute outage during which every grant falls due and fails,
	// some several times: their backoffs reach minutes.
	for end := e.clock.Now().Add(28 * time.Minute); e.clock.Now().Before(end); {
		e.runOnce()
		e.clock.Advance(10 * time.Second)
	}
	waiting := 0
	for _, g := range gs {
		if cur := e.state(g.ID); cur.NextAttempt.After(e.clock.Now().Add(30 * time.Second)) {
			waiting++
		}
	}
	if waiting == 0 {
		t.Fatal("no removal is waiting out a long backoff; the test proves nothing")
	}
	e.conn.setFail(nil)
	before := e.conn.removes.Load()
	n, err := e.sched.RetryNow(context.Background(), "demo")
	if err != nil || n < waiting {
		t.Fatalf("RetryNow = %d, %v; want at least the %d removals waiting out a backoff woken", n, err, waiting)
	}
	e.runOnce() // no time passes
	for _, g := range gs {
		if cur := e.state(g.ID); cur.State != store.StateRevoked {
			t.Fatalf("grant %s is %s after the directory came back: it waited for its backoff", g.ID, cur.State)
		}
	}
	for i := range 20 {
		if e.member(fmt.Sprint("u", i), fmt.Sprint("grp", i%3)) {
			t.Fatalf("u%d still a member", i)
		}
	}
	if calls := e.conn.removes.Load() - before; calls != 3 {
		t.Fatalf("%d removal calls after the outage for 3 groups, want 3 batches", calls)
	}
	if n, _ := e.sched.RetryNow(context.Background(), "demo"); n != 0 {
		t.Fatalf("RetryNow with nothing waiting = %d", n)
	}
}

// backAt is a Health that says the directory came back at a moment.
type backAt struct{ at time.Time }

func (b backAt) BackSince(_ string, t time.Time) bool { return b.at.After(t) }

// A removal whose call began before the directory came back failed on old
// news: it is retried at once, not after its backoff. One whose call began
// after is an ordinary failure.
func TestExpiry_FailureFromBeforeTheRecoveryIsRetriedAtOnce(t *testing.T) {
	e := newEnv(t, 1, 2)
	g := e.add("u0", "grp0", 5*time.Minute)
	e.clock.Advance(5 * time.Minute)
	e.conn.setFail(fmt.Errorf("dial: %w", connectors.ErrUnavailable))
	e.sched.Health = backAt{e.clock.Now().Add(time.Millisecond)} // came back during the call
	e.runOnce()
	if cur := e.state(g.ID); !cur.NextAttempt.Equal(e.clock.Now()) {
		t.Fatalf("next attempt %s from now, want at once", cur.NextAttempt.Sub(e.clock.Now()))
	}
	e.sched.Health = backAt{e.clock.Now().Add(-time.Millisecond)} // came back before the call
	e.runOnce()
	if cur := e.state(g.ID); !cur.NextAttempt.After(e.clock.Now()) {
		t.Fatal("a failure after the recovery was retried at once: a flapping directory would be hammered")
	}
}

// A directory that hangs until the call timeout fails few attempts in a
// long time; the removal is still alerted once it is alert_after overdue.
func TestExpiry_SlowFailuresAreAlertedAfterAlertAfter(t *testing.T) {
	e := newEnv(t, 1, 2)
	e.cfg.AlertAfter = 20 * time.Second
	e.open()
	var alerts []string
	e.sched.alert = func(g store.Grant, err error) { alerts = append(alerts, g.ID) }
	g := e.add("u0", "grp0", 5*time.Minute)
	e.clock.Advance(5 * time.Minute)
	e.conn.setFail(fmt.Errorf("no answer within 30s: %w", connectors.ErrUnavailable))
	e.runOnce()
	if cur := e.state(g.ID); cur.State != store.StateRevoking || len(alerts) != 0 {
		t.Fatalf("first failure, on time: %s, alerts %v", cur.State, alerts)
	}
	e.clock.Advance(31 * time.Second) // the next call hung for its timeout
	e.runOnce()
	if cur := e.state(g.ID); cur.State != store.StateRevokeFailed || cur.Attempts != 2 || len(alerts) != 1 {
		t.Fatalf("second failure 31s overdue: %s after %d attempts, alerts %v; want revoke_failed and one alert", cur.State, cur.Attempts, alerts)
	}
}

// A restart retries at once the removals the last run left in a backoff:
// the directory may have come back while jitd was down, and this run has
// seen no outage that would wake them.
func TestExpiry_RestartRetriesRemovalsInBackoffAtOnce(t *testing.T) {
	e := newEnv(t, 1, 2)
	g := e.add("u0", "grp0", 5*time.Minute)
	e.conn.setFail(fmt.Errorf("dial: %w", connectors.ErrUnavailable))
	e.clock.Advance(5 * time.Minute)
	for range 6 { // the backoff grows to about half a minute
		e.runOnce()
		next, _, _ := e.store.NextDue(context.Background())
		e.clock.Set(next)
	}
	e.runOnce()
	if wait := e.state(g.ID).NextAttempt.Sub(e.clock.Now()); wait < 10*time.Second {
		t.Fatalf("the removal waits only %s; the test needs a long backoff", wait)
	}
	e.conn.setFail(nil) // back while jitd restarts
	e.open()
	if err := e.sched.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.runOnce() // no time passes
	if got := e.state(g.ID); got.State != store.StateRevoked || e.member("u0", "grp0") {
		t.Fatalf("after the restart: %s, member %v; want removed at once", got.State, e.member("u0", "grp0"))
	}
}

// sessionsFaulty is the faulty directory that can also end sessions.
type sessionsFaulty struct {
	*faulty
	mu    sync.Mutex
	fail  error
	ended []string
}

func (s *sessionsFaulty) EndSessions(_ context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.ended = append(s.ended, userID)
	return nil
}

// With end_sessions, a removed membership queues the ending of the user's
// sessions: retried with backoff through a failing directory, alerted
// after max_attempts, done once it answers, and audited as its own fact. A
// membership left in place (pre-existing) ends no session.
func TestSessions_EndedAfterTheRemovalRetriedAndAlerted(t *testing.T) {
	e := newEnv(t, 1, 2)
	se := &sessionsFaulty{faulty: e.conn}
	e.dirs["demo"].Conn = se
	e.dirs["demo"].Groups["grp0"] = directories.GroupPolicy{EndSessions: true}
	var alerts []string
	sessions := NewSessions(Config{MaxAttempts: 3, MinBackoff: time.Second, MaxBackoff: time.Minute}, e.store, e.reg, e.clock, slog.New(slog.DiscardHandler),
		func(s store.SessionEnd, _ error) { alerts = append(alerts, s.GrantID) })
	e.sched.Sessions = sessions
	g := e.add("u0", "grp0", 5*time.Minute)
	e.clock.Advance(5 * time.Minute)
	se.mu.Lock()
	se.fail = fmt.Errorf("okta down: %w", connectors.ErrUnavailable)
	se.mu.Unlock()
	e.runOnce()
	if e.member("u0", "grp0") {
		t.Fatal("the membership was not removed")
	}
	for range 3 {
		if _, err := sessions.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		next, _, _ := e.store.NextSessionEndDue(context.Background())
		e.clock.Set(next)
	}
	if got, _ := e.store.SessionEnd(context.Background(), g.ID); got.State != store.SessionsFailed || got.Attempts != 3 || len(alerts) != 1 {
		t.Fatalf("after three failures: %+v, alerts %v; want failed and one alert", got, alerts)
	}
	se.mu.Lock()
	se.fail = nil
	se.mu.Unlock()
	if _, err := sessions.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.store.SessionEnd(context.Background(), g.ID); got.State != store.SessionsEnded || len(se.ended) != 1 || se.ended[0] != g.UserID {
		t.Fatalf("once the directory answers: %+v, ended %v", got, se.ended)
	}
	want := []string{audit.GrantRequested, audit.GrantActive, audit.GrantRevoking, audit.GrantRevoked, audit.SessionsEndFailed, audit.SessionsEnded}
	if a := e.actions(g.ID); !slices.Equal(a, want) {
		t.Fatalf("audit trail %v, want %v", a, want)
	}

	// A pre-existing membership is left in place: no session ends.
	e.dir.AddMembers(context.Background(), "gid-0", []string{"uid-1"})
	pre := e.add("u1", "grp0", 5*time.Minute)
	e.clock.Advance(5 * time.Minute)
	e.runOnce()
	if _, err := e.store.SessionEnd(context.Background(), pre.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a kept membership queued a session end: %v", err)
	}
}

// A grant's AddMembers that hangs holds its group's lock no longer than the
// directories' call timeout: a removal from the same group that falls due
// meanwhile waits for the lock, and runs once the hung call is cut.
func TestRegistry_HungAddMembersDelaysItsGroupsRevocationsAtMostTheCallTimeout(t *testing.T) {
	e := newEnv(t, 1, 2)
	const timeout = 300 * time.Millisecond
	e.reg = directories.NewRegistry(e.dirs, timeout)
	e.open()
	due := e.add("u0", "grp0", time.Minute)
	e.clock.Advance(2 * time.Minute)
	e.conn.hangAdd = make(chan struct{})
	applied := make(chan error, 1)
	go func() {
		_, err := e.mgr.Add(context.Background(), grant.AddRequest{User: "u1", Group: "grp0", Duration: time.Hour, Reason: "INC-2", Actor: "admin"})
		applied <- err
	}()
	select { // the apply holds grp0's lock and hangs
	case <-e.conn.hangAdd:
	case err := <-applied:
		t.Fatalf("the apply ended before its directory call: %v", err)
	}
	start := time.Now()
	e.runOnce()
	waited := time.Since(start)
	if err := <-applied; err == nil {
		t.Fatal("the hung AddMembers succeeded")
	}
	if s := e.state(due.ID); s.State != store.StateRevoked || e.member("u0", "grp0") {
		t.Fatalf("the due grant is %s (member %v); want revoked once the hung call was cut", s.State, e.member("u0", "grp0"))
	}
	// Bounded by the call timeout (with room for a slow machine), not by
	// the hung call, which would never have returned.
	if waited > timeout+5*time.Second {
		t.Fatalf("the removal waited %s for the group's lock; the call timeout is %s", waited, timeout)
	}
	t.Logf("the removal waited %s for the lock held by the hung apply (call timeout %s)", waited.Round(time.Millisecond), timeout)
}
