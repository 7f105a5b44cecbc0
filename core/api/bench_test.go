package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitd/jitd/connectors/demo"
	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/expiry"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/load"
	"github.com/jitd/jitd/sync/mirror"
)

// BenchmarkAutoApprovedRequest: 32 clients send auto-approved requests of 256
// people through the HTTP API (token check, policy over the mirror, request
// row, grant with its directory call on the demo directory, audit) until
// 4,000 are done; every response is a 201 with an active grant. Reports p50/p99 latency and
// requests per second, on the real clock and a real SQLite file.
func BenchmarkAutoApprovedRequest(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "jitd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	// 256 people in staff, so requests spread over people as they would.
	const people = 256
	data := demo.Data{Groups: []demo.Group{{ID: "g-staff", Name: "staff"}, {ID: "g-db", Name: "prod-db-admins", Members: []string{}}, {ID: "g-pay", Name: "payments-release", Members: []string{}}}}
	for i := range people {
		u := demo.User{ID: fmt.Sprintf("u-%04d", i), Login: fmt.Sprintf("user%04d", i)}
		data.Users = append(data.Users, u)
		data.Groups[0].Members = append(data.Groups[0].Members, u.ID)
	}
	seed, _ := json.Marshal(data)
	if err := os.WriteFile(filepath.Join(dir, "seed.json"), seed, 0o600); err != nil {
		b.Fatal(err)
	}
	conn, err := demo.New(demo.Config{File: filepath.Join(dir, "d.json"), Seed: filepath.Join(dir, "seed.json")})
	if err != nil {
		b.Fatal(err)
	}
	clk := clock.Real{}
	log := slog.New(slog.DiscardHandler)
	dirs := directories.Set{"demo": {Name: "demo", Conn: conn, Groups: map[string]directories.GroupPolicy{"prod-db-admins": {}, "payments-release": {}}}}
	registry := directories.NewRegistry(dirs, 0)
	reg := prometheus.NewRegistry()
	sched := expiry.New(expiry.Config{}, st, registry, clk, log, expiry.NewMetrics(reg), nil)
	mgr := grant.New(grant.Config{MinDuration: time.Minute, MaxDuration: 24 * time.Hour}, st, registry, clk, log, sched.Wake)
	mir := mirror.New(mirror.Config{}, st, map[string]mirror.Source{"demo": {Conn: conn}}, clk, log, nil)
	if _, err := mir.Sync(ctx, "demo", true); err != nil {
		b.Fatal(err)
	}
	pol, err := policy.Compile([]policy.Rule{{Name: "auto", Eligible: `"staff" in requester.groups`, MaxDuration: 8 * time.Hour}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	reqs := request.New(request.Config{}, st, pol, mgr, clk, log)
	srv := httptest.NewServer(api.NewServer(api.Deps{Store: st, Grants: mgr, Mirror: mir, Policy: pol, Requests: reqs,
		DefaultDirectory: "demo", Metrics: reg, Ready: func(context.Context) map[string]error { return nil }, Clock: clk, Log: log}))
	defer srv.Close()
	var clients []*apiclient.Client
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	for _, u := range data.Users {
		tok, err := auth.NewToken(ctx, st, u.Login, auth.RoleRequester, clk.Now())
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, apiclient.New(srv.URL, tok, &http.Client{Transport: transport}))
	}
	groups := []string{"prod-db-admins", "payments-release"}
	const workers, total = 32, 4000
	b.ResetTimer()
	for range b.N {
		lat, elapsed, err := load.Run(workers, total, func(w, n int) error {
			c := clients[(n/2+w)%len(clients)]
			r, err := c.CreateRequest(ctx, api.CreateRequestRequest{Group: groups[n%2], For: "1h", Reason: "bench"})
			if err == nil && (r.State != "approved" || r.GrantID == "") {
				err = &api.Error{Message: "not auto-approved: " + r.State}
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(load.Millis(lat, 0.5), "p50-ms")
		b.ReportMetric(load.Millis(lat, 0.99), "p99-ms")
		b.ReportMetric(float64(total)/elapsed.Seconds(), "req/s")
	}
}
