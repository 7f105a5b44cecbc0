package entra_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/fixtures/graphfake"
)

// callTenant is a fake tenant of 2,000 users (each with a manager) in 20
// security groups of 500, paged as Graph pages (999 users or groups, 100
// objects with $expand).
type callTenant struct {
	*tenant
	users  []string
	groups []string
}

func newCallTenant(t testing.TB, kind graphfake.GroupKind) *callTenant {
	tn := newTenant(t)
	tn.fake.PageSize = 999
	ct := &callTenant{tenant: tn}
	for i := range 2000 {
		ct.users = append(ct.users, tn.fake.AddUser(fmt.Sprintf("user%04d@contoso.example", i), "User", fmt.Sprint(i)))
	}
	for i, u := range ct.users {
		tn.fake.SetManager(u, ct.users[i/10]) // user0 manages user0..9, ...
	}
	for g := range 20 {
		gid := tn.fake.AddGroup(fmt.Sprintf("grp%02d", g), kind)
		ct.groups = append(ct.groups, gid)
		for i := range 500 {
			tn.fake.SetMember(gid, ct.users[(g*100+i)%2000], true)
		}
	}
	return ct
}

// calls runs fn and returns the HTTP requests it made to Graph and the
// Graph requests they carried (a JSON batch carries up to 20).
func (ct *callTenant) calls(fn func()) (http, graph int) {
	h0, g0 := ct.fake.Counts()
	fn()
	h1, g1 := ct.fake.Counts()
	return h1 - h0, g1 - g0
}

// callCounts measures the Graph calls of a full sync of the tenant, of an
// incremental sync after 1,000 changes (500 users edited, 250 members added
// and 250 removed in 10 groups), and of 1,000 removals (10 groups, 100 at a
// time) with PIM backstops, of which 500 have a PIM assignment.
func callCounts(t testing.TB) map[string][2]int {
	ctx := context.Background()
	out := map[string][2]int{}
	ct := newCallTenant(t, graphfake.Security)
	conn := open(t, ct.cfg)
	var cur string
	var users, managers int
	h, g := ct.calls(func() {
		var err error
		cur, err = conn.Changes(ctx, "", func(c connectors.Change) error {
			if c.User != nil {
				users++
				if c.User.Manager != "" {
					managers++
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if users != 2003 || managers != 2000 {
		t.Fatalf("full sync reported %d users, %d with a manager; want 2,003 and 2,000", users, managers)
	}
	out["full sync (2,003 users, 21 groups, 10,000 members)"] = [2]int{h, g}

	for i := range 500 {
		ct.fake.SetPerson(ct.users[i*4], "Ops", "Engineer")
	}
	for i := range 250 {
		gid := ct.groups[i%10]
		ct.fake.SetMember(gid, ct.users[1500+i], true)           // in none of the first 10 groups
		ct.fake.SetMember(gid, ct.users[(i%10)*100+i/10], false) // one of the group's first members
	}
	edited, joined, left := 0, 0, 0
	lists0 := ct.listings()
	h, g = ct.calls(func() {
		var err error
		cur, err = conn.Changes(ctx, cur, func(c connectors.Change) error {
			switch {
			case c.User != nil && c.User.Attributes["department"] == "Ops":
				edited++
			case c.Op == connectors.MembersChanged:
				joined += len(c.Added)
				left += len(c.Removed)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if edited != 500 || joined != 250 || left != 250 || ct.listings() != lists0 {
		t.Fatalf("incremental sync: %d users edited, %d joined, %d left, %d group listings; want 500, 250, 250, none",
			edited, joined, left, ct.listings()-lists0)
	}
	out["incremental sync after 1,000 changes"] = [2]int{h, g}

	pim := newCallTenant(t, graphfake.PIMEnabled)
	cfg := pim.cfg
	cfg.NativeTTL = "pim"
	pc := open(t, cfg)
	until := time.Now().Add(time.Hour)
	for gi := range 10 {
		var assigned []string
		for i := range 50 {
			assigned = append(assigned, pim.users[gi*100+i])
		}
		if _, err := pc.AddMembersUntil(ctx, pim.groups[gi], assigned, until); err != nil {
			t.Fatal(err)
		}
	}
	h, g = pim.calls(func() {
		for gi := range 10 {
			members := pim.fake.Members(pim.groups[gi])
			var batch []string
			for i := range 100 {
				batch = append(batch, pim.users[gi*100+i])
			}
			rs, err := pc.RemoveMembers(ctx, pim.groups[gi], batch)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			}
			left := pim.fake.Members(pim.groups[gi])
			for _, u := range batch {
				if slices.Contains(left, u) || !slices.Contains(members, u) {
					t.Fatalf("user %s: member before %v, after %v", u, slices.Contains(members, u), slices.Contains(left, u))
				}
			}
		}
	})
	out["1,000 removals with PIM (500 assigned)"] = [2]int{h, g}
	if n := pim.fake.GraphRequests["POST /v1.0/identityGovernance/privilegedAccess/group/assignmentScheduleRequests"]; n != 500+500 {
		t.Fatalf("%d PIM requests for 500 assignments and 500 removals; want removals only for users with an assignment", n)
	}
	return out
}

// listings counts the requests that listed a group's members.
func (ct *callTenant) listings() int {
	n := 0
	for k, v := range ct.fake.GraphRequests {
		if strings.HasSuffix(k, "/members") {
			n += v
		}
	}
	return n
}

// TestGraphCallEconomy: the call counts BenchmarkGraphCalls prints stay
// where the batching puts them (before it, in order: 522 and 1,060).
func TestGraphCallEconomy(t *testing.T) {
	counts := callCounts(t)
	for k, limit := range map[string]int{"incremental sync after 1,000 changes": 30, "1,000 removals with PIM (500 assigned)": 110} {
		if counts[k][0] > limit {
			t.Errorf("%s: %d HTTP requests, want at most %d", k, counts[k][0], limit)
		}
	}
}

// BenchmarkGraphCalls prints the Graph calls per 1,000 changes.
func BenchmarkGraphCalls(b *testing.B) {
	var counts map[string][2]int
	for range b.N {
		counts = callCounts(b)
	}
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Printf("graph calls: %-52s %5d HTTP requests, %5d Graph requests\n", k, counts[k][0], counts[k][1])
	}
	b.ReportMetric(float64(counts["incremental sync after 1,000 changes"][0]), "incremental_http_requests")
	b.ReportMetric(float64(counts["1,000 removals with PIM (500 assigned)"][0]), "pim_removal_http_requests")
	b.ReportMetric(float64(counts["full sync (2,003 users, 21 groups, 10,000 members)"][0]), "full_sync_http_requests")
	b.ReportMetric(0, "ns/op")
}
