package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/orphans"
	"github.com/jitd/jitd/fixtures/poll"
	"github.com/jitd/jitd/fixtures/rss"
	"github.com/jitd/jitd/fixtures/slapd"
	"github.com/jitd/jitd/sync/mirror"
)

// BenchmarkMillionScheduled: the daemon binary with 1,000,000 grants in its
// store, every one a real membership on a slapd of 10,000 users in 100
// JIT-managed groups.
//
//  1. 30,000 of them fall due over 30 seconds (1,000 a second) while the
//     daemon runs: lateness p50/p99/max from expiry to the recorded removal,
//     and the daemon's resident memory (peak over its whole life and at the
//     end of the window). The mirror is synced in full beforehand, as on a
//     running installation, so the daemon's own syncs are incremental.
//  2. The daemon is killed with SIGKILL, and 100,000 more fall due while it
//     is down. On restart: time from exec until the first and the last of
//     them is revoked, and the rate.
func BenchmarkMillionScheduled(b *testing.B) {
	const (
		users, groups = 10_000, 100
		total         = users * groups
		window        = 30 * time.Second
		perSecond     = 1_000
		dueLive       = perSecond * 30 // falling due while the daemon runs
		dueDown       = 100_000        // falling due while it is down
		lead          = 45 * time.Second
	)
	srv, admin := slapd.ForBenchmark(b, slapd.Options{Users: users, Groups: groups, Dense: true})
	var groupDNs []string
	for gi := 1; gi <= groups; gi++ {
		groupDNs = append(groupDNs, slapd.GroupDN(gi))
	}
	ctx := context.Background()
	if b.N > 1 {
		b.Fatal("run with -benchtime 1x: a run uses up the memberships it revokes")
	}
	for range b.N {
		dir := b.TempDir()
		os.MkdirAll(filepath.Join(dir, "var"), 0o700)
		// The directory's floor: one round of raw go-ldap modifies, one
		// member removed from each group (and put back), as a second of
		// due grants spread over every group needs at the least.
		farUser := []string{slapd.UserDN(users)}
		roundStart := time.Now()
		if err := slapd.ChangeMembers(admin, groupDNs, farUser, false); err != nil {
			b.Fatal(err)
		}
		round := time.Since(roundStart)
		if err := slapd.ChangeMembers(admin, groupDNs, farUser, true); err != nil {
			b.Fatal(err)
		}
		conn := ldapConn(b, srv)
		userIDs, groupIDs := ldapIDs(b, conn)

		// The store: grant i is group i%100, user i/100; the first dueLive
		// fall due during the run, the next dueDown while the daemon is
		// down, the rest in a year.
		st, err := sqlite.Open(ctx, filepath.Join(dir, "var", "jitd.db"))
		if err != nil {
			b.Fatal(err)
		}
		// The mirror as a running installation has it: synced in full
		// before, so the daemon's own syncs are incremental.
		syncStart := time.Now()
		m := mirror.New(mirror.Config{}, st, map[string]mirror.Source{"corp": {Conn: conn}}, clock.Real{}, slog.New(slog.DiscardHandler), nil)
		if res, err := m.Sync(ctx, "corp", true); err != nil || res.Counts.Members < total {
			b.Fatalf("mirror: %+v %v", res, err)
		}
		fullSync := time.Since(syncStart)
		loadStart := time.Now()
		liveStart := time.Now().Add(lead)
		downStart := liveStart.Add(window + 20*time.Second)
		created := time.Now().Add(-time.Hour)
		err = st.Update(ctx, func(tx store.Tx) error {
			for i := range total {
				gi, ui := i%groups+1, i/groups+1
				var expires time.Time
				switch {
				case i < dueLive:
					expires = liveStart.Add(time.Duration(i) * time.Second / perSecond)
				case i < dueLive+dueDown:
					expires = downStart.Add(time.Duration(i-dueLive) * time.Second / dueDown)
				default:
					expires = liveStart.Add(365*24*time.Hour + time.Duration(i)*time.Millisecond)
				}
				gname, login := fmt.Sprintf("grp%04d", gi), fmt.Sprintf("user%05d", ui)
				g := store.Grant{ID: fmt.Sprintf("g-%07d", i), Directory: "corp", GroupID: groupIDs[gname], GroupName: gname,
					UserID: userIDs[login], UserName: login, State: store.StateActive, Reason: "bench", CreatedBy: "bench",
					StartsAt: created, ExpiresAt: expires, CreatedAt: created, UpdatedAt: created}
				if err := tx.InsertGrant(g); err != nil {
					return err
				}
			}
			return nil
		})
		st.Close()
		conn.Close()
		if err != nil {
			b.Fatal(err)
		}
		load := time.Since(loadStart)
		if time.Until(liveStart) < 15*time.Second {
			b.Fatalf("loading %d grants took %s: too little time left to start the daemon before the first falls due", total, load)
		}

		var groupYAML strings.Builder
		for gi := 1; gi <= groups; gi++ {
			fmt.Fprintf(&groupYAML, "      - name: grp%04d\n", gi)
		}
		addr := freeAddr(b)
		cfg := fmt.Sprintf("server:\n  listen: %s\ndata_dir: %s/var\ndirectories:\n  - name: corp\n    kind: ldap\n    settings:\n%s    groups:\n%s",
			addr, dir, srv.Settings(6), groupYAML.String())
		os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600)

		execAt := time.Now()
		d := start(b, dir, addr)
		ready := time.Since(execAt)
		if time.Now().After(liveStart) {
			b.Fatalf("the daemon took %s to be ready: the first grants fell due before it was", ready)
		}
		db := openReadOnly(b, filepath.Join(dir, "var", "jitd.db"))
		revoked := func(from, to int) int {
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM grants WHERE state = ? AND id >= ? AND id < ?`,
				store.StateRevoked, fmt.Sprintf("g-%07d", from), fmt.Sprintf("g-%07d", to)).Scan(&n); err != nil {
				b.Fatal(err)
			}
			return n
		}
		poll.Until(b, time.Until(liveStart.Add(window+15*time.Second)), "the grants due during the run to be revoked",
			func() bool { return revoked(0, dueLive) == dueLive })
		peak, err := rss.Peak(d.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		now, _ := rss.Current(d.cmd.Process.Pid)
		var childPeak int64
		for _, c := range orphans.Children(d.cmd.Process.Pid) {
			if p, err := rss.Peak(c.PID); err == nil {
				childPeak += p
			}
		}
		if n := revoked(dueLive, dueLive+dueDown); n != 0 {
			b.Fatalf("%d grants revoked before they were due", n)
		}
		if time.Now().After(downStart) {
			b.Fatal("the run's grants were revoked too late to kill the daemon before the next ones fell due")
		}
		d.cmd.Process.Kill()
		<-d.done
		d.done <- nil
		poll.Until(b, time.Until(downStart.Add(2*time.Second)), "the last grant due while the daemon is down to pass its end",
			func() bool { return time.Now().After(downStart.Add(1100 * time.Millisecond)) })

		restartAt := time.Now()
		d2 := start(b, dir, addr)
		poll.Until(b, 5*time.Minute, "the grants due while the daemon was down to be revoked",
			func() bool { return revoked(dueLive, dueLive+dueDown) == dueDown })
		d2.stop()
		db.Close()
		if n, err := slapd.CountMembers(admin, groupDNs); err != nil || n != total-dueLive-dueDown {
			b.Fatalf("slapd holds %d memberships (%v), want %d: a revoked grant's membership is still there", n, err, total-dueLive-dueDown)
		}

		st, err = sqlite.Open(ctx, filepath.Join(dir, "var", "jitd.db"))
		if err != nil {
			b.Fatal(err)
		}
		gs, err := st.Grants(ctx, store.GrantFilter{States: []store.State{store.StateRevoked}})
		st.Close()
		if err != nil {
			b.Fatal(err)
		}
		if len(gs) != dueLive+dueDown {
			b.Fatalf("%d grants revoked, want %d: nothing else was due", len(gs), dueLive+dueDown)
		}
		var late []time.Duration
		var first, last time.Time
		for _, g := range gs {
			if g.ID < fmt.Sprintf("g-%07d", dueLive) {
				late = append(late, g.EndedAt.Sub(g.ExpiresAt))
				continue
			}
			if first.IsZero() || g.EndedAt.Before(first) {
				first = g.EndedAt
			}
			if g.EndedAt.After(last) {
				last = g.EndedAt
			}
		}
		slices.Sort(late)
		p := func(q float64) time.Duration { return late[int(q*float64(len(late)-1))] }
		toFirst, toLast := first.Sub(restartAt), last.Sub(restartAt)
		rate := float64(dueDown) / last.Sub(first).Seconds()
		b.ReportMetric(p(0.5).Seconds()*1000, "p50_ms")
		b.ReportMetric(p(0.99).Seconds()*1000, "p99_ms")
		b.ReportMetric(late[len(late)-1].Seconds()*1000, "max_ms")
		b.ReportMetric(rss.MiB(peak), "peak_rss_MiB")
		b.ReportMetric(rss.MiB(now), "rss_MiB")
		b.ReportMetric(toFirst.Seconds(), "restart_first_s")
		b.ReportMetric(toLast.Seconds(), "restart_last_s")
		b.ReportMetric(rate, "restart_per_s")
		b.ReportMetric(round.Seconds()*1000, "slapd_round_ms")
		b.ReportMetric(0, "ns/op")
		fmt.Printf("slapd's floor: one modify on each of the %d groups of %d members takes %s with raw go-ldap\n", groups, users, round.Round(time.Millisecond))
		fmt.Printf("1,000,000 scheduled grants (mirror synced in full beforehand in %s, grants loaded in %s; daemon ready in %s): %d due at %d/s: lateness p50 %s, p99 %s, max %s; daemon RSS peak %d MiB, %d MiB at the end (connector child peak %d MiB); "+
			"after SIGKILL with %d overdue: first revoked %s after exec, last %s after (%.0f/s)\n",
			fullSync.Round(time.Second), load.Round(time.Second), ready.Round(100*time.Millisecond), dueLive, perSecond, p(0.5).Round(time.Millisecond), p(0.99).Round(time.Millisecond),
			late[len(late)-1].Round(time.Millisecond), peak>>20, now>>20, childPeak>>20, dueDown, toFirst.Round(10*time.Millisecond), toLast.Round(10*time.Millisecond), rate)
	}
}

// ldapConn returns the ldap connector on srv, in process.
func ldapConn(b *testing.B, srv *slapd.Server) *ldap.Conn {
	conn, err := ldap.New(srv.ConnectorConfig())
	if err != nil {
		b.Fatal(err)
	}
	return conn
}

// ldapIDs returns the directory's ids of the users by login and of the
// groups by name, as the ldap connector reads them.
func ldapIDs(b *testing.B, conn *ldap.Conn) (users, groups map[string]string) {
	ctx := context.Background()
	users, groups = map[string]string{}, map[string]string{}
	if err := conn.ListUsers(ctx, func(u connectors.User) error { users[u.Login] = u.ID; return nil }); err != nil {
		b.Fatal(err)
	}
	if err := conn.ListGroups(ctx, func(g connectors.Group) error { groups[g.Name] = g.ID; return nil }); err != nil {
		b.Fatal(err)
	}
	return users, groups
}

// openReadOnly opens the daemon's database for reading beside it.
func openReadOnly(b *testing.B, path string) *sql.DB {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		b.Fatal(err)
	}
	return db
}
