package grant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/demo"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/poll"
)

// gated is the demo directory whose first AddMembers call waits for a gate,
// and which counts its calls.
type gated struct {
	*demo.Conn
	gate    chan struct{}
	mu      sync.Mutex
	calls   [][]string
	entered chan struct{}
}

func (g *gated) AddMembers(ctx context.Context, group string, users []string) ([]connectors.MemberResult, error) {
	g.mu.Lock()
	first := len(g.calls) == 0
	g.calls = append(g.calls, users)
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.gate
	}
	return g.Conn.AddMembers(ctx, group, users)
}

func TestBatch_GrantsArrivingDuringAnAddShareOneCallAndOneBadOneSinksNothing(t *testing.T) {
	const n = 20
	dir := t.TempDir()
	data := demo.Data{Groups: []demo.Group{{ID: "g-db", Name: "prod-db-admins", Members: []string{}}}}
	for i := range n + 1 {
		data.Users = append(data.Users, demo.User{ID: fmt.Sprintf("u-%02d", i), Login: fmt.Sprintf("user%02d", i)})
	}
	seed, _ := json.Marshal(data)
	os.WriteFile(filepath.Join(dir, "seed.json"), seed, 0o600)
	conn, err := demo.New(demo.Config{File: filepath.Join(dir, "d.json"), Seed: filepath.Join(dir, "seed.json")})
	if err != nil {
		t.Fatal(err)
	}
	g := &gated{Conn: conn, gate: make(chan struct{}), entered: make(chan struct{})}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	m := New(Config{MinDuration: time.Minute, MaxDuration: 24 * time.Hour}, st,
		directories.NewRegistry(directories.Set{"d": {Name: "d", Conn: g, Groups: map[string]directories.GroupPolicy{"prod-db-admins": {}}}}, 0), clk, slog.New(slog.DiscardHandler), nil)
	ctx := context.Background()
	add := func(i int, within func(store.Tx, store.Grant) error) (store.Grant, error) {
		return m.Add(ctx, AddRequest{Directory: "d", User: fmt.Sprintf("user%02d", i), Group: "prod-db-admins", Duration: time.Hour, Reason: "r", Actor: "t", Within: within})
	}
	firstDone := make(chan error, 1)
	go func() { _, err := add(0, nil); firstDone <- err }()
	<-g.entered // the first grant is in its directory call, holding the group
	type out struct {
		i   int
		g   store.Grant
		err error
	}
	outs := make(chan out, n)
	refused := errors.New("the request behind this grant cannot be recorded")
	for i := 1; i <= n; i++ {
		var within func(store.Tx, store.Grant) error
		if i == 7 {
			within = func(store.Tx, store.Grant) error { return refused }
		}
		go func() { gr, err := add(i, within); outs <- out{i, gr, err} }()
	}
	poll.Until(t, 10*time.Second, "the other grants to queue", func() bool {
		return m.applies.Pending([2]string{"d", "g-db"}) == n
	})
	close(g.gate)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	for range n {
		o := <-outs
		if o.i == 7 {
			if !errors.Is(o.err, refused) || o.g.ID != "" {
				t.Errorf("grant 7: %+v %v; want the Within error and no grant", o.g, o.err)
			}
			continue
		}
		if o.err != nil || o.g.State != store.StateActive {
			t.Errorf("grant %d: %s %v", o.i, o.g.State, o.err)
		}
	}
	if len(g.calls) != 2 || len(g.calls[1]) != n-1 {
		t.Fatalf("directory calls: %v; want the first alone, then the other %d in one", g.calls, n-1)
	}
	live, _ := st.Grants(ctx, store.GrantFilter{States: []store.State{store.StateActive}})
	if len(live) != n {
		t.Fatalf("%d active grants, want %d", len(live), n)
	}
	grp, _ := conn.LookupGroup(ctx, "prod-db-admins")
	for i := range n + 1 {
		u, _ := conn.LookupUser(ctx, fmt.Sprintf("user%02d", i))
		if in, _ := conn.IsMember(ctx, grp.ID, u.ID); in != (i != 7) {
			t.Errorf("user%02d member: %v", i, in)
		}
	}
}
