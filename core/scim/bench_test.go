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

func newBench(b *testing.B) *benchSetup {
	b.Helper()
	ctx := context.Background()
	srv, err := slapd.Start(slapd.Options{Durable: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Stop)
	conn, err := ldap.New(ldap.Config{URL: srv.LDAPSURL, CAFile: srv.CAFile, BindDN: slapd.ServiceDN, BindPasswordFile: filepath.Join(srv.PasswordDir, "service"),
		UserBase: slapd.PeopleBase, GroupBase: slapd.GroupBase, EmptyMember: slapd.EmptyMember, DisabledAttr: "pwdAccountLockedTime", Connections: 8,
		Provisioning: &ldap.ProvisioningConfig{UserBase: slapd.ProvisionedPeople, GroupBase: slapd.ProvisionedGroups}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "jitd.db"))
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
	out := &benchSetup{url: hs.URL + "/scim/v2", srv: srv}
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
		conns := make(chan *goldap.Conn, workers)
		for range workers {
			c, err := goldap.DialURL(e.srv.LDAPSURL, goldap.DialWithTLSConfig(e.srv.TLSConfig()))
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Bind(slapd.ServiceDN, slapd.ServicePassword); err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			conns <- c
		}
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
