package review_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/core/review"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/fixtures/pipeline"
	"github.com/jitd/jitd/fixtures/slapd"
)

// BenchmarkCampaign20kStanding: 100 JIT-managed groups on a real slapd
// (memberof and refint on) with 200 standing members each, 20,000 in all,
// in jitd's baseline. A campaign over them is created (owners review, a
// named fallback), 500 of its items are decided "revoke" (five a group) and
// the expiry queue applies them. Reported: each phase's wall time and the
// LDAP operations it cost, read from slapd's own monitor. Beside them, in
// the same run: the same 500 removals with raw go-ldap, one member per
// modify, and the directory's floor, one modify per group.
func BenchmarkCampaign20kStanding(b *testing.B) {
	const groups, users, revokePerGroup = 100, 200, 5
	srv, admin := slapd.ForBenchmark(b, slapd.Options{Groups: groups, Users: users})
	ctx := context.Background()
	userDN := slapd.UserDN
	var groupDNs []string
	for gi := 1; gi <= groups; gi++ {
		groupDNs = append(groupDNs, slapd.GroupDN(gi))
	}
	modify := func(add bool, from, to int) {
		var dns []string
		for ui := from; ui <= to; ui++ {
			dns = append(dns, userDN(ui))
		}
		if err := slapd.ChangeMembers(admin, groupDNs, dns, add); err != nil {
			b.Fatal(err)
		}
	}
	members := func() int {
		n, err := slapd.CountMembers(admin, groupDNs)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	ops := func() slapd.Operations {
		o, err := srv.Operations()
		if err != nil {
			b.Fatal(err)
		}
		return o
	}
	var names []string
	for gi := 1; gi <= groups; gi++ {
		names = append(names, fmt.Sprintf("grp%04d", gi))
	}

	var create, decide, apply, raw, floor time.Duration
	var createOps, decideOps, applyOps slapd.Operations
	for range b.N {
		modify(true, 1, users)
		conn, err := ldap.New(ldap.Config{URL: srv.LDAPSURL, CAFile: srv.CAFile, BindDN: slapd.ServiceDN, BindPasswordFile: filepath.Join(srv.PasswordDir, "service"),
			UserBase: slapd.PeopleBase, GroupBase: slapd.GroupBase, EmptyMember: slapd.EmptyMember, ManagerAttr: "manager", Connections: 4})
		if err != nil {
			b.Fatal(err)
		}
		p := pipeline.New(b, "corp", conn, names...)
		p.Cycle(true) // the 20,000 standing members become the baseline
		for _, g := range names {
			p.Owners(g, "alice", "bob")
		}

		o := ops()
		start := time.Now()
		c, err := p.Reviews.Create(ctx, review.Spec{Name: "Q1 standing access", Scope: review.Scope{Kind: review.ScopeStanding},
			Reviewers: review.Reviewers{Kind: review.ReviewersOwners, Users: []string{"erin"}}}, "erin", "")
		if err != nil {
			b.Fatal(err)
		}
		create += time.Since(start)
		createOps = createOps.Plus(ops().Sub(o))
		its, err := p.Store.CampaignItems(ctx, store.CampaignItemFilter{CampaignID: c.ID})
		if err != nil || len(its) != groups*users {
			b.Fatalf("%d items (%v), want %d", len(its), err, groups*users)
		}

		var revoke []store.CampaignItem
		perGroup := map[string]int{}
		for _, it := range its {
			var ui int
			fmt.Sscanf(it.UserName, "user%05d", &ui)
			if ui <= revokePerGroup {
				revoke = append(revoke, it)
				perGroup[it.GroupName]++
			}
		}
		if len(revoke) != groups*revokePerGroup || len(perGroup) != groups {
			b.Fatalf("%d items to revoke over %d groups", len(revoke), len(perGroup))
		}
		o = ops()
		start = time.Now()
		for _, it := range revoke {
			if _, err := p.Reviews.Decide(ctx, c.ID, it.Seq, review.Decider{Login: "alice"}, store.DecisionRevoke, "no longer needed"); err != nil {
				b.Fatal(err)
			}
		}
		decide += time.Since(start)
		decideOps = decideOps.Plus(ops().Sub(o))

		o = ops()
		start = time.Now()
		if _, err := p.Queue.RunOnce(ctx); err != nil {
			b.Fatal(err)
		}
		apply += time.Since(start)
		applyOps = applyOps.Plus(ops().Sub(o))
		if n := members(); n != groups*(users-revokePerGroup) {
			b.Fatalf("%d members left, want %d", n, groups*(users-revokePerGroup))
		}
		conn.Close()

		// The same removals with raw go-ldap, one member per modify.
		modify(true, 1, revokePerGroup)
		start = time.Now()
		for _, g := range groupDNs {
			for ui := 1; ui <= revokePerGroup; ui++ {
				req := goldap.NewModifyRequest(g, nil)
				req.Delete("member", []string{userDN(ui)})
				if err := admin.Modify(req); err != nil {
					b.Fatal(err)
				}
			}
		}
		raw += time.Since(start)

		// The floor: one modify per group.
		modify(true, 1, revokePerGroup)
		start = time.Now()
		modify(false, 1, revokePerGroup)
		floor += time.Since(start)
		modify(false, revokePerGroup+1, users)
	}
	n := float64(b.N)
	b.ReportMetric(create.Seconds()/n, "create_s")
	b.ReportMetric(float64(createOps.Total())/n, "create_ldap_ops")
	b.ReportMetric(decide.Seconds()/n, "decide500_s")
	b.ReportMetric(float64(decideOps.Total())/n, "decide_ldap_ops")
	b.ReportMetric(apply.Seconds()/n, "apply500_s")
	b.ReportMetric(float64(applyOps.Search)/n, "apply_ldap_searches")
	b.ReportMetric(float64(applyOps.Modify)/n, "apply_ldap_modifies")
	b.ReportMetric(raw.Seconds()/n, "raw_loop_s")
	b.ReportMetric(floor.Seconds()/n, "floor_s")
	b.ReportMetric(float64(apply)/float64(floor), "apply_x_floor")
}
