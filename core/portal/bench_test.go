package portal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/expiry"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/portal"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/load"
	"github.com/jitd/jitd/sync/mirror"
)

// BenchmarkPortalPages renders the portal's pages over HTTP, one at a time,
// with 10,000 grants of 1,000 people on 20 groups in a real SQLite file:
// each page's p50 and p99 (goal p99 < 20 ms), as the people who use them
// would meet them (session check, the in-process API calls, the render),
// beside the API's own JSON answer for the same filtered list.
func BenchmarkPortalPages(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "jitd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const people, groups, grants = 1000, 20, 10000
	data := demo.Data{Groups: []demo.Group{{ID: "g-admins", Name: "admins", Members: []string{"u-0000"}}}}
	managed := map[string]directories.GroupPolicy{}
	for i := range groups {
		name := fmt.Sprintf("app-%02d", i)
		data.Groups = append(data.Groups, demo.Group{ID: "g-" + name, Name: name, Members: []string{}})
		managed[name] = directories.GroupPolicy{}
	}
	for i := range people {
		data.Users = append(data.Users, demo.User{ID: fmt.Sprintf("u-%04d", i), Login: fmt.Sprintf("user%04d", i)})
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
	now := clk.Now()
	log := slog.New(slog.DiscardHandler)
	registry := directories.NewRegistry(directories.Set{"demo": {Name: "demo", Conn: conn, Groups: managed}}, 0)
	reg := prometheus.NewRegistry()
	sched := expiry.New(expiry.Config{}, st, registry, clk, log, expiry.NewMetrics(reg), nil)
	mgr := grant.New(grant.Config{MinDuration: time.Minute, MaxDuration: 30 * 24 * time.Hour}, st, registry, clk, log, sched.Wake)
	mir := mirror.New(mirror.Config{}, st, map[string]mirror.Source{"demo": {Conn: conn}}, clk, log, nil)
	if _, err := mir.Sync(ctx, "demo", true); err != nil {
		b.Fatal(err)
	}
	// Ten grants a person over the last thirty days; the newest of each
	// tenth person still active.
	err = st.Update(ctx, func(tx store.Tx) error {
		for i := range grants {
			u, g := i%people, (i/people+i)%groups
			start := now.Add(-time.Duration(grants-i) * 4 * time.Minute)
			gr := store.Grant{ID: fmt.Sprintf("g-%05d", i), Directory: "demo", GroupID: fmt.Sprintf("g-app-%02d", g), GroupName: fmt.Sprintf("app-%02d", g),
				UserID: fmt.Sprintf("u-%04d", u), UserName: fmt.Sprintf("user%04d", u), State: store.StateRevoked, Reason: "bench", CreatedBy: "admin",
				StartsAt: start, ExpiresAt: start.Add(2 * time.Hour), CreatedAt: start, UpdatedAt: start, EndedAt: start.Add(2 * time.Hour)}
			if i >= grants-people && u%10 == 0 {
				gr.State, gr.EndedAt, gr.ExpiresAt = store.StateActive, time.Time{}, now.Add(time.Hour)
			}
			if err := tx.InsertGrant(gr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	pol, err := policy.Compile([]policy.Rule{{Name: "any", MaxDuration: 8 * time.Hour, Approvals: []policy.Step{{Any: 1, Users: []string{"user0000"}}}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	reqs := request.New(request.Config{}, st, pol, mgr, clk, log)
	people0 := auth.NewPeople(st, "demo", auth.RoleGroups{Admin: []string{"admins"}})
	sessions := auth.NewSessions([]byte("0123456789abcdef0123456789abcdef"), people0, time.Hour, false, clk.Now)
	srv := api.NewServer(api.Deps{Store: st, Grants: mgr, Mirror: mir, Policy: pol, Requests: reqs, Sessions: sessions, DefaultDirectory: "demo",
		Metrics: reg, Ready: func(context.Context) map[string]error { return nil }, Clock: clk, Log: log})
	srv.MountPages(portal.New(portal.Deps{API: srv.Local(), Sessions: sessions, Demo: &people0, Clock: clk, Log: log}))
	hs := httptest.NewServer(srv)
	defer hs.Close()
	cookie := func(login string) string {
		p, err := people0.Person(ctx, login, false)
		if err != nil {
			b.Fatal(err)
		}
		rec := httptest.NewRecorder()
		sessions.Start(rec, p)
		return rec.Result().Cookies()[0].String()
	}
	admin, person := cookie("user0000"), cookie("user0010")
	pages := []struct{ name, who, path string }{
		{"my-access", person, "/ui/access"},
		{"request-form", person, "/ui/request"},
		{"timeline-person", person, "/ui/timeline"},
		{"grants-page", admin, "/ui/grants?state=all&offset=5000"},
		{"grants-filtered", admin, "/ui/grants?state=all&group=app-07"},
		// The baseline: the API's own JSON answer for the same list.
		{"api-grants-filtered", admin, "/api/v1/grants?group=app-07&limit=51"},
		{"timeline-group", admin, "/ui/timeline?group=app-07"},
		{"audit-page", admin, "/ui/audit"},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.ResetTimer()
	for range b.N {
		for _, pg := range pages {
			const n = 200
			lat, _, err := load.Run(1, n, func(int, int) error {
				req, _ := http.NewRequest(http.MethodGet, hs.URL+pg.path, nil)
				req.Header.Set("Cookie", pg.who)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("%s: %d\n%s", pg.path, resp.StatusCode, body)
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(load.Millis(lat, 0.5), pg.name+"-p50-ms")
			b.ReportMetric(load.Millis(lat, 0.99), pg.name+"-p99-ms")
		}
	}
}
