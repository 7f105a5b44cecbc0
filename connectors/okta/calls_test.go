package okta_test

import (
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/okta"
	"github.com/jitd/jitd/fixtures/oktafake"
)

// callOrg is a fake org of 2,000 users in 20 OKTA_GROUPs of 500, made an
// hour ago on the org's clock, paged as Okta pages.
type callOrg struct {
	fake   *oktafake.Server
	cfg    okta.Config
	at     time.Time // the org's clock
	users  []string
	groups []string
}

func newCallOrg(t testing.TB) *callOrg {
	o := &callOrg{at: time.Now().Add(-time.Hour)}
	o.fake = oktafake.New(func() time.Time { return o.at })
	t.Cleanup(o.fake.Close)
	for i := range 2000 {
		o.users = append(o.users, o.fake.AddUser(fmt.Sprintf("user%04d@example.com", i), "User", fmt.Sprint(i)))
	}
	for g := range 20 {
		gid := o.fake.AddGroup(fmt.Sprintf("grp%02d", g), "OKTA_GROUP")
		o.groups = append(o.groups, gid)
		for i := range 500 {
			o.fake.SetMember(gid, o.users[(g*100+i)%2000], true)
		}
	}
	// The feed reads again what changed within a moment of the newest
	// change it saw: one user edited a minute later keeps that overlap clear
	// of the setup.
	o.at = o.at.Add(time.Minute)
	o.fake.SetPerson(o.users[1], "", "", "")
	dir := t.TempDir()
	ca, tok := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "token")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.fake.Certificate().Raw}), 0o600)
	os.WriteFile(tok, []byte(o.fake.Token), 0o600)
	o.cfg = okta.Config{OrgURL: o.fake.URL, APITokenFile: tok, CAFile: ca}
	return o
}

func (o *callOrg) calls(fn func()) int {
	before := o.fake.Requests
	fn()
	return o.fake.Requests - before
}

// oktaCallCounts measures the Okta requests of a full sync, of an
// incremental sync after 1,000 changes (500 users edited, 250 members added
// and 250 removed in 10 groups) and of 1,000 revocations (10 groups, 100 a
// call, as the expiry queue batches them).
func oktaCallCounts(t testing.TB) map[string]int {
	ctx := context.Background()
	o := newCallOrg(t)
	c, err := okta.New(o.cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	var cur string
	out["full sync (2,000 users, 20 groups, 10,000 members)"] = o.calls(func() {
		if cur, err = c.Changes(ctx, "", func(connectors.Change) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
	o.at = time.Now().Add(time.Second) // the changes come after the sync began
	for i := range 500 {
		o.fake.SetPerson(o.users[i*4], "Ops", "Engineer", "")
	}
	for i := range 250 {
		gid := o.groups[i%10]
		o.fake.SetMember(gid, o.users[1500+i], true)
		o.fake.SetMember(gid, o.users[(i%10)*100+i/10], false)
	}
	edited, groups := 0, 0
	out["incremental sync after 1,000 changes"] = o.calls(func() {
		_, err := c.Changes(ctx, cur, func(ch connectors.Change) error {
			switch {
			case ch.User != nil && ch.User.Attributes["department"] == "Ops":
				edited++
			case ch.Group != nil:
				groups++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if edited != 500 || groups != 10 {
		t.Fatalf("incremental sync reported %d edited users and %d groups; want 500 and 10", edited, groups)
	}
	out["1,000 revocations"] = o.calls(func() {
		for g := range 10 {
			var batch []string
			for i := range 100 {
				batch = append(batch, o.users[g*100+50+i])
			}
			rs, err := c.RemoveMembers(ctx, o.groups[g], batch)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			}
		}
	})
	return out
}

// BenchmarkOktaCalls prints the Okta requests per 1,000 changes.
func BenchmarkOktaCalls(b *testing.B) {
	var counts map[string]int
	for range b.N {
		counts = oktaCallCounts(b)
	}
	for _, k := range []string{"full sync (2,000 users, 20 groups, 10,000 members)", "incremental sync after 1,000 changes", "1,000 revocations"} {
		fmt.Printf("okta calls: %-52s %5d requests\n", k, counts[k])
	}
	b.ReportMetric(float64(counts["full sync (2,000 users, 20 groups, 10,000 members)"]), "full_sync_requests")
	b.ReportMetric(float64(counts["incremental sync after 1,000 changes"]), "incremental_requests")
	b.ReportMetric(float64(counts["1,000 revocations"]), "revocation_requests")
	b.ReportMetric(0, "ns/op")
}

// TestOktaCallEconomy: the request counts BenchmarkOktaCalls prints stay
// where the page sizes put them (before, in order: 71, 34 and 1,010).
func TestOktaCallEconomy(t *testing.T) {
	counts := oktaCallCounts(t)
	for k, limit := range map[string]int{"full sync (2,000 users, 20 groups, 10,000 members)": 31, "incremental sync after 1,000 changes": 14, "1,000 revocations": 1010} {
		if counts[k] > limit {
			t.Errorf("%s: %d requests, want at most %d", k, counts[k], limit)
		}
	}
}
