package expiry

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors/demo"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/poll"
)

// BenchmarkLateness: 100,000 grants scheduled in the store, of which 2,000 fall
// due over 10 seconds (200 a second), revoked by the running scheduler on the
// real clock against the demo connector. Reports p50/p99/max lateness: the
// time from expires_at to the recorded removal.
func BenchmarkLateness(b *testing.B) {
	const total, due, window = 100_000, 2_000, 10 * time.Second
	ctx := context.Background()
	for range b.N {
		dir := b.TempDir()
		data := demo.Data{}
		const groups = 20
		for i := range due {
			data.Users = append(data.Users, demo.User{ID: fmt.Sprint("uid-", i), Login: fmt.Sprint("u", i)})
		}
		for gi := range groups {
			g := demo.Group{ID: fmt.Sprint("gid-", gi), Name: fmt.Sprint("grp", gi)}
			for i := gi; i < due; i += groups {
				g.Members = append(g.Members, fmt.Sprint("uid-", i))
			}
			data.Groups = append(data.Groups, g)
		}
		seed := filepath.Join(dir, "seed.json")
		writeJSON(b, seed, data)
		conn, err := demo.New(demo.Config{File: filepath.Join(dir, "dir.json"), Seed: seed})
		if err != nil {
			b.Fatal(err)
		}
		st, err := sqlite.Open(ctx, filepath.Join(dir, "jitd.db"))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now().Add(3 * time.Second) // time to set up before the first is due
		err = st.Update(ctx, func(tx store.Tx) error {
			for i := range total {
				expires := start.Add(time.Duration(i) * window / due)
				if i >= due {
					expires = start.Add(24*time.Hour + time.Duration(i)*time.Second) // scheduled, not due in this run
				}
				g := store.Grant{ID: fmt.Sprint("g-", i), Directory: "demo", GroupID: fmt.Sprint("gid-", i%groups), GroupName: fmt.Sprint("grp", i%groups),
					UserID: fmt.Sprint("uid-", i%due), UserName: fmt.Sprint("u", i%due), State: store.StateActive, Reason: "bench", CreatedBy: "bench",
					StartsAt: start.Add(-time.Hour), ExpiresAt: expires, CreatedAt: start.Add(-time.Hour), UpdatedAt: start.Add(-time.Hour)}
				if i >= due {
					g.UserID, g.UserName = fmt.Sprint("other-", i), fmt.Sprint("other", i) // distinct users: no overlap with the due ones
				}
				if err := tx.InsertGrant(g); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		dirs := directories.Set{"demo": {Name: "demo", Conn: conn}}
		sched := New(Config{Owner: "bench"}, st, directories.NewRegistry(dirs, 0), clock.Real{}, slog.New(slog.DiscardHandler), nil, nil)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- sched.Run(runCtx) }()
		poll.Until(b, time.Until(start.Add(window+5*time.Second)), "the due grants to be revoked", func() bool {
			counts, _ := st.CountGrants(ctx)
			return counts[store.StateRevoked] == due
		})
		cancel()
		<-done
		revoked, err := st.Grants(ctx, store.GrantFilter{States: []store.State{store.StateRevoked}})
		if err != nil {
			b.Fatal(err)
		}
		if len(revoked) != due {
			b.Fatalf("%d of %d due grants revoked", len(revoked), due)
		}
		var late []time.Duration
		for _, g := range revoked {
			late = append(late, g.EndedAt.Sub(g.ExpiresAt))
		}
		slices.Sort(late)
		p := func(q float64) time.Duration { return late[int(q*float64(len(late)-1))] }
		b.ReportMetric(p(0.5).Seconds()*1000, "p50_ms")
		b.ReportMetric(p(0.99).Seconds()*1000, "p99_ms")
		b.ReportMetric(late[len(late)-1].Seconds()*1000, "max_ms")
		b.ReportMetric(0, "ns/op")
		fmt.Printf("revocation lateness, 2,000 of 100,000 scheduled grants due over 10s (demo connector): p50 %s, p99 %s, max %s\n",
			p(0.5).Round(100*time.Microsecond), p(0.99).Round(100*time.Microsecond), late[len(late)-1].Round(100*time.Microsecond))
		st.Close()
	}
}
