package grant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/demo"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
)

// timed is the demo directory with a native TTL: it records the end each
// membership was given, and can fail.
type timed struct {
	*demo.Conn
	ends map[string]time.Time // user id -> end given
	fail error
}

func (t *timed) Describe() connectors.Description {
	return connectors.Description{Kind: "demo", NativeTTL: true}
}

func (t *timed) AddMembersUntil(ctx context.Context, group string, users []string, until time.Time) ([]connectors.MemberResult, error) {
	if t.fail != nil {
		return nil, t.fail
	}
	for _, u := range users {
		t.ends[u] = until
	}
	return t.Conn.AddMembers(ctx, group, users)
}

// demoAndStore is the demo directory, a store and a fake clock.
func demoAndStore(t *testing.T) (*demo.Conn, *sqlite.Store, *clock.Fake) {
	t.Helper()
	conn, err := demo.New(demo.Config{File: filepath.Join(t.TempDir(), "d.json"), Seed: "../../fixtures/demo/directory.json"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return conn, st, clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
}

func newTimed(t *testing.T) (*Manager, *timed, *clock.Fake) {
	t.Helper()
	conn, st, clk := demoAndStore(t)
	dir := &timed{Conn: conn, ends: map[string]time.Time{}}
	dirs := directories.Set{"d": {Name: "d", Conn: dir, Groups: map[string]directories.GroupPolicy{"prod-db-admins": {}}}}
	return New(Config{MinDuration: time.Minute, MaxDuration: 24 * time.Hour}, st, directories.NewRegistry(dirs, 0), clk, slog.New(slog.DiscardHandler), nil), dir, clk
}

// With a native TTL, the directory is told the latest end among the grants
// covering a membership, and an extension moves it there first.
func TestNativeTTL_DirectoryHoldsTheLatestEndOfTheLiveGrants(t *testing.T) {
	m, dir, clk := newTimed(t)
	ctx := context.Background()
	add := func(d time.Duration) store.Grant {
		t.Helper()
		g, err := m.Add(ctx, AddRequest{User: "alice", Group: "prod-db-admins", Duration: d, Reason: "INC-1", Actor: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	long := add(4 * time.Hour)
	alice := long.UserID
	if got := dir.ends[alice]; !got.Equal(clk.Now().Add(4 * time.Hour)) {
		t.Fatalf("end given to the directory: %v, want the grant's end", got)
	}
	add(time.Hour) // a shorter overlapping grant must not shorten the directory's end
	if got := dir.ends[alice]; !got.Equal(long.ExpiresAt) {
		t.Fatalf("after a shorter overlapping grant the directory ends it at %v, want %v", got, long.ExpiresAt)
	}
	ext, err := m.Extend(ctx, long.ID, 2*time.Hour, time.Time{}, "admin", "more")
	if err != nil {
		t.Fatal(err)
	}
	if got := dir.ends[alice]; !got.Equal(ext.ExpiresAt) {
		t.Fatalf("after extension the directory ends it at %v, want %v", got, ext.ExpiresAt)
	}
	// When the directory cannot move its end, the extension changes nothing.
	dir.fail = fmt.Errorf("dc down: %w", connectors.ErrUnavailable)
	if _, err := m.Extend(ctx, long.ID, time.Hour, time.Time{}, "admin", "more"); !errors.Is(err, ErrDirectory) {
		t.Fatalf("extension while the directory fails: %v, want ErrDirectory", err)
	}
	if g, _ := m.store.Grant(ctx, long.ID); !g.ExpiresAt.Equal(ext.ExpiresAt) {
		t.Fatalf("grant end moved to %v although the directory failed", g.ExpiresAt)
	}
}

// slowLookup is the demo directory whose lookups take 10ms of the fake
// clock and whose adds can hang until their deadline.
type slowLookup struct {
	*demo.Conn
	clock *clock.Fake
	hang  bool
}

func (s *slowLookup) LookupUser(ctx context.Context, login string) (connectors.User, error) {
	s.clock.Advance(10 * time.Millisecond)
	return s.Conn.LookupUser(ctx, login)
}

func (s *slowLookup) IsMember(ctx context.Context, group, user string) (bool, error) {
	if s.hang {
		<-ctx.Done()
		return false, fmt.Errorf("no answer: %w: %w", connectors.ErrUnavailable, ctx.Err())
	}
	return s.Conn.IsMember(ctx, group, user)
}

func newSlow(t *testing.T, cfg Config, callTimeout time.Duration) (*Manager, *slowLookup) {
	t.Helper()
	conn, st, clk := demoAndStore(t)
	dir := &slowLookup{Conn: conn, clock: clk}
	dirs := directories.Set{"d": {Name: "d", Conn: dir, Groups: map[string]directories.GroupPolicy{"prod-db-admins": {}}}}
	return New(cfg, st, directories.NewRegistry(dirs, callTimeout), clk, slog.New(slog.DiscardHandler), nil), dir
}

// A grant asked for 30s lasts 30s: its start and end come from one instant,
// however long the directory lookups took.
func TestGrant_DurationIsExact(t *testing.T) {
	m, _ := newSlow(t, Config{MinDuration: time.Second, MaxDuration: time.Hour}, 0)
	g, err := m.Add(context.Background(), AddRequest{User: "alice", Group: "prod-db-admins", Duration: 30 * time.Second, Reason: "INC-1", Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if d := g.ExpiresAt.Sub(g.StartsAt); d != 30*time.Second {
		t.Fatalf("expires_at - starts_at = %s, want exactly 30s", d)
	}
}

// A directory that hangs cannot hold a grant (and its group's lock, which
// removals need) past the call timeout.
func TestGrant_HungDirectoryCallIsCutAtTheCallTimeout(t *testing.T) {
	m, dir := newSlow(t, Config{MinDuration: time.Second, MaxDuration: time.Hour}, 50*time.Millisecond)
	dir.hang = true
	done := make(chan error, 1)
	go func() {
		_, err := m.Add(context.Background(), AddRequest{User: "alice", Group: "prod-db-admins", Duration: time.Minute, Reason: "INC-1", Actor: "admin"})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrDirectory) || !errors.Is(err, connectors.ErrUnavailable) {
			t.Fatalf("grant on a hung directory: %v, want a directory error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the grant hung with its directory: the call timeout did not cut it")
	}
}
