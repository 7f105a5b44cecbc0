package scim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/scim"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/load"
	"github.com/jitd/jitd/fixtures/slapd"
)

const benchUsers = 1000

// benchSetup is a SCIM server over a durable slapd holding 1,000
// provisioned users, and a raw go-ldap connection to the same slapd for
// the baseline.
type benchSetup struct {
	url   string
	ids   []string
	srv   *slapd.Server
	group string
}

// newBenchServer is a SCIM server over a fresh durable slapd.
func newBenchServer(b *testing.B) (string, *ldap.Conn, *slapd.Server) {
	b.Helper()
	srv, err := slapd.Start(slapd.Options{Durable: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Stop)
	cfg := srv.ConnectorConfig()
	cfg.DisabledAttr, cfg.Connections = "pwdAccountLockedTime", 8
	cfg.Provisioning = &ldap.ProvisioningConfig{UserBase: slapd.ProvisionedPeople, GroupBase: slapd.ProvisionedGroups}
	conn, err := ldap.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return serveSCIM(b, conn), conn, srv
}

// serveSCIM serves SCIM over conn, without rate limits, until b ends, and
// returns its base URL.
func serveSCIM(b *testing.B, conn connectors.Connector) string {
	b.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "jitd.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	s, err := scim.New(scim.Deps{Config: scim.Config{Directory: "corp", RequestsPerSecond: 1e6, Burst: 1e6, MaxInFlight: 64},
		Conn: conn, Store: st, Clock: clock.Real{}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(http.StripPrefix("/scim/v2", s))
	b.Cleanup(hs.Close)
	return hs.URL + "/scim/v2"
}

func newBench(b *testing.B) *benchSetup {
	b.Helper()
	ctx := context.Background()
	url, conn, srv := newBenchServer(b)
	out := &benchSetup{url: url, srv: srv}
	for i := range benchUsers {
		e, err := conn.CreateEntry(ctx, connectors.EntrySpec{Kind: connectors.UserEntry, Name: fmt.Sprintf("bench%04d", i), Enabled: true,
			Attrs: map[string][]string{"givenName": {"Bench"}, "sn": {fmt.Sprint(i)}, "mail": {fmt.Sprintf("bench%04d@example.org", i)}}})
		if err != nil {
			b.Fatal(err)
		}
		out.ids = append(out.ids, e.ID)
	}
	g, err := conn.CreateEntry(ctx, connectors.EntrySpec{Kind: connectors.GroupEntry, Name: "bench-group"})
	if err != nil {
		b.Fatal(err)
	}
	out.group = g.ID
	return out
}

// rawConns are n bound go-ldap connections to srv, for the baselines;
// they are closed when the benchmark ends.
func rawConns(b *testing.B, srv *slapd.Server, n int) chan *goldap.Conn {
	b.Helper()
	conns := make(chan *goldap.Conn, n)
	for range n {
		c, err := goldap.DialURL(srv.LDAPSURL, goldap.DialWithTLSConfig(srv.TLSConfig()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if err := c.Bind(slapd.ServiceDN, slapd.ServicePassword); err != nil {
			b.Fatal(err)
		}
		conns <- c
	}
	return conns
}

// run is load.Run that fails the benchmark on an error.
func run(b *testing.B, workers, total int, do func(n int) error) ([]time.Duration, time.Duration) {
	b.Helper()
	lat, elapsed, err := load.Run(workers, total, func(_, n int) error { return do(n) })
	if err != nil {
		b.Fatal(err)
	}
	return lat, elapsed
}

func call(c *http.Client, method, url string, body []byte, want int) (map[string]any, error) {
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d: %s", method, url, resp.StatusCode, raw)
	}
	var out map[string]any
	json.Unmarshal(raw, &out)
	return out, nil
}

// BenchmarkSCIMUserByUserName: 8 clients look up 4,000 users with
// GET /Users?filter=userName eq "…" (the query Okta and Entra send before
// every create), against 1,000 provisioned users on a durable slapd; each
// answer must hold exactly the user. Reports p50/p99 and requests/s, and
// the same 4,000 searches made with raw go-ldap (8 goroutines, a
// connection each) as the baseline: the ratio is what SCIM costs on top
// of the directory.
func BenchmarkSCIMUserByUserName(b *testing.B) {
	e := newBench(b)
	const workers, total = 8, 4000
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	b.ResetTimer()
	for range b.N {
		lat, elapsed := run(b, workers, total, func(n int) error {
			login := fmt.Sprintf("bench%04d", n%benchUsers)
			out, err := call(client, "GET", e.url+"/Users?filter=userName%20eq%20%22"+login+"%22", nil, 200)
			if err == nil && (out["totalResults"] != 1.0) {
				err = fmt.Errorf("%s: %v", login, out)
			}
			return err
		})
		conns := rawConns(b, e.srv, workers)
		_, rawElapsed := run(b, workers, total, func(n int) error {
			c := <-conns
			defer func() { conns <- c }()
			res, err := c.Search(goldap.NewSearchRequest(slapd.ProvisionedPeople, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 2, 0, false,
				fmt.Sprintf("(&(objectClass=inetOrgPerson)(uid=bench%04d))", n%benchUsers), []string{"entryUUID", "uid", "givenName", "sn", "mail"}, nil))
			if err == nil && len(res.Entries) != 1 {
				err = fmt.Errorf("raw search found %d", len(res.Entries))
			}
			return err
		})
		b.ReportMetric(load.Millis(lat, 0.5), "p50-ms")
		b.ReportMetric(load.Millis(lat, 0.99), "p99-ms")
		b.ReportMetric(float64(total)/elapsed.Seconds(), "req/s")
		b.ReportMetric(float64(total)/rawElapsed.Seconds(), "raw-ldap-req/s")
		b.ReportMetric(elapsed.Seconds()/rawElapsed.Seconds(), "x-raw")
	}
}

// BenchmarkSCIMGroupPatch1000: one PATCH adds 1,000 members to a group
// (Entra's and Okta's shape), the next removes them all with 1,000
// members[value eq "…"] operations, 10 times each, on a durable slapd;
// every PATCH is a 204 and the group holds what it should. Reports p50/p99
// per PATCH and members/s, and the baseline: raw go-ldap adding and then
// deleting the same 1,000 member DNs in one modify each.
func BenchmarkSCIMGroupPatch1000(b *testing.B) {
	e := newBench(b)
	client := &http.Client{}
	add := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}}
	var members []any
	for _, id := range e.ids {
		members = append(members, map[string]any{"value": id})
	}
	add["Operations"] = []any{map[string]any{"op": "Add", "path": "members", "value": members}}
	remove := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}}
	var ops []any
	for _, id := range e.ids {
		ops = append(ops, map[string]any{"op": "remove", "path": `members[value eq "` + id + `"]`})
	}
	remove["Operations"] = ops
	addBody, _ := json.Marshal(add)
	removeBody, _ := json.Marshal(remove)
	const rounds = 10
	b.ResetTimer()
	for range b.N {
		var lat []time.Duration
		start := time.Now()
		for range rounds {
			for _, body := range [][]byte{addBody, removeBody} {
				t0 := time.Now()
				if _, err := call(client, "PATCH", e.url+"/Groups/"+e.group, body, 204); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
		}
		elapsed := time.Since(start)
		out, err := call(client, "GET", e.url+"/Groups/"+e.group, nil, 200)
		if err != nil || len(out["members"].([]any)) != 0 {
			b.Fatalf("after the rounds the group holds %v, %v", out["members"], err)
		}
		c, err := goldap.DialURL(e.srv.LDAPSURL, goldap.DialWithTLSConfig(e.srv.TLSConfig()))
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Bind(slapd.ServiceDN, slapd.ServicePassword); err != nil {
			b.Fatal(err)
		}
		var dns []string
		for i := range benchUsers {
			dns = append(dns, fmt.Sprintf("uid=bench%04d,%s", i, slapd.ProvisionedPeople))
		}
		groupDN := "cn=bench-group," + slapd.ProvisionedGroups
		rawStart := time.Now()
		for range rounds {
			m := goldap.NewModifyRequest(groupDN, nil)
			m.Add("member", dns)
			if err := c.Modify(m); err != nil {
				b.Fatal(err)
			}
			m = goldap.NewModifyRequest(groupDN, nil)
			m.Delete("member", dns)
			if err := c.Modify(m); err != nil {
				b.Fatal(err)
			}
		}
		rawElapsed := time.Since(rawStart)
		c.Close()
		slices.Sort(lat)
		b.ReportMetric(load.Millis(lat, 0.5), "p50-ms")
		b.ReportMetric(load.Millis(lat, 0.99), "p99-ms")
		b.ReportMetric(float64(2*rounds*benchUsers)/elapsed.Seconds(), "members/s")
		b.ReportMetric(float64(2*rounds*benchUsers)/rawElapsed.Seconds(), "raw-ldap-members/s")
		b.ReportMetric(elapsed.Seconds()/rawElapsed.Seconds(), "x-raw")
	}
}

// BenchmarkSCIMInitialPush: an identity provider's first push, as Okta's
// and Entra's provisioning make it: 8 clients create 10,000 users by POST
// (name, display name, work email, externalId, enterprise department and
// employee number), then 1,000 groups by POST and 50,000 memberships by
// PATCH (50 members a group, one PATCH each), into a durable slapd with
// memberof and refint. The baseline is the same entries and member values
// written with raw go-ldap (8 goroutines, a connection each) into a second,
// identical slapd, in the same run. Reports the wall time of each and the
// ratio; the directory is checked to hold what was pushed.
func BenchmarkSCIMInitialPush(b *testing.B) {
	const workers, users, groups, perGroup = 8, 10000, 1000, 50
	for range b.N {
		url, conn, _ := newBenchServer(b)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
		ids := make([]string, users)
		gids := make([]string, groups)
		start := time.Now()
		_, usersTook := run(b, workers, users, func(n int) error {
			body, _ := json.Marshal(map[string]any{"schemas": []string{scim.UserSchema, scim.EnterpriseSchema}, "userName": fmt.Sprintf("push%05d", n),
				"externalId": fmt.Sprintf("00u%05d", n), "active": true, "displayName": fmt.Sprintf("Push %05d", n),
				"name":                map[string]any{"givenName": "Push", "familyName": fmt.Sprintf("%05d", n)},
				"emails":              []any{map[string]any{"value": fmt.Sprintf("push%05d@example.org", n), "type": "work", "primary": true}},
				scim.EnterpriseSchema: map[string]any{"department": fmt.Sprintf("Dept %d", n%40), "employeeNumber": fmt.Sprint(100000 + n)}})
			out, err := call(client, "POST", url+"/Users", body, 201)
			if err == nil {
				ids[n], _ = out["id"].(string)
			}
			return err
		})
		_, groupsTook := run(b, workers, groups, func(n int) error {
			body, _ := json.Marshal(map[string]any{"schemas": []string{scim.GroupSchema}, "displayName": fmt.Sprintf("push-group-%04d", n), "externalId": fmt.Sprintf("00g%04d", n)})
			out, err := call(client, "POST", url+"/Groups", body, 201)
			if err == nil {
				gids[n], _ = out["id"].(string)
			}
			return err
		})
		_, patchTook := run(b, workers, groups, func(n int) error {
			var members []any
			for k := range perGroup {
				members = append(members, map[string]any{"value": ids[(n*perGroup+k)%users]})
			}
			body, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "add", "path": "members", "value": members}}})
			_, err := call(client, "PATCH", url+"/Groups/"+gids[n], body, 204)
			return err
		})
		took := time.Since(start)

		// What was pushed is there.
		var count int
		if err := conn.ReadEntries(context.Background(), connectors.EntryQuery{Kind: connectors.UserEntry}, func(connectors.Entry) error { count++; return nil }); err != nil || count != users {
			b.Fatalf("the directory holds %d provisioned users, %v; want %d", count, err, users)
		}
		for _, n := range []int{0, groups / 2, groups - 1} {
			var m int
			if err := conn.ListMembers(context.Background(), gids[n], func(string) error { m++; return nil }); err != nil || m != perGroup {
				b.Fatalf("group %d has %d members, %v; want %d", n, m, err, perGroup)
			}
		}

		raw, err := slapd.Start(slapd.Options{Durable: true})
		if err != nil {
			b.Fatal(err)
		}
		conns := rawConns(b, raw, workers)
		with := func(fn func(c *goldap.Conn) error) error {
			c := <-conns
			defer func() { conns <- c }()
			return fn(c)
		}
		userDN := func(n int) string { return fmt.Sprintf("uid=push%05d,%s", n, slapd.ProvisionedPeople) }
		groupDN := func(n int) string { return fmt.Sprintf("cn=push-group-%04d,%s", n, slapd.ProvisionedGroups) }
		rawStart := time.Now()
		_, rawUsers := run(b, workers, users, func(n int) error {
			return with(func(c *goldap.Conn) error {
				a := goldap.NewAddRequest(userDN(n), nil)
				a.Attribute("objectClass", []string{"inetOrgPerson"})
				a.Attribute("uid", []string{fmt.Sprintf("push%05d", n)})
				a.Attribute("cn", []string{fmt.Sprintf("Push %05d", n)})
				a.Attribute("sn", []string{fmt.Sprintf("%05d", n)})
				a.Attribute("givenName", []string{"Push"})
				a.Attribute("displayName", []string{fmt.Sprintf("Push %05d", n)})
				a.Attribute("mail", []string{fmt.Sprintf("push%05d@example.org", n)})
				a.Attribute("departmentNumber", []string{fmt.Sprintf("Dept %d", n%40)})
				a.Attribute("employeeNumber", []string{fmt.Sprint(100000 + n)})
				a.Attribute("userPassword", []string{"{SSHA}bm90LWEtcmVhbC1oYXNoLWJ1dC1zYW1lLXNpemU="})
				return c.Add(a)
			})
		})
		_, rawGroups := run(b, workers, groups, func(n int) error {
			return with(func(c *goldap.Conn) error {
				a := goldap.NewAddRequest(groupDN(n), nil)
				a.Attribute("objectClass", []string{"groupOfNames"})
				a.Attribute("cn", []string{fmt.Sprintf("push-group-%04d", n)})
				a.Attribute("member", []string{slapd.EmptyMember})
				return c.Add(a)
			})
		})
		_, rawPatch := run(b, workers, groups, func(n int) error {
			return with(func(c *goldap.Conn) error {
				var dns []string
				for k := range perGroup {
					dns = append(dns, userDN((n*perGroup+k)%users))
				}
				m := goldap.NewModifyRequest(groupDN(n), nil)
				m.Add("member", dns)
				return c.Modify(m)
			})
		})
		rawTook := time.Since(rawStart)
		raw.Stop()
		b.ReportMetric(took.Seconds(), "scim-s")
		b.ReportMetric(rawTook.Seconds(), "raw-ldap-s")
		b.ReportMetric(took.Seconds()/rawTook.Seconds(), "x-raw")
		b.ReportMetric(usersTook.Seconds()/rawUsers.Seconds(), "users-x-raw")
		b.ReportMetric(groupsTook.Seconds()/rawGroups.Seconds(), "groups-x-raw")
		b.ReportMetric(patchTook.Seconds()/rawPatch.Seconds(), "members-x-raw")
		b.Logf("SCIM: users %s, groups %s, members %s; raw go-ldap: users %s, groups %s, members %s",
			usersTook.Round(time.Millisecond), groupsTook.Round(time.Millisecond), patchTook.Round(time.Millisecond),
			rawUsers.Round(time.Millisecond), rawGroups.Round(time.Millisecond), rawPatch.Round(time.Millisecond))
	}
}

// BenchmarkSCIMListPages100k: an identity provider's import pages through
// GET /Users?startIndex=…&count=100 over 100,005 users (slapd's generated
// ones, the provisioning area here); 20 pages at spread offsets, one
// client. Reports the first page (it reads the area's ids) and the
// pages' p50/p99. The baselines, same run: raw
// go-ldap reading one page of 100 entries with their attributes (paged
// search), and reading the whole area with its attributes (what each page
// cost when every listing read every entry).
func BenchmarkSCIMListPages100k(b *testing.B) {
	const users, pages, count = 100_000, 20, 100
	srv, admin := slapd.ForBenchmark(b, slapd.Options{Users: users})
	cfg := srv.ConnectorConfig()
	cfg.DisabledAttr, cfg.Connections = "pwdAccountLockedTime", 4
	cfg.Provisioning = &ldap.ProvisioningConfig{UserBase: slapd.PeopleBase, GroupBase: slapd.ProvisionedGroups}
	conn, err := ldap.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	url := serveSCIM(b, conn)
	client := &http.Client{}
	attrs := []string{"entryUUID", "uid", "cn", "sn", "givenName", "displayName", "mail", "pwdAccountLockedTime", "createTimestamp", "modifyTimestamp"}
	var page, whole []time.Duration
	var first time.Duration
	for range b.N {
		for p := range pages {
			start := 1 + p*(users/pages)
			t0 := time.Now()
			out, err := call(client, "GET", fmt.Sprintf("%s/Users?startIndex=%d&count=%d", url, start, count), nil, 200)
			page = append(page, time.Since(t0))
			if p == 0 {
				first = page[len(page)-1]
			}
			if err != nil {
				b.Fatal(err)
			}
			if list, _ := out["Resources"].([]any); len(list) != count || out["totalResults"].(float64) < users {
				b.Fatalf("page at %d: %d resources of %v", start, len(list), out["totalResults"])
			}
		}
		t0 := time.Now()
		res, err := admin.SearchWithPaging(goldap.NewSearchRequest(slapd.PeopleBase, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=inetOrgPerson)", attrs, nil), 500)
		if err != nil || len(res.Entries) < users {
			b.Fatalf("raw read of the area: %d entries, %v", len(res.Entries), err)
		}
		whole = append(whole, time.Since(t0))
	}
	onePage := time.Duration(0)
	for range 5 {
		t0 := time.Now()
		req := goldap.NewSearchRequest(slapd.PeopleBase, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, count, 0, false, "(objectClass=inetOrgPerson)", attrs, nil)
		if _, err := admin.Search(req); err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
			b.Fatal(err)
		}
		onePage += time.Since(t0)
	}
	slices.Sort(page)
	q := func(f float64) time.Duration { return page[int(f*float64(len(page)-1))] }
	b.ReportMetric(first.Seconds()*1000, "first-page-ms")
	b.ReportMetric(q(0.5).Seconds()*1000, "page-p50-ms")
	b.ReportMetric(q(0.99).Seconds()*1000, "page-p99-ms")
	b.ReportMetric(onePage.Seconds()*1000/5, "raw-one-page-ms")
	b.ReportMetric(whole[len(whole)/2].Seconds()*1000, "raw-whole-area-ms")
	b.ReportMetric(0, "ns/op")
}
