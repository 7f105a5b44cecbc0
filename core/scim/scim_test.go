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
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/demo"
	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/scim"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/need"
	"github.com/jitd/jitd/fixtures/samba"
	"github.com/jitd/jitd/fixtures/slapd"
)

var (
	srv      *slapd.Server
	startErr error
	dc       *samba.Server
	dcErr    error
)

func TestMain(m *testing.M) {
	os.Exit(need.Run(m,
		need.Fixture{Name: "slapd", Err: &startErr, Start: func() (err error) { srv, err = slapd.Start(slapd.Options{}); return err }, Stop: func() { srv.Stop() }},
		need.Fixture{Name: "samba", Err: &dcErr, Start: func() (err error) { dc, err = samba.Start(samba.Options{}); return err }, Stop: func() { dc.Stop() }},
	))
}

// env is a SCIM server over the test slapd, as a client sees it.
type env struct {
	t       *testing.T
	url     string
	handler http.Handler // the server as mounted, for other listeners
	store   store.Store
	conn    *ldap.Conn
	clock   *clock.Fake
	// changes counts the writes the server reported (the mirror's wakes).
	changes *atomic.Int32
	server  *scim.Server
	// dir is the directory as the server provisions it.
	dir connectors.Provisioner
	// logs holds the server's log, metrics its metrics.
	logs    *syncBuffer
	metrics *prometheus.Registry
}

// syncBuffer is a log sink that handlers on several goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, cfg scim.Config) *env {
	t.Helper()
	slapd.Need(t, srv, startErr)
	if err := srv.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	return newEnvOn(t, cfg, ldap.Config{URL: srv.LDAPSURL, CAFile: srv.CAFile, BindDN: slapd.ServiceDN, BindPasswordFile: filepath.Join(srv.PasswordDir, "service"),
		UserBase: slapd.PeopleBase, GroupBase: slapd.GroupBase, EmptyMember: slapd.EmptyMember, DisabledAttr: "pwdAccountLockedTime",
		Provisioning: &ldap.ProvisioningConfig{UserBase: slapd.ProvisionedPeople, GroupBase: slapd.ProvisionedGroups}})
}

// newADEnv is a SCIM server over the test Samba AD DC, bound as the
// delegated service account; userName is the userPrincipalName.
func newADEnv(t *testing.T, cfg scim.Config) *env {
	t.Helper()
	samba.Need(t, dc, dcErr)
	if err := dc.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	return newEnvOn(t, cfg, ldap.Config{Flavor: ldap.FlavorAD, URL: dc.LDAPSURL, CAFile: dc.CAFile,
		BindDN: samba.ServiceDN, BindPasswordFile: filepath.Join(dc.PasswordDir, "service"),
		UserBase: samba.PeopleOU, GroupBase: samba.GroupsOU, LoginAttr: "userPrincipalName",
		Provisioning: &ldap.ProvisioningConfig{UserBase: samba.ProvisionedPeopleOU, GroupBase: samba.ProvisionedGroupsOU, UPNSuffix: "jitd.test"}})
}

func newEnvOn(t *testing.T, cfg scim.Config, lc ldap.Config, wrap ...func(*ldap.Conn) connectors.Connector) *env {
	t.Helper()
	conn, err := ldap.New(lc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var served connectors.Connector = conn
	for _, w := range wrap {
		served = w(conn)
	}
	e := newEnvWith(t, cfg, served, lc.Flavor, "https://jitd.example/docs/scim")
	e.conn = conn
	return e
}

// newDemoEnv is a SCIM server over a fresh demo directory, as make run
// serves it (no documentation URL).
func newDemoEnv(t *testing.T, cfg scim.Config) *env {
	t.Helper()
	conn, err := demo.New(demo.Config{File: filepath.Join(t.TempDir(), "demo.json")})
	if err != nil {
		t.Fatal(err)
	}
	return newEnvWith(t, cfg, conn, "", "")
}

func newEnvWith(t *testing.T, cfg scim.Config, served connectors.Connector, flavor, docURL string) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	cfg.Directory = "corp"
	changes := &atomic.Int32{}
	logs, reg := &syncBuffer{}, prometheus.NewRegistry()
	s, err := scim.New(scim.Deps{Config: cfg, Conn: served, Flavor: flavor, Protected: protectedGroups, ProtectedUsers: []string{"oncall-bob", "oncall-bob@jitd.test"}, Store: st, Clock: clk, DocumentationURL: docURL,
		Changed: func() { changes.Add(1) }, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(scim.WithPrefix(scim.WithClient(r.Context(), "okta"), "/scim/v2"))
		http.StripPrefix("/scim/v2", s).ServeHTTP(w, r)
	})
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	prov, _ := connectors.AsProvisioner(served)
	return &env{t: t, url: hs.URL + "/scim/v2", handler: h, store: st, clock: clk, changes: changes, server: s, dir: prov, logs: logs, metrics: reg}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) do(method, path string, body any) reply {
	e.t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &out.body)
	return out
}

func (e *env) must(status int, r reply) reply {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

func (e *env) audit(action string) []string {
	e.t.Helper()
	evs, err := e.store.AuditEvents(context.Background(), store.AuditFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Action == action {
			out = append(out, ev.Actor+" "+ev.Detail)
		}
	}
	return out
}

func str(v any) string { s, _ := v.(string); return s }

func TestUsers_CreateReadFilterAndConflict(t *testing.T) {
	e := newEnv(t, scim.Config{})
	r := e.must(201, e.do("POST", "/Users", map[string]any{
		"schemas": []string{scim.UserSchema, scim.EnterpriseSchema}, "userName": "pat.kim", "externalId": "00u1",
		"name": map[string]any{"givenName": "Pat", "familyName": "Kim"}, "password": "Sekrit-Pa55!",
		"emails":              []any{map[string]any{"value": "pat.kim@example.org", "type": "work", "primary": true}},
		scim.EnterpriseSchema: map[string]any{"department": "Payments", "employeeNumber": "4711"},
	}))
	id := str(r.body["id"])
	loc := r.header.Get("Location")
	if id == "" || loc != e.url+"/Users/"+id {
		t.Fatalf("Location = %q for id %q; want the absolute URL of the user", loc, id)
	}
	if meta, _ := r.body["meta"].(map[string]any); str(meta["location"]) != loc || str(meta["created"]) == "" {
		t.Fatalf("meta = %v; want the absolute location and a creation time", meta)
	}
	if strings.Contains(r.raw, "password") || strings.Contains(r.raw, "Sekrit") {
		t.Fatalf("the password came back: %s", r.raw)
	}
	if r.body["active"] != true || str(r.body["externalId"]) != "00u1" {
		t.Fatalf("created = %s", r.raw)
	}
	u, err := e.conn.LookupUser(context.Background(), "pat.kim")
	if err != nil || !u.Enabled || u.DN != "uid=pat.kim,"+slapd.ProvisionedPeople {
		t.Fatalf("in the directory: %+v, %v", u, err)
	}

	get := e.must(200, e.do("GET", "/users/"+id+"/", nil)) // any case, trailing slash
	if ent, _ := get.body[scim.EnterpriseSchema].(map[string]any); str(ent["department"]) != "Payments" || str(ent["employeeNumber"]) != "4711" {
		t.Fatalf("enterprise attributes = %s", get.raw)
	}
	for _, f := range []string{`userName eq "PAT.KIM"`, `externalId eq "00u1"`, `id eq "` + id + `"`, `emails.value eq "pat.kim@example.org"`,
		`emails[type eq "work" and value co "@example.org"]`, `emails[type eq "work"].value eq "Pat.Kim@example.org"`, `name.familyName sw "K" and active eq true`, `meta.created gt "2000-01-01T00:00:00Z"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "payments"`, `not (userName eq "nobody") and userName pr`,
		`USERNAME eq "pat.kim"`, `userName eq "nobody" or name.givenName ew "AT"`, `meta.lastModified ge "2000-01-01T00:00:00Z"`} {
		l := e.must(200, e.do("GET", "/Users?filter="+urlQuery(f), nil))
		if l.body["totalResults"] != 1.0 {
			t.Errorf("filter %s: %s", f, l.raw)
		}
	}
	for _, f := range []string{`userName eq "pat"`, `externalId eq "00U1"`, `active eq false`, `userName eq "*"`} {
		if l := e.must(200, e.do("GET", "/Users?filter="+urlQuery(f), nil)); l.body["totalResults"] != 0.0 {
			t.Errorf("filter %s matched: %s", f, l.raw)
		}
	}
	e.must(400, e.do("GET", "/Users?filter="+urlQuery(`userName eq`), nil))

	// alice lives outside the provisioning OU: a second one would make her
	// login ambiguous for jitd.
	if r := e.must(409, e.do("POST", "/Users", map[string]any{"schemas": []string{scim.UserSchema}, "userName": "alice"})); str(r.body["scimType"]) != "uniqueness" {
		t.Fatalf("a login that exists elsewhere in the directory: %s", r.raw)
	}
	e.must(409, e.do("POST", "/Groups", map[string]any{"schemas": []string{scim.GroupSchema}, "displayName": "scratch"}))
	dup := e.must(409, e.do("POST", "/Users", map[string]any{"schemas": []string{scim.UserSchema}, "userName": "Pat.Kim"}))
	if str(dup.body["scimType"]) != "uniqueness" {
		t.Fatalf("duplicate: %s", dup.raw)
	}
	if got := e.audit(scim.UserCreated); len(got) != 1 || !strings.HasPrefix(got[0], "scim:okta created pat.kim") || strings.Contains(got[0], "Sekrit") {
		t.Fatalf("audit = %q", got)
	}
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22", "[", "%5B", "]", "%5D", "&", "%26").Replace(s)
}

func TestUsers_EntraPatchAndOktaReplace(t *testing.T) {
	e := newEnv(t, scim.Config{})
	id := str(e.must(201, e.do("POST", "/Users", map[string]any{"schemas": []string{scim.UserSchema}, "userName": "sam.roe", "active": "True",
		"name": map[string]any{"givenName": "Sam", "familyName": "Roe"}})).body["id"])
	// Entra: capitalised ops, string booleans, a filtered path that creates
	// the work email, a URN path, a path-less op.
	e.must(200, e.do("PATCH", "/Users/"+id, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []any{
		map[string]any{"op": "Replace", "path": `emails[type eq "work"].value`, "value": "sam.roe@example.org"},
		map[string]any{"op": "Add", "path": scim.EnterpriseSchema + ":department", "value": "Ops"},
		map[string]any{"op": "Replace", "value": map[string]any{"title": "SRE", "name.givenName": "Samuel"}},
		map[string]any{"op": "Replace", "path": "active", "value": "False"},
		map[string]any{"op": "add", "path": scim.EnterpriseSchema, "value": map[string]any{"employeeNumber": "77"}}, // a bare extension URN
	}}))
	u, _ := e.conn.LookupUser(context.Background(), "sam.roe")
	if u.Enabled {
		t.Fatal(`"active": "False" did not disable the user`)
	}
	got := e.must(200, e.do("GET", "/Users/"+id, nil))
	name, _ := got.body["name"].(map[string]any)
	if str(name["givenName"]) != "Samuel" || str(got.body["title"]) != "SRE" || !strings.Contains(got.raw, "sam.roe@example.org") || !strings.Contains(got.raw, `"department":"Ops"`) || !strings.Contains(got.raw, `"employeeNumber":"77"`) {
		t.Fatalf("after the PATCH: %s", got.raw)
	}
	// The manager: a user's id, also as Entra's bare string.
	boss := str(e.must(201, e.do("POST", "/Users", map[string]any{"schemas": []string{scim.UserSchema}, "userName": "boss.one"})).body["id"])
	boss2 := str(e.must(201, e.do("POST", "/Users", map[string]any{"schemas": []string{scim.UserSchema}, "userName": "boss.two"})).body["id"])
	e.must(200, e.do("PATCH", "/Users/"+id, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []any{
		map[string]any{"op": "Add", "path": scim.EnterpriseSchema + ":manager", "value": boss}}}))
	if u, _ := e.conn.LookupUser(context.Background(), "sam.roe"); u.Manager != "uid=boss.one,"+slapd.ProvisionedPeople {
		t.Fatalf("manager in the directory = %q: %s", u.Manager, e.do("GET", "/Users/"+id, nil).raw)
	}
	e.must(200, e.do("PATCH", "/Users/"+id, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []any{
		map[string]any{"op": "replace", "path": scim.EnterpriseSchema + ":manager.value", "value": boss2}}}))
	if l := e.must(200, e.do("GET", "/Users?filter="+urlQuery(scim.EnterpriseSchema+`:manager.value eq "`+boss2+`"`), nil)); l.body["totalResults"] != 1.0 {
		t.Fatalf("filter on the manager: %s", l.raw)
	}
	e.must(400, e.do("PATCH", "/Users/"+id, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []any{
		map[string]any{"op": "replace", "path": scim.EnterpriseSchema + ":manager", "value": map[string]any{"value": "00000000-0000-0000-0000-000000000000"}}}}))
	// Okta: PUT with the whole user; what it leaves out is cleared.
	e.must(200, e.do("PUT", "/Users/"+id, map[string]any{"schemas": []string{scim.UserSchema}, "userName": "sam.roe", "active": true,
		"name": map[string]any{"givenName": "Sam", "familyName": "Roe"}}))
	got = e.must(200, e.do("GET", "/Users/"+id, nil))
	if got.body["active"] != true || strings.Contains(got.raw, "SRE") || strings.Contains(got.raw, "example.org") || strings.Contains(got.raw, boss2) {
		t.Fatalf("after the PUT: %s", got.raw)
	}
	e.must(400, e.do("PATCH", "/Users/"+id, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []any{
		map[string]any{"op": "replace", "path": "id", "value": "x"}}}))
	e.must(400, e.do("PATCH", "/Users/"+id, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []any{
		map[string]any{"op": "replace", "path": "nonsense[", "value": "x"}}}))
	e.must(204, e.do("DELETE", "/Users/"+id, nil))
	e.must(404, e.do("GET", "/Users/"+id, nil))
	e.must(404, e.do("DELETE", "/Users/"+id, nil))
	if len(e.audit(scim.UserUpdated)) != 4 || len(e.audit(scim.UserDeleted)) != 1 {
		t.Fatalf("audit: updated %q, deleted %q", e.audit(scim.UserUpdated), e.audit(scim.UserDeleted))
	}
}

func TestGroups_MembersInBatchesAndTheJITGuard(t *testing.T) {
	e := newEnv(t, scim.Config{})
	var ids []any
	for _, n := range []string{"a.one", "b.two", "c.three"} {
		ids = append(ids, map[string]any{"value": str(e.must(201, e.do("POST", "/Users", map[string]any{"schemas": []string{scim.UserSchema}, "userName": n})).body["id"])})
	}
	g := e.must(201, e.do("POST", "/Groups", map[string]any{"schemas": []string{scim.GroupSchema}, "displayName": "Team One", "members": ids[:2]}))
	gid := str(g.body["id"])
	if members, _ := g.body["members"].([]any); len(members) != 2 {
		t.Fatalf("created group: %s", g.raw)
	}
	patch := func(ops ...any) reply {
		return e.do("PATCH", "/Groups/"+gid, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops})
	}
	e.must(204, patch(map[string]any{"op": "Add", "path": "members", "value": ids[2:]}))
	e.must(204, patch(map[string]any{"op": "Remove", "path": `members[value eq "` + elementID(ids[0]) + `"]`}))
	e.must(204, patch(map[string]any{"op": "remove", "path": "members", "value": ids[1:2]}))
	e.must(204, patch(map[string]any{"op": "replace", "value": map[string]any{"displayName": "Team Uno"}}))
	got := e.must(200, e.do("GET", "/Groups/"+gid, nil))
	if members, _ := got.body["members"].([]any); len(members) != 1 || elementID(members[0]) != elementID(ids[2]) || str(got.body["displayName"]) != "Team Uno" {
		t.Fatalf("after the PATCHes: %s", got.raw)
	}
	if by := e.must(200, e.do("GET", "/Groups?filter="+urlQuery(`members[value eq "`+elementID(ids[2])+`"]`), nil)); by.body["totalResults"] != 1.0 || !strings.Contains(by.raw, elementID(ids[2])) {
		t.Fatalf("groups by member: %s", by.raw)
	}
	if all := e.must(200, e.do("GET", "/Groups?startIndex=1&count=100", nil)); !strings.Contains(all.raw, `"members":[{`) {
		t.Fatalf("a plain listing lost the members: %s", all.raw)
	}
	if lean := e.must(200, e.do("GET", "/Groups?excludedAttributes=members&filter="+urlQuery(`displayName eq "team uno"`), nil)); strings.Contains(lean.raw, "members") || lean.body["totalResults"] != 1.0 {
		t.Fatalf("excludedAttributes=members: %s", lean.raw)
	}
	e.must(400, patch(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": "00000000-0000-0000-0000-000000000000"}}}))
	// Operations in a row are one directory call: two adds, then three removals.
	e.must(204, patch(map[string]any{"op": "add", "path": "members", "value": ids[:1]}, map[string]any{"op": "add", "path": "members", "value": ids[1:2]},
		map[string]any{"op": "remove", "path": `members[value eq "` + elementID(ids[0]) + `"]`},
		map[string]any{"op": "remove", "path": `members[value eq "` + elementID(ids[1]) + `"]`},
		map[string]any{"op": "remove", "path": `members[value eq "` + elementID(ids[2]) + `"]`}))
	if got := e.audit(scim.MembersChanged); len(got) < 2 || !strings.Contains(got[0], "removed 3 members") || !strings.Contains(got[1], "added 2 members") {
		t.Fatalf("member changes audited: %q", got)
	}
	e.must(204, patch(map[string]any{"op": "add", "path": "members", "value": ids[2:]}))

	// A JIT-managed group in the provisioning area: SCIM may not touch it.
	jit, err := e.conn.CreateEntry(context.Background(), connectors.EntrySpec{Kind: connectors.GroupEntry, Name: "pay-admins"})
	if err != nil {
		t.Fatal(err)
	}
	before := e.changes.Load()
	refused := e.must(403, e.do("PATCH", "/Groups/"+jit.ID, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "add", "path": "members", "value": ids[:1]}}}))
	if !strings.Contains(str(refused.body["detail"]), "configuration names the group pay-admins") {
		t.Fatalf("refusal: %s", refused.raw)
	}
	e.must(403, e.do("DELETE", "/Groups/"+jit.ID, nil))
	e.must(403, e.do("POST", "/Groups", map[string]any{"schemas": []string{scim.GroupSchema}, "displayName": "PAY-ADMINS"}))
	if in, _ := e.conn.IsMember(context.Background(), jit.ID, elementID(ids[0])); in {
		t.Fatal("a refused add still added the member")
	}
	if before == 0 || e.changes.Load() != before {
		t.Fatalf("writes reported %d, then %d after refusals; want some, then none", before, e.changes.Load())
	}
	if got := e.audit(scim.WriteRefused); len(got) != 3 || !strings.HasPrefix(got[2], "scim:okta jitd's configuration names the group pay-admins") || !strings.HasSuffix(got[2], "so SCIM may not change its members") {
		t.Fatalf("refusals audited: %q", got)
	}
	e.must(204, e.do("DELETE", "/Groups/"+gid, nil))
}

// protectedGroups stand for one group of each kind the daemon's
// configuration names (config.ProtectedGroups collects them): a JIT-managed
// group, a sign-in role's group, a break-glass group, an approval step's
// group, a separation-of-duties group and a group a policy rule names.
var protectedGroups = []string{"pay-admins", "jitd-admins", "oncall-sre", "pay-approvers", "payments-approve", "dba"}

// SCIM can never grant authority: a group the configuration names cannot be
// created (in any case), renamed to or from, deleted, replaced or have its
// members changed, whether it exists yet or not; a configured login cannot
// be created; and SCIM makes members only of the users it provisions.
func testProtection(t *testing.T, e *env, userName func(string) string, outsider string) {
	ctx := context.Background()
	patch := func(id string, ops ...any) reply {
		return e.do("PATCH", "/Groups/"+id, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops})
	}
	mine := str(e.must(201, e.do("POST", "/Users", map[string]any{"schemas": []string{scim.UserSchema}, "userName": userName("carol.p")})).body["id"])
	member := []any{map[string]any{"value": mine}}
	team := str(e.must(201, e.do("POST", "/Groups", map[string]any{"schemas": []string{scim.GroupSchema}, "displayName": "team-p"})).body["id"])
	for _, name := range protectedGroups {
		t.Run(name, func(t *testing.T) {
			for _, n := range []string{name, strings.ToUpper(name)} {
				e.must(403, e.do("POST", "/Groups", map[string]any{"schemas": []string{scim.GroupSchema}, "displayName": n, "members": member}))
			}
			e.must(403, patch(team, map[string]any{"op": "replace", "value": map[string]any{"displayName": name}}))
			// One that exists already, inside the provisioning area.
			g, err := e.conn.CreateEntry(ctx, connectors.EntrySpec{Kind: connectors.GroupEntry, Name: name})
			if err != nil {
				t.Fatal(err)
			}
			e.must(403, patch(g.ID, map[string]any{"op": "add", "path": "members", "value": member}))
			e.must(403, patch(g.ID, map[string]any{"op": "replace", "path": "members", "value": member}))
			e.must(403, e.do("PUT", "/Groups/"+g.ID, map[string]any{"schemas": []string{scim.GroupSchema}, "displayName": name, "members": member}))
			e.must(403, patch(g.ID, map[string]any{"op": "replace", "value": map[string]any{"displayName": name + "-old"}}))
			e.must(403, e.do("DELETE", "/Groups/"+g.ID, nil))
			if in, _ := e.conn.IsMember(ctx, g.ID, mine); in {
				t.Fatalf("a refused write made %s a member of %s", mine, name)
			}
			if found, err := e.server.ProtectedInArea(ctx); err != nil || !slices.Contains(found, name) {
				t.Fatalf("ProtectedInArea = %v, %v; want %s (the daemon warns of it)", found, err, name)
			}
			if err := e.conn.DeleteEntry(ctx, connectors.GroupEntry, g.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
	if got := e.audit(scim.WriteRefused); len(got) != 8*len(protectedGroups) {
		t.Fatalf("%d refusals audited, want %d", len(got), 8*len(protectedGroups))
	}
	// A configured login cannot be made, nor taken by a rename.
	e.must(403, e.do("POST", "/Users", map[string]any{"schemas": []string{scim.UserSchema}, "userName": userName("oncall-bob")}))
	e.must(403, e.do("PUT", "/Users/"+mine, map[string]any{"schemas": []string{scim.UserSchema}, "userName": userName("oncall-bob")}))
	// Members come from the provisioning area only: not the organisation's
	// other people, who are the directory's to manage.
	refused := e.must(400, patch(team, map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": outsider}}}))
	if !strings.Contains(str(refused.body["detail"]), "SCIM adds only users it manages") {
		t.Fatalf("outsider refused with: %s", refused.raw)
	}
	e.must(400, e.do("POST", "/Groups", map[string]any{"schemas": []string{scim.GroupSchema}, "displayName": "team-q", "members": []any{map[string]any{"value": outsider}}}))
	e.must(204, patch(team, map[string]any{"op": "add", "path": "members", "value": member}))
}

func TestGroups_ConfiguredGroupsAreOutOfSCIMsReach(t *testing.T) {
	e := newEnv(t, scim.Config{RequestsPerSecond: 1000, Burst: 1000})
	res, _ := connectors.AsResolver(e.conn)
	alice, err := res.LookupUser(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	testProtection(t, e, func(n string) string { return n }, alice.ID)
}

func TestAD_ConfiguredGroupsAreOutOfSCIMsReach(t *testing.T) {
	e := newADEnv(t, scim.Config{RequestsPerSecond: 1000, Burst: 1000})
	res, _ := connectors.AsResolver(e.conn)
	outsider, err := res.LookupUser(context.Background(), "alice@"+strings.ToLower(samba.Realm))
	if err != nil {
		t.Fatal(err)
	}
	testProtection(t, e, func(n string) string { return n + "@jitd.test" }, outsider.ID)
}

func elementID(v any) string { m, _ := v.(map[string]any); return str(m["value"]) }

func TestProtocol_DiscoverySearchProjectionAndErrors(t *testing.T) {
	e := newEnv(t, scim.Config{RequestsPerSecond: 1000, Burst: 1000})
	spc := e.must(200, e.do("GET", "/serviceproviderconfig", nil))
	if str(spc.body["documentationUri"]) != "https://jitd.example/docs/scim" || !strings.Contains(spc.raw, `"patch":{"supported":true}`) {
		t.Fatalf("ServiceProviderConfig: %s", spc.raw)
	}
	if s := e.must(200, e.do("GET", "/Schemas/"+scim.EnterpriseSchema, nil)); str(s.body["id"]) != scim.EnterpriseSchema {
		t.Fatalf("schema: %s", s.raw)
	}
	if rt := e.must(200, e.do("GET", "/ResourceTypes", nil)); rt.body["totalResults"] != 2.0 {
		t.Fatalf("resource types: %s", rt.raw)
	}
	for _, n := range []string{"e.five", "f.six"} {
		e.must(201, e.do("POST", "/Users", map[string]any{"schemas": []string{scim.UserSchema}, "userName": n, "title": "Eng",
			"name": map[string]any{"givenName": "G", "familyName": "F"}}))
	}
	s := e.must(200, e.do("POST", "/Users/.search", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
		"filter": `title eq "eng"`, "attributes": []string{"userName", "name.givenName"}, "count": 1, "startIndex": 2}))
	res, _ := s.body["Resources"].([]any)
	if s.body["totalResults"] != 2.0 || len(res) != 1 {
		t.Fatalf(".search page: %s", s.raw)
	}
	one, _ := res[0].(map[string]any)
	name, _ := one["name"].(map[string]any)
	if _, ok := one["title"]; ok || one["id"] == nil || name["familyName"] != nil || str(name["givenName"]) != "G" {
		t.Fatalf("attributes=userName,name.givenName gave %v", one)
	}
	// .search at the root looks through users and groups.
	if root := e.must(200, e.do("POST", "/.search", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
		"filter": `userName eq "e.five"`})); root.body["totalResults"] != 1.0 {
		t.Fatalf("root .search: %s", root.raw)
	}
	ex := e.must(200, e.do("GET", "/Users?excludedAttributes=name,meta&count=5", nil))
	if strings.Contains(ex.raw, `"name"`) || strings.Contains(ex.raw, `"meta"`) || !strings.Contains(ex.raw, `"userName"`) {
		t.Fatalf("excludedAttributes: %s", ex.raw)
	}
	if r := e.must(404, e.do("GET", "/Nothing", nil)); !strings.Contains(r.raw, "urn:ietf:params:scim:api:messages:2.0:Error") {
		t.Fatalf("404 is not a SCIM error: %s", r.raw)
	}
	e.must(400, e.do("POST", "/Users", "{not json"))
	if r := e.must(400, e.do("POST", "/Users", map[string]any{"schemas": []string{scim.UserSchema}})); str(r.body["scimType"]) == "" {
		t.Fatalf("missing userName: %s", r.raw)
	}
	e.must(501, e.do("POST", "/Bulk", map[string]any{}))
}

func TestProtocol_OverloadIsA429WithRetryAfter(t *testing.T) {
	e := newEnv(t, scim.Config{RequestsPerSecond: 1, Burst: 2})
	e.must(200, e.do("GET", "/ServiceProviderConfig", nil))
	e.must(200, e.do("GET", "/ServiceProviderConfig", nil))
	r := e.must(429, e.do("GET", "/ServiceProviderConfig", nil))
	if r.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
	}
	e.clock.Advance(time.Second)
	e.must(200, e.do("GET", "/ServiceProviderConfig", nil))
}

// leaky is a directory whose refusals carry its internals.
type leaky struct{ *ldap.Conn }

func (leaky) CreateEntry(context.Context, connectors.EntrySpec) (connectors.Entry, error) {
	return connectors.Entry{}, fmt.Errorf(`ldap: create uid=x.leak,ou=provisioned,ou=people,dc=example,dc=org: %w: LDAP Result Code 19 "Constraint Violation": 0000052D: AtrErr: DSID-03190F80`, connectors.ErrInvalid)
}

// A directory's refusal reaches the client as plain words and a request
// id: no DN (where the organisation keeps what), no server diagnostics.
func TestErrors_NoDirectoryInternalsReachTheClient(t *testing.T) {
	slapd.Need(t, srv, startErr)
	e := newEnvOn(t, scim.Config{}, ldap.Config{URL: srv.LDAPSURL, CAFile: srv.CAFile, BindDN: slapd.ServiceDN, BindPasswordFile: filepath.Join(srv.PasswordDir, "service"),
		UserBase: slapd.PeopleBase, GroupBase: slapd.GroupBase, EmptyMember: slapd.EmptyMember, DisabledAttr: "pwdAccountLockedTime",
		Provisioning: &ldap.ProvisioningConfig{UserBase: slapd.ProvisionedPeople, GroupBase: slapd.ProvisionedGroups}},
		func(c *ldap.Conn) connectors.Connector { return leaky{c} })
	got := e.must(400, e.do("POST", "/Users", map[string]any{"schemas": []string{scim.UserSchema}, "userName": "x.leak"}))
	for _, secret := range []string{"dc=example", "ou=provisioned", "LDAP Result Code", "0000052D", "DSID"} {
		if strings.Contains(got.raw, secret) {
			t.Fatalf("the client was shown %q: %s", secret, got.raw)
		}
	}
	if !strings.Contains(str(got.body["detail"]), "the directory refused the values (request ") {
		t.Fatalf("detail: %s", got.raw)
	}
}

// String values are bounded and single-line: a NUL, a newline or a
// megabyte-long name is refused before anything reaches the directory.
func TestInput_ControlCharactersAndHugeStringsAreRefused(t *testing.T) {
	e := newEnv(t, scim.Config{RequestsPerSecond: 1000, Burst: 1000})
	for name, doc := range map[string]map[string]any{
		"NUL in userName":     {"userName": "eve\u0000root"},
		"newline in name":     {"userName": "eve", "displayName": "Eve\nAdmin: yes"},
		"escape in title":     {"userName": "eve", "title": "\u001b[31mred"},
		"a huge display name": {"userName": "eve", "displayName": strings.Repeat("e", 5000)},
		"control in a key":    {"userName": "eve", "name\u0007": map[string]any{"givenName": "Eve"}},
	} {
		doc["schemas"] = []string{scim.UserSchema}
		if got := e.do("POST", "/Users", doc); got.status != 400 {
			t.Errorf("%s: %d, want 400: %s", name, got.status, got.raw)
		}
	}
	if got := e.must(200, e.do("GET", "/Users?filter="+urlQuery(`userName eq "eve"`), nil)); got.body["totalResults"] != 0.0 {
		t.Fatalf("a refused user exists: %s", got.raw)
	}
	id := str(e.must(201, e.do("POST", "/Users", map[string]any{"schemas": []string{scim.UserSchema}, "userName": "eve"})).body["id"])
	e.must(400, e.do("PATCH", "/Users/"+id, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "path": "displayName", "value": "Eve\r\nX"}}}))
}

// countingDir counts the entries the SCIM server reads with their
// attributes (not the ids-only listing that orders the pages).
type countingDir struct {
	*ldap.Conn
	full, listings atomic.Int32
}

func (c *countingDir) ReadEntries(ctx context.Context, q connectors.EntryQuery, fn func(connectors.Entry) error) error {
	if q.IDsOnly {
		c.listings.Add(1)
	}
	return c.Conn.ReadEntries(ctx, q, func(e connectors.Entry) error {
		if !q.IDsOnly {
			c.full.Add(1)
		}
		return fn(e)
	})
}

// A listing without a filter, paged as identity providers import, reads
// the page's entries and no others: the pages, in id order, cover every
// user once, and totalResults counts them all. The ids are read once for
// the pages of an import; a user created through SCIM shows at once, one
// created in the directory itself within 30 seconds.
func TestUsers_UnfilteredPagesReadOnlyTheirEntries(t *testing.T) {
	slapd.Need(t, srv, startErr)
	if err := srv.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	var dir *countingDir
	e := newEnvOn(t, scim.Config{}, ldap.Config{URL: srv.LDAPSURL, CAFile: srv.CAFile, BindDN: slapd.ServiceDN, BindPasswordFile: filepath.Join(srv.PasswordDir, "service"),
		UserBase: slapd.PeopleBase, GroupBase: slapd.GroupBase, EmptyMember: slapd.EmptyMember, DisabledAttr: "pwdAccountLockedTime",
		Provisioning: &ldap.ProvisioningConfig{UserBase: slapd.ProvisionedPeople, GroupBase: slapd.ProvisionedGroups}},
		func(c *ldap.Conn) connectors.Connector { dir = &countingDir{Conn: c}; return dir })
	const n = 60
	var want []string
	for i := range n {
		u, err := e.conn.CreateEntry(context.Background(), connectors.EntrySpec{Kind: connectors.UserEntry, Name: fmt.Sprintf("page.%02d", i), Enabled: true,
			Attrs: map[string][]string{"sn": {"P"}}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, u.ID)
	}
	slices.Sort(want)
	var got []string
	for start := 1; start <= n; start += 25 {
		dir.full.Store(0)
		r := e.must(200, e.do("GET", fmt.Sprintf("/Users?startIndex=%d&count=25", start), nil))
		if r.body["totalResults"] != float64(n) {
			t.Fatalf("totalResults = %v, want %d", r.body["totalResults"], n)
		}
		list, _ := r.body["Resources"].([]any)
		for _, res := range list {
			got = append(got, str(res.(map[string]any)["id"]))
		}
		if read, page := int(dir.full.Load()), len(list); read != page {
			t.Fatalf("the page from %d read %d entries with their attributes for %d resources", start, read, page)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the pages hold %v,\nwant every user once in id order: %v", got, want)
	}
	if l := dir.listings.Load(); l != 1 {
		t.Fatalf("the area's ids were read %d times for 3 pages", l)
	}
	total := func() float64 {
		return e.must(200, e.do("GET", "/Users?count=0", nil)).body["totalResults"].(float64)
	}
	e.must(201, e.do("POST", "/Users", map[string]any{"schemas": []string{scim.UserSchema}, "userName": "page.scim", "name": map[string]any{"familyName": "S"}}))
	if got := total(); got != n+1 {
		t.Fatalf("after a SCIM create: totalResults %v, want %d", got, n+1)
	}
	if _, err := e.conn.CreateEntry(context.Background(), connectors.EntrySpec{Kind: connectors.UserEntry, Name: "page.direct", Enabled: true, Attrs: map[string][]string{"sn": {"D"}}}); err != nil {
		t.Fatal(err)
	}
	if got := total(); got != n+1 {
		t.Fatalf("at once after a create in the directory: totalResults %v, want the remembered %d", got, n+1)
	}
	e.clock.Advance(30 * time.Second)
	if got := total(); got != n+2 {
		t.Fatalf("30s after a create in the directory: totalResults %v, want %d", got, n+2)
	}
}
