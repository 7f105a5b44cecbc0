package ldap_test

import (
	"context"
	"fmt"
	"log/slog"
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
	"github.com/jitd/jitd/fixtures/samba"
)

// BenchmarkRevoke1kSambaAD: 1,000 grants on 20 groups of a real Samba AD DC
// (50 members each), all due in the same second, revoked by the expiry queue
// through a real plugin child bound as the delegated service account; then
// the same 1,000 removals made one member per modify with raw go-ldap on the
// same DC, and the floor (raw, one modify per group).
func BenchmarkRevoke1kSambaAD(b *testing.B) {
	samba.Need(b, dc, dcErr)
	const groups, perGroup = 20, 50
	ctx := context.Background()
	admin, err := dc.Dial()
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	groupDN := func(i int) string { return fmt.Sprintf("CN=bench%02d,%s", i, samba.GroupsOU) }
	membersOf := func(i int) []string {
		var dns []string
		for u := i * perGroup; u < (i+1)*perGroup; u++ {
			dns = append(dns, fmt.Sprintf("CN=big%04d,%s", u, samba.BulkOU))
		}
		return dns
	}
	for i := range groups {
		req := goldap.NewAddRequest(groupDN(i), nil)
		req.Attribute("objectClass", []string{"group"})
		req.Attribute("sAMAccountName", []string{fmt.Sprintf("bench%02d", i)})
		if err := admin.Add(req); err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultEntryAlreadyExists) {
			b.Fatal(err)
		}
	}
	fill := func() {
		for i := range groups {
			req := goldap.NewModifyRequest(groupDN(i), nil)
			req.Replace("member", membersOf(i))
			if err := admin.Modify(req); err != nil {
				b.Fatal(err)
			}
		}
	}
	memberCount := func() int {
		n := 0
		for i := range groups {
			res, err := admin.Search(goldap.NewSearchRequest(groupDN(i), goldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", []string{"member"}, nil))
			if err != nil {
				b.Fatal(err)
			}
			n += len(res.Entries[0].GetAttributeValues("member"))
		}
		return n
	}

	clk := clock.NewFake(time.Now().Truncate(time.Second))
	quiet := slog.New(slog.DiscardHandler)
	cfg := ldap.Config{Flavor: ldap.FlavorAD, URL: dc.LDAPSURL, CAFile: dc.CAFile, BindDN: samba.ServiceDN,
		BindPasswordFile: filepath.Join(dc.PasswordDir, "service"), UserBase: samba.BulkOU, GroupBase: samba.GroupsOU, Connections: 4}
	conn := throughPlugin(b, "bench", cfg, clk)
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
			for gi := range groups {
				for u := gi * perGroup; u < (gi+1)*perGroup; u++ {
					gname, login := fmt.Sprintf("bench%02d", gi), fmt.Sprintf("big%04d", u)
					g := store.Grant{ID: fmt.Sprintf("g-%d-%d", gi, u), Directory: "bench", GroupID: groupIDs[gname], GroupName: gname,
						UserID: userIDs[login], UserName: login, State: store.StateActive, Reason: "bench", CreatedBy: "bench",
						StartsAt: clk.Now(), ExpiresAt: due, CreatedAt: clk.Now(), UpdatedAt: clk.Now()}
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
		clk.Set(due)

		start := time.Now()
		n, err := sched.RunOnce(ctx)
		jitdTotal += time.Since(start)
		if err != nil || n != groups*perGroup {
			b.Fatalf("processed %d, err %v", n, err)
		}
		counts, _ := st.CountGrants(ctx)
		if counts[store.StateRevoked] != groups*perGroup || memberCount() != 0 {
			b.Fatalf("after the queue: %v, %d members left", counts, memberCount())
		}
		st.Close()

		fill()
		start = time.Now()
		for gi := range groups {
			for _, dn := range membersOf(gi) {
				req := goldap.NewModifyRequest(groupDN(gi), nil)
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

		fill()
		start = time.Now()
		for gi := range groups {
			req := goldap.NewModifyRequest(groupDN(gi), nil)
			req.Delete("member", membersOf(gi))
			if err := admin.Modify(req); err != nil {
				b.Fatal(err)
			}
		}
		floorTotal += time.Since(start)
	}
	jitd, raw, floor := jitdTotal/time.Duration(b.N), rawTotal/time.Duration(b.N), floorTotal/time.Duration(b.N)
	b.ReportMetric(jitd.Seconds(), "jitd-s")
	b.ReportMetric(raw.Seconds(), "raw-s")
	b.ReportMetric(floor.Seconds(), "floor-s")
	b.ReportMetric(raw.Seconds()/jitd.Seconds(), "speedup-x")
	fmt.Printf("Samba AD: 1,000 grants on 20 groups ending at once: jitd %.2fs, raw one-member-per-modify %.2fs (%.1fx), floor (raw, one modify per group) %.2fs\n",
		jitd.Seconds(), raw.Seconds(), raw.Seconds()/jitd.Seconds(), floor.Seconds())
}
