package mirror_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/rss"
	"github.com/jitd/jitd/fixtures/slapd"
	"github.com/jitd/jitd/sync/mirror"
)

// BenchmarkSync: a slapd with 100,000 users, 20,000 groups and about 500,000
// memberships (power-law group sizes), mirrored in full; then incremental
// syncs after 100 and after 1,000 changes.
func BenchmarkSync(b *testing.B) { benchSync(b, 100_000, 20_000, 500_000) }

// BenchmarkSyncTenfold is BenchmarkSync ten times larger: 1,000,000 users,
// 200,000 groups, about 5,000,000 memberships (goals: the full sync under 5
// minutes and 1 GiB; the incremental ones as fast as on the smaller
// directory). Loading slapd takes minutes: it runs when JITD_BENCH_TENFOLD=1
// (make bench-tenfold).
func BenchmarkSyncTenfold(b *testing.B) {
	if os.Getenv("JITD_BENCH_TENFOLD") != "1" {
		b.Skip("set JITD_BENCH_TENFOLD=1 (make bench-tenfold): loading 1,000,000 users into slapd takes minutes")
	}
	benchSync(b, 1_000_000, 200_000, 5_000_000)
}

func benchSync(b *testing.B, users, groups, memberships int) {
	loadStart := time.Now()
	srv, err := slapd.Start(slapd.Options{Users: users, Groups: groups, Memberships: memberships})
	if err != nil {
		if slapd.Required() {
			b.Fatal(err)
		}
		b.Skip(err)
	}
	defer srv.Stop()
	load := time.Since(loadStart)
	admin, err := srv.Dial()
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	ctx := context.Background()
	for range b.N {
		conn := ldapConnTo(b, srv)
		st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "jitd.db"))
		if err != nil {
			b.Fatal(err)
		}
		m := mirror.New(mirror.Config{}, st, map[string]mirror.Source{"corp": {Conn: conn}}, clock.Real{}, quiet, nil)

		rss.ResetPeak(rss.Self)
		start := time.Now()
		res, err := m.Sync(ctx, "corp", false)
		full := time.Since(start)
		peak, _ := rss.Peak(rss.Self)
		if err != nil || !res.Full {
			b.Fatalf("full sync: %+v %v", res, err)
		}
		if res.Counts.Users != users+len(slapd.FixedUsers) || res.Counts.Groups != groups+len(slapd.FixedGroups) || res.Counts.Members < memberships*9/10 {
			b.Fatalf("mirror after the full sync: %+v", res.Counts)
		}

		incremental := func(n int, round int) time.Duration {
			for i := 1; i <= n; i++ {
				req := goldap.NewModifyRequest(fmt.Sprintf("uid=user%05d,%s", i, slapd.PeopleBase), nil)
				req.Replace("description", []string{fmt.Sprintf("change %d", round)})
				if err := admin.Modify(req); err != nil {
					b.Fatal(err)
				}
			}
			start := time.Now()
			res, err := m.Sync(ctx, "corp", false)
			took := time.Since(start)
			if err != nil || res.Full || res.Changes < n {
				b.Fatalf("incremental sync after %d changes: %+v %v", n, res, err)
			}
			return took
		}
		inc100 := incremental(100, 1)
		inc1000 := incremental(1000, 2)
		st.Close()

		b.ReportMetric(full.Seconds(), "full_s")
		b.ReportMetric(float64(peak)/(1<<20), "peak_rss_MiB")
		b.ReportMetric(inc100.Seconds()*1000, "incr_100_ms")
		b.ReportMetric(inc1000.Seconds()*1000, "incr_1000_ms")
		b.ReportMetric(0, "ns/op")
		fmt.Printf("sync: slapd with %d users, %d groups, %d memberships (loaded with slapadd in %s): full sync %s, peak RSS %d MiB; incremental after 100 changes %s, after 1,000 changes %s\n",
			res.Counts.Users, res.Counts.Groups, res.Counts.Members, load.Round(100*time.Millisecond), full.Round(10*time.Millisecond), peak>>20,
			inc100.Round(time.Millisecond), inc1000.Round(time.Millisecond))
	}
}
