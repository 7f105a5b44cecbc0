package plugins

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/expiry"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/slapd"
)

// BenchmarkRevoke10kLDAP: 10,000 grants on 100 groups of a real slapd (100
// members each, memberof and refint on), all due in the same second, revoked
// by the expiry queue through a real plugin child; then the same 10,000
// removals made one member per modify with raw go-ldap on the same server.
func BenchmarkRevoke10kLDAP(b *testing.B) {
	const groups, users = 100, 100
	srv, admin := slapd.ForBenchmark(b, slapd.Options{Groups: groups, Users: users})
	ctx := context.Background()
	var userDNs []string
	for i := 1; i <= users; i++ {
		userDNs = append(userDNs, slapd.UserDN(i))
	}
	var groupDNs []string
	for i := 1; i <= groups; i++ {
		groupDNs = append(groupDNs, slapd.GroupDN(i))
	}
	fill := func() {
		if err := slapd.ChangeMembers(admin, groupDNs, userDNs, true); err != nil {
			b.Fatal(err)
		}
	}
	memberCount := func() int {
		n, err := slapd.CountMembers(admin, groupDNs)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}

	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	conn, err := Launch(ctx, Spec{Directory: "bench", Command: selfCommand("ldap"), Settings: ldap.Config{
		URL: srv.LDAPSURL, CAFile: srv.CAFile, BindDN: slapd.ServiceDN, BindPasswordFile: filepath.Join(srv.PasswordDir, "service"),
		UserBase: slapd.PeopleBase, GroupBase: slapd.GroupBase, EmptyMember: slapd.EmptyMember, Connections: 4,
	}}, quiet, clk)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	userIDs := map[string]string{}
	conn.ListUsers(ctx, func(u connectors.User) error { userIDs[u.Login] = u.ID; return nil })
	groupIDs := map[string]string{}
	conn.ListGroups(ctx, func(g connectors.Group) error { groupIDs[g.Name] = g.ID; return nil })

	var jitdTotal, rawTotal, floorTotal time.Duration
	for range b.N {
		fill()
		st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "jitd.db"))
		if err != nil {
			b.Fatal(err)
		}
		due := clk.Now().Add(time.Hour)
		err = st.Update(ctx, func(tx store.Tx) error {
			for gi := 1; gi <= groups; gi++ {
				for ui := 1; ui <= users; ui++ {
					gname, login := fmt.Sprintf("grp%04d", gi), fmt.Sprintf("user%05d", ui)
					g := store.Grant{ID: fmt.Sprintf("g-%d-%d", gi, ui), Directory: "bench", GroupID: groupIDs[gname], GroupName: gname,
						UserID: userIDs[login], UserName: login, State: store.StateActive, Reason: "bench", CreatedBy: "bench",
						StartsAt: clk.Now(), ExpiresAt: due.Add(time.Duration(ui) * time.Millisecond), CreatedAt: clk.Now(), UpdatedAt: clk.Now()}
					if err := tx.InsertGrant(g); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		dirs := directories.Set{"bench": {Name: "bench", Conn: conn}}
		sched := expiry.New(expiry.Config{Owner: "bench", BatchSize: 500, Concurrency: 4}, st, directories.NewRegistry(dirs, 0), clk, quiet, nil, nil)
		clk.Set(due.Add(time.Second))

		start := time.Now()
		n, err := sched.RunOnce(ctx)
		jitdTotal += time.Since(start)
		if err != nil || n != groups*users {
			b.Fatalf("processed %d, err %v", n, err)
		}
		counts, _ := st.CountGrants(ctx)
		if counts[store.StateRevoked] != groups*users || memberCount() != 0 {
			b.Fatalf("after the queue: %v, %d members left", counts, memberCount())
		}
		st.Close()

		fill()
		start = time.Now()
		for _, g := range groupDNs {
			for _, dn := range userDNs {
				req := goldap.NewModifyRequest(g, nil)
				req.Delete("member", []string{dn})
				if err := admin.Modify(req); err != nil {
					b.Fatal(err)
				}
			}
		}
		rawTotal += time.Since(start)
		if memberCount() != 0 {
			b.Fatal("raw loop left members")
		}

		// The floor: raw go-ldap, one modify per group, nothing else.
		fill()
		start = time.Now()
		if err := slapd.ChangeMembers(admin, groupDNs, userDNs, false); err != nil {
			b.Fatal(err)
		}
		floorTotal += time.Since(start)
	}
	jitdS := jitdTotal.Seconds() / float64(b.N)
	rawS := rawTotal.Seconds() / float64(b.N)
	b.ReportMetric(jitdS, "jitd_s")
	b.ReportMetric(rawS, "raw_one_per_modify_s")
	floorS := floorTotal.Seconds() / float64(b.N)
	b.ReportMetric(rawS/jitdS, "speedup_x")
	b.ReportMetric(floorS, "raw_one_modify_per_group_s")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("revoke 10,000 grants on 100 slapd groups: jitd (queue + plugin + batched LDAP) %.2fs; raw go-ldap one member per modify %.2fs (jitd %.1fx faster); raw go-ldap one modify per group %.2fs (the server's floor)\n",
		jitdS, rawS, rawS/jitdS, floorS)
}
