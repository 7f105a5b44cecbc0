package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
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

// flaky wraps the demo directory and fails its account calls on demand.
type flaky struct {
	*demo.Conn
	mu   sync.Mutex
	fail error
}

func (f *flaky) failure() error { f.mu.Lock(); defer f.mu.Unlock(); return f.fail }
func (f *flaky) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}
func (f *flaky) SetAccountEnabled(ctx context.Context, id string, on bool) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Conn.SetAccountEnabled(ctx, id, on)
}
func (f *flaky) DeleteAccount(ctx context.Context, id string) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Conn.DeleteAccount(ctx, id)
}
func (f *flaky) SetAccountExpiry(ctx context.Context, id string, until time.Time) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Conn.SetAccountExpiry(ctx, id, until)
}

type env struct {
	t      *testing.T
	clock  *clock.Fake
	store  *sqlite.Store
	dir    *flaky
	path   string
	mgr    *Manager
	grants *grant.Manager
	alerts []string
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	e := &env{t: t, clock: clock.NewFake(start), path: filepath.Join(t.TempDir(), "dir.json")}
	conn, err := demo.New(demo.Config{File: e.path, Seed: "../../fixtures/demo/directory.json"})
	if err != nil {
		t.Fatal(err)
	}
	e.dir = &flaky{Conn: conn}
	e.store, err = sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	dirs := directories.Set{"corp": {Name: "corp", Conn: e.dir, Groups: map[string]directories.GroupPolicy{"prod-db-admins": {}}}}
	log := slog.New(slog.DiscardHandler)
	reg := directories.NewRegistry(dirs, 0)
	e.grants = grant.New(grant.Config{MinDuration: time.Minute, MaxDuration: 24 * time.Hour}, e.store, reg, e.clock, log, nil)
	e.mgr = New(cfg, e.store, reg, e.grants, e.clock, log, func(a store.Account, err error) { e.alerts = append(e.alerts, a.ID) })
	return e
}

func (e *env) create(login string, until time.Duration) Created {
	e.t.Helper()
	c, err := e.mgr.Create(context.Background(), CreateRequest{Login: login, Email: login + "@vendor.example", GivenName: "Ann", Surname: "Lee",
		Sponsor: "bob", Until: start.Add(until), Reason: "contract C-7", Actor: "admin"})
	if err != nil {
		e.t.Fatalf("Create(%s): %v", login, err)
	}
	return c
}

// user reads the account as the directory holds it.
func (e *env) user(login string) (connectors.User, bool) {
	e.t.Helper()
	u, err := e.dir.LookupUser(context.Background(), login)
	if errors.Is(err, connectors.ErrNotFound) {
		return u, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return u, true
}

func (e *env) runAt(at time.Time) {
	e.t.Helper()
	e.clock.Set(at)
	if _, err := e.mgr.RunOnce(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) state(id string) store.Account {
	e.t.Helper()
	a, err := e.store.Account(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) actions(id string) []string {
	e.t.Helper()
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

func TestAccount_EnabledUntilItsEndDisabledThenDeletedAfterRetention(t *testing.T) {
	e := newEnv(t, Config{Retention: 7 * 24 * time.Hour})
	c := e.create("ann.lee", 48*time.Hour)
	if c.Account.State != store.AccountActive || c.Account.ExternalID == "" {
		t.Fatalf("created = %+v", c.Account)
	}
	if u, ok := e.user("ann.lee"); !ok || !u.Enabled {
		t.Fatalf("in the directory after create: %+v %v; want enabled", u, ok)
	}
	e.runAt(start.Add(48*time.Hour - time.Nanosecond))
	if u, _ := e.user("ann.lee"); !u.Enabled {
		t.Fatal("disabled before its end")
	}
	e.runAt(start.Add(48 * time.Hour))
	if u, _ := e.user("ann.lee"); u.Enabled {
		t.Fatal("still enabled at its end")
	}
	if a := e.state(c.Account.ID); a.State != store.AccountDisabled || !a.DisabledAt.Equal(start.Add(48*time.Hour)) {
		t.Fatalf("at the end: %+v", a)
	}
	e.runAt(start.Add(48*time.Hour + 7*24*time.Hour - time.Nanosecond))
	if _, ok := e.user("ann.lee"); !ok {
		t.Fatal("deleted before the retention ended")
	}
	e.runAt(start.Add(48*time.Hour + 7*24*time.Hour))
	if _, ok := e.user("ann.lee"); ok {
		t.Fatal("still in the directory after retention")
	}
	want := []string{audit.AccountCreating, audit.AccountCreated, audit.AccountDisabling, audit.AccountDisabled, audit.AccountDeleting, audit.AccountDeleted}
	if got := e.actions(c.Account.ID); !slices.Equal(got, want) {
		t.Fatalf("audit = %v, want %v", got, want)
	}
	// The login is free again for a new contract.
	if _, err := e.mgr.Create(context.Background(), CreateRequest{Login: "ann.lee", Sponsor: "bob", Until: e.clock.Now().Add(time.Hour), Reason: "renewal", Actor: "admin"}); err != nil {
		t.Fatalf("re-create after deletion: %v", err)
	}
}

func TestAccount_BadRequestsChangeNothing(t *testing.T) {
	e := newEnv(t, Config{MaxDuration: 90 * 24 * time.Hour})
	e.create("taken", time.Hour)
	base := CreateRequest{Login: "new.one", Sponsor: "bob", Until: start.Add(time.Hour), Reason: "contract", Actor: "admin"}
	for name, mutate := range map[string]func(*CreateRequest){
		"no login":         func(r *CreateRequest) { r.Login = " " },
		"no sponsor":       func(r *CreateRequest) { r.Sponsor = "" },
		"unknown sponsor":  func(r *CreateRequest) { r.Sponsor = "nobody" },
		"disabled sponsor": func(r *CreateRequest) { r.Sponsor = "dave" },
		"no reason":        func(r *CreateRequest) { r.Reason = "" },
		"no end":           func(r *CreateRequest) { r.Until = time.Time{} },
		"end in the past":  func(r *CreateRequest) { r.Until = start.Add(-time.Second) },
		"too long":         func(r *CreateRequest) { r.Until = start.Add(91 * 24 * time.Hour) },
		"live login":       func(r *CreateRequest) { r.Login = "taken" },
		"no directory":     func(r *CreateRequest) { r.Directory = "elsewhere" },
		// The login of anyone in the directory, not only in the
		// contractors' container: an employee's.
		"an employee's login":       func(r *CreateRequest) { r.Login = "alice" },
		"a look-alike (Cyrillic а)": func(r *CreateRequest) { r.Login = "\u0430lice" },
		"upper case":                func(r *CreateRequest) { r.Login = "Alice" },
		"a space":                   func(r *CreateRequest) { r.Login = "new one" },
		"a control character":       func(r *CreateRequest) { r.Login = "new\x00one" },
		"a login too long":          func(r *CreateRequest) { r.Login = strings.Repeat("x", 65) },
		"a DN-ish login":            func(r *CreateRequest) { r.Login = "x,ou=admins" },
		"reason on two lines":       func(r *CreateRequest) { r.Reason = "a\nb" },
	} {
		t.Run(name, func(t *testing.T) {
			req := base
			mutate(&req)
			_, err := e.mgr.Create(context.Background(), req)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			all, _ := e.store.Accounts(context.Background(), store.AccountFilter{})
			if len(all) != 1 {
				t.Fatalf("%d accounts stored, want only the first", len(all))
			}
			if _, ok := e.user("new.one"); ok {
				t.Fatal("the account was created in the directory")
			}
		})
	}
}

func TestAccount_DisableRetriedThroughAnOutageAndAlertedWhenItKeepsFailing(t *testing.T) {
	e := newEnv(t, Config{MaxAttempts: 3, MinBackoff: time.Second, MaxBackoff: time.Minute})
	c := e.create("ann.lee", time.Hour)
	e.dir.setFail(fmt.Errorf("dc down: %w", connectors.ErrUnavailable))
	at := start.Add(time.Hour)
	for i := 1; i <= 3; i++ {
		e.runAt(at)
		a := e.state(c.Account.ID)
		if a.Attempts != i || a.NextAttempt.Before(at) {
			t.Fatalf("attempt %d: %+v", i, a)
		}
		at = a.NextAttempt
	}
	if a := e.state(c.Account.ID); a.State != store.AccountDisableFailed || len(e.alerts) != 1 {
		t.Fatalf("after 3 failures: state %s, alerts %v; want disable_failed and one alert", a.State, e.alerts)
	}
	if u, _ := e.user("ann.lee"); !u.Enabled {
		t.Fatal("the account changed although the directory failed")
	}
	// A rate limit does not count as a failure, and its wait is honoured.
	e.dir.setFail(&connectors.RateLimitError{Wait: 10 * time.Minute})
	e.runAt(at)
	if a := e.state(c.Account.ID); a.Attempts != 3 || !a.NextAttempt.Equal(at.Add(10*time.Minute)) {
		t.Fatalf("after a rate limit: attempts %d next %v", a.Attempts, a.NextAttempt)
	}
	e.dir.setFail(nil)
	e.runAt(at.Add(10 * time.Minute))
	if a := e.state(c.Account.ID); a.State != store.AccountDisabled {
		t.Fatalf("after the outage: %s", a.State)
	}
	if u, _ := e.user("ann.lee"); u.Enabled {
		t.Fatal("still enabled after the outage")
	}
}

// A crash after the directory created the account but before jitd recorded
// it: the queue retries, finds the account by its marker, adopts it, and
// says the password was never delivered.
func TestAccount_CrashBetweenCreateAndRecordIsAdopted(t *testing.T) {
	e := newEnv(t, Config{})
	now := start
	a := store.Account{ID: NewID(), Directory: "corp", Login: "ann.lee", Sponsor: "bob", CreatedBy: "admin", Reason: "contract",
		State: store.AccountCreating, EndsAt: now.Add(time.Hour), DeleteAt: now.Add(2 * time.Hour), CreatedAt: now, UpdatedAt: now, NextAttempt: now.Add(time.Minute)}
	if err := e.store.Update(context.Background(), func(tx store.Tx) error { return tx.InsertAccount(a) }); err != nil {
		t.Fatal(err)
	}
	made, err := e.dir.CreateAccount(context.Background(), connectors.AccountSpec{Login: "ann.lee", Activate: false})
	if err != nil {
		t.Fatal(err)
	}
	e.runAt(now.Add(30 * time.Second))
	if got := e.state(a.ID); got.State != store.AccountCreating {
		t.Fatalf("picked up before its call could have finished: %s", got.State)
	}
	e.runAt(now.Add(time.Minute))
	got := e.state(a.ID)
	if got.State != store.AccountActive || got.ExternalID != made.ID || got.PasswordDelivered {
		t.Fatalf("after restart: %+v; want active, adopted as %s, password not delivered", got, made.ID)
	}
	if u, _ := e.user("ann.lee"); !u.Enabled {
		t.Fatal("adopted account is not enabled")
	}
	// An existing user jitd did not create is never adopted.
	b := a
	b.ID, b.Login = NewID(), "alice"
	e.store.Update(context.Background(), func(tx store.Tx) error { return tx.InsertAccount(b) })
	e.runAt(now.Add(time.Minute))
	if got := e.state(b.ID); got.State != store.AccountCreateFailed {
		t.Fatalf("alice's row: %s, want create_failed", got.State)
	}
	if u, _ := e.user("alice"); !u.Enabled {
		t.Fatal("alice was changed")
	}
}

func TestAccount_ExtendMovesTheDirectoryEndDateOrChangesNothing(t *testing.T) {
	e := newEnv(t, Config{Retention: 24 * time.Hour})
	c := e.create("ann.lee", time.Hour)
	e.dir.setFail(fmt.Errorf("dc down: %w", connectors.ErrUnavailable))
	if _, err := e.mgr.Extend(context.Background(), c.Account.ID, start.Add(48*time.Hour), "bob", "contract extended"); !errors.Is(err, ErrDirectory) {
		t.Fatalf("extend while the directory fails: %v", err)
	}
	if a := e.state(c.Account.ID); !a.EndsAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("end moved although the directory failed: %v", a.EndsAt)
	}
	e.dir.setFail(nil)
	a, err := e.mgr.Extend(context.Background(), c.Account.ID, start.Add(48*time.Hour), "bob", "contract extended")
	if err != nil || !a.EndsAt.Equal(start.Add(48*time.Hour)) || !a.DeleteAt.Equal(start.Add(72*time.Hour)) {
		t.Fatalf("extend = %+v, %v", a, err)
	}
	e.runAt(start.Add(2 * time.Hour))
	if u, _ := e.user("ann.lee"); !u.Enabled {
		t.Fatal("disabled at the old end date")
	}
	if _, err := e.mgr.Extend(context.Background(), c.Account.ID, start.Add(time.Minute), "bob", "oops"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("extend into the past: %v", err)
	}
}

func TestAccount_DisablingEndsTheAccountsGrants(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.create("ann.lee", 24*time.Hour)
	g, err := e.grants.Add(context.Background(), grant.AddRequest{Directory: "corp", User: "ann.lee", Group: "prod-db-admins", Duration: 4 * time.Hour, Reason: "deploy", Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.mgr.Disable(context.Background(), c.Account.ID, "bob", "contract ended early"); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.user("ann.lee"); u.Enabled {
		t.Fatal("still enabled")
	}
	if got, _ := e.store.Grant(context.Background(), g.ID); got.State != store.StateRevoking {
		t.Fatalf("the account's grant is %s, want revoking", got.State)
	}
	// Delete skips the retention.
	if _, err := e.mgr.Delete(context.Background(), c.Account.ID, "bob", "data request"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.user("ann.lee"); ok {
		t.Fatal("still in the directory after delete")
	}
}

func TestAccount_SponsorOffboarding(t *testing.T) {
	for _, rule := range []string{SponsorDisable, SponsorReassign} {
		t.Run(rule, func(t *testing.T) {
			e := newEnv(t, Config{SponsorOffboarding: rule, ReassignTo: "carol"})
			c := e.create("ann.lee", 24*time.Hour)
			other, err := e.mgr.Create(context.Background(), CreateRequest{Login: "zed", Sponsor: "carol", Until: start.Add(time.Hour), Reason: "x", Actor: "admin"})
			if err != nil {
				t.Fatal(err)
			}
			n, err := e.mgr.SponsorGone(context.Background(), "corp", "bob", "is disabled in the directory")
			if err != nil || n != 1 {
				t.Fatalf("SponsorGone = %d, %v", n, err)
			}
			a := e.state(c.Account.ID)
			switch rule {
			case SponsorDisable:
				if a.State != store.AccountDisabled {
					t.Fatalf("account of the departed sponsor: %s", a.State)
				}
			case SponsorReassign:
				if a.State != store.AccountActive || a.Sponsor != "carol" {
					t.Fatalf("account of the departed sponsor: %s sponsored by %s", a.State, a.Sponsor)
				}
			}
			if o := e.state(other.Account.ID); o.State != store.AccountActive || o.Sponsor != "carol" {
				t.Fatalf("another sponsor's account changed: %+v", o)
			}
		})
	}
}

// Run sleeps until the next due account and wakes for it: no polling.
func TestAccount_RunWakesAtTheEndDate(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.create("ann.lee", time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.mgr.Run(ctx) }()
	stopped := make(chan struct{})
	e.clock.WaitForTimers(1, stopped) // asleep until the end date
	if a := e.state(c.Account.ID); a.State != store.AccountActive {
		t.Fatalf("before the end: %s", a.State)
	}
	e.clock.Advance(time.Hour)
	// Having disabled it, Run sleeps again, now until the deletion date.
	e.clock.WaitForTimers(1, stopped)
	if a := e.state(c.Account.ID); a.State != store.AccountDisabled {
		t.Fatalf("after the end: %s", a.State)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// hanging blocks its account disables until released.
type hanging struct {
	*demo.Conn
	entered chan struct{}
	release chan struct{}
}

func (h *hanging) SetAccountEnabled(ctx context.Context, id string, on bool) error {
	if !on {
		h.entered <- struct{}{}
		<-h.release
	}
	return h.Conn.SetAccountEnabled(ctx, id, on)
}

// A directory whose disable hangs does not hold up the contractors of
// another directory: the queue works directories side by side.
func TestQueue_AHungDirectoryDoesNotHoldUpAnother(t *testing.T) {
	e := newEnv(t, Config{})
	slowConn, err := demo.New(demo.Config{File: filepath.Join(t.TempDir(), "slow.json"), Seed: "../../fixtures/demo/directory.json"})
	if err != nil {
		t.Fatal(err)
	}
	slow := &hanging{Conn: slowConn, entered: make(chan struct{}), release: make(chan struct{})}
	dirs := directories.Set{
		"corp": {Name: "corp", Conn: e.dir, Groups: map[string]directories.GroupPolicy{}},
		"slow": {Name: "slow", Conn: slow, Groups: map[string]directories.GroupPolicy{}},
	}
	mgr := New(Config{}, e.store, directories.NewRegistry(dirs, 0), nil, e.clock, slog.New(slog.DiscardHandler), nil)
	ctx := context.Background()
	// The slow directory's account ends first: worked one at a time, it
	// would be first in line.
	var ids = map[string]string{}
	for i, dir := range []string{"slow", "corp"} {
		c, err := mgr.Create(ctx, CreateRequest{Directory: dir, Login: "c-" + dir, Email: "c@vendor.example", GivenName: "Ann", Surname: "Lee",
			Sponsor: "bob", Until: start.Add(time.Duration(i+1) * 30 * time.Minute), Reason: "contract C-7", Actor: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		ids[dir] = c.Account.ID
	}
	e.clock.Set(start.Add(time.Hour + time.Second))
	done := make(chan error)
	go func() {
		_, err := mgr.RunOnce(ctx)
		done <- err
	}()
	<-slow.entered                             // the slow directory's disable is in flight, and hangs
	giveUp := time.Now().Add(10 * time.Second) // a guard, not a wait: the answer comes at once or never
	for {
		a, err := e.store.Account(ctx, ids["corp"])
		if err != nil {
			t.Fatal(err)
		}
		if a.State == store.AccountDisabled {
			break // disabled while the other directory hangs
		}
		select {
		case err := <-done:
			t.Fatalf("the pass ended (%v) with corp's account %s", err, a.State)
		default:
			runtime.Gosched()
		}
		if time.Now().After(giveUp) {
			close(slow.release)
			t.Fatalf("corp's account is still %s while the slow directory's disable hangs", a.State)
		}
	}
	close(slow.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a, _ := e.store.Account(ctx, ids["slow"]); a.State != store.AccountDisabled {
		t.Fatalf("the slow directory's account is %s after its call returned", a.State)
	}
}
