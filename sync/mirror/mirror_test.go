package mirror_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/demo"
	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/slapd"
	"github.com/jitd/jitd/sync/mirror"
)

var (
	srv      *slapd.Server
	startErr error
)

func TestMain(m *testing.M) {
	os.Exit(slapd.Main(m, slapd.Options{Users: 20, Groups: 5}, &srv, &startErr))
}

var quiet = slog.New(slog.DiscardHandler)

func ldapConn(t *testing.T) *ldap.Conn { return ldapConnTo(t, srv) }

func ldapConnTo(t testing.TB, srv *slapd.Server) *ldap.Conn {
	t.Helper()
	slapd.Need(t, srv, startErr)
	c, err := ldap.New(srv.ConnectorConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func admin(t *testing.T) *goldap.Conn {
	t.Helper()
	c, err := ownSrv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type env struct {
	t     *testing.T
	path  string
	store *sqlite.Store
	conns map[string]connectors.Connector
	m     *mirror.Mirror
}

func newEnv(t *testing.T, conns map[string]connectors.Connector) *env {
	e := &env{t: t, path: filepath.Join(t.TempDir(), "jitd.db"), conns: conns}
	e.restart()
	return e
}

// restart opens the store and a new mirror on the same file, as a restarted daemon would.
func (e *env) restart() {
	if e.store != nil {
		e.store.Close()
	}
	st, err := sqlite.Open(context.Background(), e.path)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	e.store = st
	sources := map[string]mirror.Source{}
	for name, c := range e.conns {
		sources[name] = mirror.Source{Conn: c}
	}
	e.m = mirror.New(mirror.Config{BatchSize: 3}, st, sources, clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)), quiet, nil)
}

func (e *env) sync(full bool) mirror.Result {
	e.t.Helper()
	r, err := e.m.Sync(context.Background(), "corp", full)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) members(group string) string {
	e.t.Helper()
	var out []string
	g, err := e.conns["corp"].(connectors.Resolver).LookupGroup(context.Background(), group)
	if err != nil {
		e.t.Fatal(err)
	}
	us, err := e.store.MirrorMembers(context.Background(), "corp", g.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, u := range us {
		out = append(out, u.Login)
	}
	return fmt.Sprint(out)
}

func modify(t *testing.T, dn string, fn func(*goldap.ModifyRequest)) {
	t.Helper()
	req := goldap.NewModifyRequest(dn, nil)
	fn(req)
	if err := admin(t).Modify(req); err != nil {
		t.Fatal(err)
	}
}

// ownSrv is TestMirror_LDAP's own server: the test deletes and renames entries.
var ownSrv *slapd.Server

func TestMirror_LDAP(t *testing.T) {
	slapd.Need(t, srv, startErr)
	var err error
	if ownSrv, err = slapd.Start(slapd.Options{Users: 20, Groups: 5}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ownSrv.Stop)
	e := newEnv(t, map[string]connectors.Connector{"corp": ldapConnTo(t, ownSrv)})
	grp := "cn=grp0001," + slapd.GroupBase

	r := e.sync(false)
	if !r.Full || r.Reason != "no cursor yet" || r.Counts.Users != 25 || r.Counts.Groups != 9 || r.Counts.Members != 0 {
		t.Fatalf("first sync: %+v", r)
	}

	t.Run("a member added by hand arrives incrementally", func(t *testing.T) {
		modify(t, grp, func(m *goldap.ModifyRequest) {
			m.Add("member", []string{"uid=alice," + slapd.PeopleBase, "uid=user00003," + slapd.PeopleBase})
		})
		r := e.sync(false)
		// The group changed; memberof also touches the two users' entries.
		if r.Full || r.Changes < 1 || r.Changes > 3 {
			t.Fatalf("sync after one change: %+v", r)
		}
		if got := e.members("grp0001"); got != "[alice user00003]" {
			t.Fatalf("members = %s", got)
		}
	})

	t.Run("restart resumes from the stored cursor", func(t *testing.T) {
		e.restart()
		modify(t, grp, func(m *goldap.ModifyRequest) { m.Delete("member", []string{"uid=user00003," + slapd.PeopleBase}) })
		r := e.sync(false)
		if r.Full || r.State.FullSyncs != 1 || r.State.IncrementalSyncs != 2 {
			t.Fatalf("after restart: %+v (state %+v); want incremental", r, r.State)
		}
		if got := e.members("grp0001"); got != "[alice]" {
			t.Fatalf("members = %s", got)
		}
	})

	t.Run("a rename keeps the identity", func(t *testing.T) {
		before, _ := e.store.MirrorUser(context.Background(), "corp", "user00007")
		if err := admin(t).ModifyDN(goldap.NewModifyDNRequest("uid=user00007,"+slapd.PeopleBase, "uid=user00007-renamed", true, "")); err != nil {
			t.Fatal(err)
		}
		modify(t, grp, func(m *goldap.ModifyRequest) { m.Add("member", []string{"uid=user00007-renamed," + slapd.PeopleBase}) })
		e.sync(false)
		after, err := e.store.MirrorUser(context.Background(), "corp", "user00007-renamed")
		if err != nil || after.ID != before.ID || after.DN == before.DN {
			t.Fatalf("renamed user: before %+v, after %+v (%v)", before, after, err)
		}
		if got := e.members("grp0001"); got != "[alice user00007-renamed]" {
			t.Fatalf("members = %s", got)
		}
	})

	t.Run("a deleted user leaves the mirror and its groups", func(t *testing.T) {
		if err := admin(t).Del(goldap.NewDelRequest("uid=user00007-renamed,"+slapd.PeopleBase, nil)); err != nil {
			t.Fatal(err)
		}
		r := e.sync(false)
		if r.Full {
			t.Fatalf("deletion needed a full sync: %+v", r)
		}
		if _, err := e.store.MirrorUser(context.Background(), "corp", "user00007-renamed"); err == nil {
			t.Fatal("deleted user still mirrored")
		}
		if got := e.members("grp0001"); got != "[alice]" {
			t.Fatalf("members = %s", got)
		}
	})

	t.Run("an expired cursor forces exactly one full sync", func(t *testing.T) {
		st, _ := e.store.SyncState(context.Background(), "corp")
		st.Cursor = "expired-cursor"
		e.store.Update(context.Background(), func(tx store.Tx) error { return tx.PutSyncState(st) })
		r := e.sync(false)
		if !r.Full || r.State.CursorExpired != 1 || r.State.FullSyncs != st.FullSyncs+1 {
			t.Fatalf("with an expired cursor: %+v (state %+v)", r, r.State)
		}
		r = e.sync(false)
		if r.Full || r.State.FullSyncs != st.FullSyncs+1 {
			t.Fatalf("the sync after the full one: %+v", r)
		}
		if got := e.members("grp0001"); got != "[alice]" {
			t.Fatalf("members after the full sync = %s", got)
		}
	})

	t.Run("a full sync sweeps what is gone", func(t *testing.T) {
		if err := admin(t).Del(goldap.NewDelRequest("uid=user00008,"+slapd.PeopleBase, nil)); err != nil {
			t.Fatal(err)
		}
		r := e.sync(true)
		if !r.Full || r.Removed != 1 || r.Counts.Users != 23 {
			t.Fatalf("forced full sync: %+v", r)
		}
	})
}

func TestMirror_ListerOnlyConnectorSyncsFully(t *testing.T) {
	c, err := demo.New(demo.Config{File: filepath.Join(t.TempDir(), "d.json"), Seed: "../../fixtures/demo/directory.json"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, map[string]connectors.Connector{"corp": c})
	r := e.sync(false)
	if !r.Full || r.Counts != (store.MirrorCounts{Users: 6, Groups: 5, Members: 6}) {
		t.Fatalf("demo sync: %+v", r)
	}
	if got := e.members("staff"); got != "[alice bob carol]" {
		t.Fatalf("staff = %s", got)
	}
	g, _ := c.LookupGroup(context.Background(), "staff")
	u, _ := c.LookupUser(context.Background(), "bob")
	c.RemoveMembers(context.Background(), g.ID, []string{u.ID})
	r = e.sync(false)
	if !r.Full || r.Reason != "the connector has no change feed" || e.members("staff") != "[alice carol]" {
		t.Fatalf("second demo sync: %+v, staff %s", r, e.members("staff"))
	}
}

func TestMirror_FailureIsRecordedAndUnknownDirectoryRefused(t *testing.T) {
	e := newEnv(t, map[string]connectors.Connector{"corp": ldapConn(t)})
	if _, err := e.m.Sync(context.Background(), "nope", false); err == nil {
		t.Fatal("sync of an unknown directory accepted")
	}
	bad, err := ldap.New(ldap.Config{URL: "ldaps://127.0.0.1:1", BindDN: "cn=x", BindPasswordEnv: "PATH", UserBase: "o=x", GroupBase: "o=x", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e = newEnv(t, map[string]connectors.Connector{"corp": bad})
	if _, err := e.m.Sync(context.Background(), "corp", false); err == nil {
		t.Fatal("sync of an unreachable directory succeeded")
	}
	st, _ := e.store.SyncState(context.Background(), "corp")
	if st.LastError == "" || st.LastErrorAt.IsZero() {
		t.Fatalf("failure not recorded: %+v", st)
	}
}

// demoMirror mirrors the demo directory every interval on a fake clock.
func demoMirror(t *testing.T, interval time.Duration) (*mirror.Mirror, store.Store, *clock.Fake) {
	t.Helper()
	c, err := demo.New(demo.Config{File: filepath.Join(t.TempDir(), "d.json"), Seed: "../../fixtures/demo/directory.json"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	return mirror.New(mirror.Config{}, st, map[string]mirror.Source{"demo": {Conn: c, Interval: interval}}, clk, quiet, nil), st, clk
}

func TestMirror_RunSyncsAtStartAndEveryInterval(t *testing.T) {
	m, st, clk := demoMirror(t, 10*time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	syncs := func() int64 {
		s, _ := st.SyncState(context.Background(), "demo")
		return s.FullSyncs
	}
	clk.WaitForTimers(1, nil) // synced, and asleep until the next interval
	if n := syncs(); n != 1 {
		t.Fatalf("syncs at start: %d", n)
	}
	clk.Advance(10*time.Minute - time.Second)
	if n := syncs(); n != 1 {
		t.Fatalf("synced before the interval: %d", n)
	}
	clk.Advance(time.Second)
	clk.WaitForTimers(1, nil)
	if n := syncs(); n != 2 {
		t.Fatalf("syncs after one interval: %d", n)
	}
	cancel()
	<-done
}

// A wake (jitd changed the directory itself) syncs at once, without
// waiting for the interval; wakes during a sync fold into one.
func TestMirror_WakeSyncsAtOnce(t *testing.T) {
	m, _, clk := demoMirror(t, time.Hour)
	synced := make(chan struct{}, 10)
	m.OnSynced = func(context.Context, string, time.Time) error { synced <- struct{}{}; return nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	<-synced // at start
	m.Wake("demo")
	<-synced // woken, with no time passing
	if clk.Now() != time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) {
		t.Fatal("the clock moved")
	}
	m.Wake("elsewhere") // an unknown directory is ignored
	cancel()
	<-done
	if len(synced) != 0 {
		t.Fatalf("%d syncs more than asked for", len(synced))
	}
}

func TestMirror_PollingServerSyncsIncrementally(t *testing.T) {
	slapd.Need(t, srv, startErr)
	plain, err := slapd.Start(slapd.Options{NoSyncrepl: true, Users: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Stop()
	e := newEnv(t, map[string]connectors.Connector{"corp": ldapConnTo(t, plain)})
	if r := e.sync(false); !r.Full {
		t.Fatalf("first sync: %+v", r)
	}
	a, err := plain.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	req := goldap.NewModifyRequest("cn=scratch,"+slapd.GroupBase, nil)
	req.Add("member", []string{"uid=bob," + slapd.PeopleBase})
	if err := a.Modify(req); err != nil {
		t.Fatal(err)
	}
	if r := e.sync(false); r.Full {
		t.Fatalf("polling sync was full: %+v", r)
	}
	if got := e.members("scratch"); got != "[bob]" {
		t.Fatalf("scratch = %s", got)
	}
}

// slowMembers is the demo directory whose member listing waits for a gate.
type slowMembers struct {
	*demo.Conn
	entered chan struct{}
	gate    chan struct{}
}

func (s *slowMembers) ListMembers(ctx context.Context, groupID string, fn func(string) error) error {
	select {
	case s.entered <- struct{}{}:
		<-s.gate
	default:
	}
	return s.Conn.ListMembers(ctx, groupID, fn)
}

// A sync under way reports its phase and what it has read; none is
// reported once it ends.
func TestProgress_ASyncUnderWayTellsWhatItHasRead(t *testing.T) {
	conn, err := demo.New(demo.Config{File: filepath.Join(t.TempDir(), "d.json"), Seed: "../../fixtures/demo/directory.json"})
	if err != nil {
		t.Fatal(err)
	}
	slow := &slowMembers{Conn: conn, entered: make(chan struct{}), gate: make(chan struct{})}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clock.NewFake(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	m := mirror.New(mirror.Config{}, st, map[string]mirror.Source{"demo": {Conn: slow}}, clk, quiet, nil)
	if _, ok := m.Progress("demo"); ok {
		t.Fatal("progress before any sync")
	}
	done := make(chan error)
	go func() {
		_, err := m.Sync(context.Background(), "demo", true)
		done <- err
	}()
	<-slow.entered
	p, ok := m.Progress("demo")
	// The demo directory has 6 users and 5 groups.
	if !ok || !p.Full || p.Phase != "reading members" || p.Objects != 11 || !p.Started.Equal(clk.Now()) {
		t.Fatalf("progress while reading members: %+v %v", p, ok)
	}
	close(slow.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p, ok := m.Progress("demo"); ok {
		t.Fatalf("progress after the sync: %+v", p)
	}
}

// failingStore fails its failAt-th write transaction (counting from 1) and
// counts them all.
type failingStore struct {
	*sqlite.Store
	updates, failAt int
}

func (f *failingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	f.updates++
	if f.updates == f.failAt {
		return errors.New("disk full")
	}
	return f.Store.Update(ctx, fn)
}

// An incremental sync writes its changes in bounded transactions (so that
// the expiry queue never waits long for the write lock) and commits the
// cursor with the last: cut short in between, it keeps the old cursor and
// the next sync converges.
func TestMirror_IncrementalWritesInBatchesAndTheCursorLast(t *testing.T) {
	slapd.Need(t, srv, startErr)
	e := newEnv(t, map[string]connectors.Connector{"corp": ldapConn(t)})
	e.sync(true)
	before, err := e.store.SyncState(context.Background(), "corp")
	if err != nil {
		t.Fatal(err)
	}
	adm, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	const changed = 7
	for i := 1; i <= changed; i++ {
		req := goldap.NewModifyRequest(slapd.UserDN(i), nil)
		req.Replace("displayName", []string{fmt.Sprint("Renamed ", i)})
		if err := adm.Modify(req); err != nil {
			t.Fatal(err)
		}
		defer func() {
			req := goldap.NewModifyRequest(slapd.UserDN(i), nil)
			req.Delete("displayName", nil)
			adm.Modify(req)
		}()
	}
	fs := &failingStore{Store: e.store, failAt: 2}
	m := mirror.New(mirror.Config{BatchSize: 2}, fs, map[string]mirror.Source{"corp": {Conn: e.conns["corp"]}}, clock.NewFake(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)), quiet, nil)
	if _, err := m.Sync(context.Background(), "corp", false); err == nil {
		t.Fatal("a sync whose second transaction failed reported success")
	}
	after, _ := e.store.SyncState(context.Background(), "corp")
	if after.Cursor != before.Cursor || after.IncrementalSyncs != before.IncrementalSyncs {
		t.Fatal("the cursor moved although not every change was written")
	}

	fs.updates, fs.failAt = 0, 0
	res, err := m.Sync(context.Background(), "corp", false)
	if err != nil || res.Full || res.Changes < changed {
		t.Fatalf("second sync: %+v %v", res, err)
	}
	if fs.updates < changed/2 {
		t.Fatalf("%d changes written in %d transactions, want at most 2 a transaction", res.Changes, fs.updates)
	}
	after, _ = e.store.SyncState(context.Background(), "corp")
	if after.Cursor == before.Cursor || after.IncrementalSyncs != before.IncrementalSyncs+1 {
		t.Fatalf("cursor not committed: %+v", after)
	}
	for i := 1; i <= changed; i++ {
		u, err := e.store.MirrorUser(context.Background(), "corp", fmt.Sprintf("user%05d", i))
		if err != nil || u.DisplayName != fmt.Sprint("Renamed ", i) {
			t.Fatalf("user%05d in the mirror: %+v %v", i, u, err)
		}
	}
}
