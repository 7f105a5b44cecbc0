package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jitd/jitd/fixtures/graphfake"
	"github.com/jitd/jitd/fixtures/oidcfake"
	"github.com/jitd/jitd/fixtures/orphans"
	"github.com/jitd/jitd/fixtures/poll"
	"github.com/jitd/jitd/fixtures/tool"
)

var jitdBin string

func TestMain(m *testing.M) {
	bin, remove, err := tool.BuildJitd(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	jitdBin = bin
	code := m.Run()
	// Every daemon the tests started is gone; its connector children must
	// be too, however the daemon ended.
	code = orphans.Verify(code, jitdBin)
	remove()
	os.Exit(code)
}

type proc struct {
	t    testing.TB
	dir  string
	addr string
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan error
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeConfig(t testing.TB, dir, addr string) string {
	seed, _ := filepath.Abs("../../fixtures/demo/directory.json")
	cfg := fmt.Sprintf(`server:
  listen: %s
data_dir: %s/var
instance_id: e2e
grants:
  min_duration: 1s
directories:
  - name: demo
    kind: demo
    settings:
      file: %s/var/demo.json
      seed: %s
    groups:
      - name: prod-db-admins
        max_duration: 8h
      - name: payments-release
`, addr, dir, dir, seed)
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func start(t testing.TB, dir, addr string) *proc {
	t.Helper()
	return startEnv(t, dir, addr, nil)
}

// startEnv starts the daemon with env added to this process's environment.
func startEnv(t testing.TB, dir, addr string, env []string) *proc {
	t.Helper()
	d, busy := tryStart(t, dir, addr, env)
	if busy {
		t.Fatalf("another process took %s before the daemon could listen on it", addr)
	}
	return d
}

// tryStart starts the daemon and waits until it is ready; busy says it
// exited because another process took its address first (freeAddr can
// only pick a port, not hold it), so the caller may try another.
func tryStart(t testing.TB, dir, addr string, env []string) (d *proc, busy bool) {
	t.Helper()
	d = &proc{t: t, dir: dir, addr: addr, log: &lockedBuffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command(jitdBin, "serve", "--config", filepath.Join(dir, "config.yaml"))
	if env != nil {
		d.cmd.Env = append(os.Environ(), env...)
	}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { d.done <- d.cmd.Wait(); close(exited) }()
	stopped := false
	t.Cleanup(func() {
		if stopped {
			return
		}
		d.cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.log)
		}
	})
	poll.Until(t, 20*time.Second, "the daemon to be ready", func() bool {
		select {
		case <-exited:
			if strings.Contains(d.log.String(), "address already in use") {
				busy = true
				return true
			}
			t.Fatalf("the daemon exited before it was ready:\n%s", d.log)
		default:
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if busy {
		stopped = true
	}
	return d, busy
}

func (d *proc) jitd(args ...string) (string, error) {
	d.t.Helper()
	cmd := exec.Command(jitdBin, append([]string{"--addr", d.addr}, args...)...)
	cmd.Env = append(os.Environ(), "JITD_TOKEN_FILE="+filepath.Join(d.dir, "var", "admin.token"), "JITD_TOKEN=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

// token makes an API token for login with role (as the admin).
func (d *proc) token(login, role string) string {
	d.t.Helper()
	out, err := d.jitd("token", "create", "--name", login, "--role", role, "-o", "json")
	if err != nil {
		d.t.Fatalf("token create: %v\n%s", err, out)
	}
	var v struct{ Token string }
	json.Unmarshal([]byte(out), &v)
	return v.Token
}

// as runs the CLI with tok.
func (d *proc) as(tok string, args ...string) (string, error) {
	cmd := exec.Command(jitdBin, append([]string{"--addr", d.addr}, args...)...)
	cmd.Env = append(os.Environ(), "JITD_TOKEN="+tok, "JITD_TOKEN_FILE=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (d *proc) grant(id string) map[string]any {
	d.t.Helper()
	out, err := d.jitd("grant", "show", id, "-o", "json")
	if err != nil {
		d.t.Fatalf("grant show: %v\n%s", err, out)
	}
	var v struct {
		Grant map[string]any `json:"grant"`
	}
	json.Unmarshal([]byte(out), &v)
	return v.Grant
}

func (d *proc) waitState(id, state string, limit time.Duration) map[string]any {
	d.t.Helper()
	var g map[string]any
	poll.Until(d.t, limit, "grant "+id+" to be "+state, func() bool {
		g = d.grant(id)
		return g["state"] == state
	})
	return g
}

func members(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "var", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Groups []struct {
			Name    string   `json:"name"`
			Members []string `json:"members"`
		} `json:"groups"`
	}
	json.Unmarshal(b, &data)
	for _, g := range data.Groups {
		if g.Name == "prod-db-admins" {
			return strings.Join(g.Members, ",")
		}
	}
	return "?"
}

const aliceID = "6f1c2a4e-0001-4a1b-9c01-000000000001"

func addGrant(t *testing.T, d *proc, dur string) string {
	t.Helper()
	out, err := d.jitd("grant", "add", "--user", "alice", "--group", "prod-db-admins", "--for", dur, "--reason", "INC-123", "-o", "json")
	if err != nil {
		t.Fatalf("grant add: %v\n%s", err, out)
	}
	var g struct{ ID, State string }
	json.Unmarshal([]byte(out), &g)
	if g.State != "active" {
		t.Fatalf("grant add: %s", out)
	}
	return g.ID
}

func TestE2E_GrantExpiresOnTimeAndIsAudited(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, addr)
	d := start(t, dir, addr)
	if fi, err := os.Stat(filepath.Join(dir, "var", "admin.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v %v", fi, err)
	}
	id := addGrant(t, d, "2s")
	if members(t, dir) != aliceID {
		t.Fatalf("alice not added: %q", members(t, dir))
	}
	out, _ := d.jitd("grant", "list")
	if !strings.Contains(out, id) || !strings.Contains(out, "active") {
		t.Fatalf("grant list:\n%s", out)
	}
	g := d.waitState(id, "revoked", 15*time.Second)
	if members(t, dir) != "" {
		t.Fatalf("alice still a member after expiry: %q", members(t, dir))
	}
	ended, _ := time.Parse(time.RFC3339Nano, g["ended_at"].(string))
	expires, _ := time.Parse(time.RFC3339Nano, g["expires_at"].(string))
	if late := ended.Sub(expires); late < 0 || late > time.Second {
		t.Fatalf("removed %s after expiry; the promise is within a second", late)
	}
	out, _ = d.jitd("audit", "list", "--grant", id)
	for _, want := range []string{"grant.requested", "grant.active", "grant.revoking", "grant.revoked", "admin", "INC-123"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit list lacks %q:\n%s", want, out)
		}
	}
	if out, err := d.jitd("audit", "verify"); err != nil || !strings.Contains(out, "intact") {
		t.Fatalf("audit verify: %v %s", err, out)
	}

	// Bad input: a clear one-line error, exit code 2, nothing changed.
	out, err := d.jitd("grant", "add", "--user", "mallory", "--group", "prod-db-admins", "--for", "1h", "--reason", "x")
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, `no user "mallory"`) {
		t.Fatalf("unknown user: %v %q", err, out)
	}

	// The mirror synced the demo directory at start; sync run works on demand.
	if out, err := d.jitd("sync", "run", "--directory", "demo"); err != nil || !strings.Contains(out, "full (the connector has no change feed)") {
		t.Fatalf("sync run: %v\n%s", err, out)
	}
	out, _ = d.jitd("sync", "status", "-o", "json")
	var st []struct {
		Directory string `json:"directory"`
		FullSyncs int    `json:"full_syncs"`
		Users     int    `json:"users"`
	}
	json.Unmarshal([]byte(out), &st)
	if len(st) != 1 || st[0].FullSyncs < 2 || st[0].Users != 6 {
		t.Fatalf("sync status: %s", out)
	}

	// The first sync recorded the baselines: payments-release's standing member is not drift.
	if out, err := d.jitd("baseline", "show", "--directory", "demo", "--group", "payments-release"); err != nil || !strings.Contains(out, "1 standing members") || !strings.Contains(out, "bob") {
		t.Fatalf("baseline show: %v\n%s", err, out)
	}
	if out, err := d.jitd("drift", "list", "-o", "json"); err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("drift list: %v\n%s", err, out)
	}

	// SIGTERM: clean exit.
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, d.log)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not stop on SIGTERM")
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

func TestE2E_CrashedDaemonRevokesOverdueGrantsOnRestart(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, addr)
	d := start(t, dir, addr)
	id := addGrant(t, d, "1s")
	expires := time.Now().Add(time.Second)
	d.cmd.Process.Kill() // SIGKILL: no shutdown at all
	<-d.done
	d.done <- nil
	// The daemon's clock is the real one: wall time must pass while it is down.
	poll.Until(t, 5*time.Second, "the grant's end to pass", func() bool { return time.Now().After(expires.Add(500 * time.Millisecond)) })
	if members(t, dir) != aliceID {
		t.Fatal("setup: membership should still be there while jitd is down")
	}
	d2 := start(t, dir, addr)
	d2.waitState(id, "revoked", 15*time.Second)
	if members(t, dir) != "" {
		t.Fatalf("alice still a member after restart: %q", members(t, dir))
	}
}

// connectorChild returns the daemon's connector child.
func (d *proc) connectorChild() orphans.Proc {
	d.t.Helper()
	for _, c := range orphans.Children(d.cmd.Process.Pid) {
		if strings.Contains(c.Cmdline, "connector serve") {
			return c
		}
	}
	d.t.Fatalf("the daemon (pid %d) has no connector child", d.cmd.Process.Pid)
	return orphans.Proc{}
}

// However the daemon dies, its connector child goes with it: within 2s of a
// SIGKILL, and at once on a SIGTERM of its own.
func TestE2E_ConnectorChildDiesWithTheDaemon(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, addr)
	d := start(t, dir, addr)
	child := d.connectorChild()
	d.cmd.Process.Kill()
	<-d.done
	d.done <- nil
	killed := time.Now()
	poll.Until(t, 2*time.Second, "the connector child to exit after its daemon was killed", func() bool { return !orphans.Alive(child.PID) })
	t.Logf("connector child gone %s after SIGKILL of the daemon", time.Since(killed).Round(time.Millisecond))

	// A child told to stop stops (the daemon starts a new one).
	d = start(t, dir, addr)
	child = d.connectorChild()
	syscall.Kill(child.PID, syscall.SIGTERM)
	poll.Until(t, 2*time.Second, "the connector child to exit on SIGTERM", func() bool { return !orphans.Alive(child.PID) })
	id := addGrant(t, d, "1h") // the daemon restarts its child on the next call
	if id == "" || members(t, dir) != aliceID {
		t.Fatal("no grant through the restarted child")
	}
}

func TestE2E_ConfigCheckReportsEveryProblem(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(p, []byte("log: {level: loud}\ndirectories: [{name: X, kind: nope, groups: []}]\n"), 0o600)
	cmd := exec.Command(jitdBin, "config", "check", "--config", p)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit %v, want 3\n%s", err, out)
	}
	for _, want := range []string{"log.level:", "directories[0].name:", "directories[0].kind:", "directories[0].groups:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("missing %q:\n%s", want, out)
		}
	}
}

// A contractor account through the CLI against the running daemon: created
// enabled, disabled at its end by the daemon's queue, deleted on request, every
// step in the audit trail.
func TestE2E_ContractorAccountLifecycle(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, addr)
	d := start(t, dir, addr)
	until := time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339)
	out, err := d.jitd("account", "create", "--sponsor", "bob", "--given-name", "Ann", "--surname", "Lee", "--email", "ann@vendor.example", "--until", until, "-o", "json")
	if err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	var created struct {
		Account struct{ ID, Login, State string } `json:"account"`
	}
	json.Unmarshal([]byte(out), &created)
	if created.Account.State != "active" || created.Account.Login != "ann.lee" {
		t.Fatalf("account create: %s", out)
	}
	enabled := func() (bool, bool) {
		b, _ := os.ReadFile(filepath.Join(dir, "var", "demo.json"))
		var data struct {
			Users []struct {
				Login    string `json:"login"`
				Disabled bool   `json:"disabled"`
			} `json:"users"`
		}
		json.Unmarshal(b, &data)
		for _, u := range data.Users {
			if u.Login == "ann.lee" {
				return !u.Disabled, true
			}
		}
		return false, false
	}
	if on, ok := enabled(); !on || !ok {
		t.Fatal("the account is not enabled in the directory after create")
	}
	state := func() string {
		out, err := d.jitd("account", "show", created.Account.ID, "-o", "json")
		if err != nil {
			t.Fatalf("account show: %v\n%s", err, out)
		}
		var v struct {
			Account struct{ State string } `json:"account"`
		}
		json.Unmarshal([]byte(out), &v)
		return v.Account.State
	}
	poll.Until(t, 10*time.Second, "the account to be disabled at its end", func() bool { return state() == "disabled" })
	if on, _ := enabled(); on {
		t.Fatal("disabled in jitd but still enabled in the directory")
	}
	if out, err := d.jitd("account", "delete", created.Account.ID, "--reason", "contract over"); err != nil {
		t.Fatalf("account delete: %v\n%s", err, out)
	}
	if _, ok := enabled(); ok {
		t.Fatal("still in the directory after delete")
	}
	out, _ = d.jitd("account", "show", created.Account.ID)
	for _, want := range []string{"account.creating", "account.created", "account.disabling", "account.disabled", "account.deleting", "account.deleted"} {
		if !strings.Contains(out, want) {
			t.Errorf("account show lacks %q:\n%s", want, out)
		}
	}
	if st := state(); st != "deleted" {
		t.Fatalf("after delete the account is %s", st)
	}
	if out, err := d.jitd("audit", "verify"); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	// Without policy rules, nothing may be requested, and policy test says so.
	out, err = d.jitd("policy", "test", "--directory", "demo", "--user", "alice", "--group", "prod-db-admins", "--for", "1h")
	if err != nil || !strings.Contains(out, "refused: no rule lets alice request prod-db-admins") {
		t.Fatalf("policy test: %v\n%s", err, out)
	}
	// Bad input is refused with a clear message and changes nothing.
	out, err = d.jitd("account", "create", "--sponsor", "nobody", "--login", "x", "--until", "2026-01-01")
	if err == nil || !strings.Contains(out, "until") {
		t.Fatalf("account in the past with an unknown sponsor: %v\n%s", err, out)
	}
}

// The binary serves kind: entra itself (the Graph SDK is linked only here):
// a grant on a fake tenant is added and, at its end, removed.
func TestE2E_EntraDirectoryThroughTheBinary(t *testing.T) {
	f := graphfake.New()
	defer f.Close()
	alice := f.AddUser("alice@contoso.example", "Alice", "Ng")
	gid := f.AddGroup("prod-db-admins", graphfake.Security)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "var"), 0o700)
	ca, secret := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "secret")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw}), 0o600)
	os.WriteFile(secret, []byte(f.Secret), 0o600)
	addr := freeAddr(t)
	cfg := fmt.Sprintf(`server:
  listen: %s
data_dir: %s/var
grants:
  min_duration: 1s
directories:
  - name: entra
    kind: entra
    settings:
      tenant_id: %s
      client_id: %s
      client_secret_file: %s
      authority: %s
      graph_url: %s
      ca_file: %s
    groups:
      - name: prod-db-admins
`, addr, dir, graphfake.TenantID, graphfake.ClientID, secret, f.URL, f.URL, ca)
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600)
	d := start(t, dir, addr)
	out, err := d.jitd("grant", "add", "--user", "alice@contoso.example", "--group", "prod-db-admins", "--for", "2s", "--reason", "INC-7", "-o", "json")
	if err != nil {
		t.Fatalf("grant add: %v\n%s", err, out)
	}
	var g struct{ ID, State string }
	json.Unmarshal([]byte(out), &g)
	if g.State != "active" || !slices.Contains(f.Members(gid), alice) {
		t.Fatalf("grant add: %s; members %v", out, f.Members(gid))
	}
	d.waitState(g.ID, "revoked", 15*time.Second)
	if m := f.Members(gid); len(m) != 0 {
		t.Fatalf("members after expiry: %v", m)
	}
}

// The request flow through the CLI: the admin makes tokens for alice and
// bob; alice asks; she cannot approve her own request; bob approves; the
// grant is made and alice is a member.
func TestE2E_RequestApproveGrant(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	p := writeConfig(t, dir, addr)
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0o600)
	f.WriteString(`policy:
  rules:
    - name: dba
      match: request.group == "prod-db-admins"
      max_duration: 4h
      approvals: [{users: [bob]}]
`)
	f.Close()
	d := start(t, dir, addr)
	token, as := d.token, d.as
	alice, bob := token("alice", "requester"), token("bob", "approver")
	out, err := as(alice, "request", "create", "--group", "prod-db-admins", "--for", "2h", "--reason", "deploy 2.3", "--ticket", "CHG-1042", "-o", "json")
	if err != nil {
		t.Fatalf("request create: %v\n%s", err, out)
	}
	var r struct{ ID, State string }
	json.Unmarshal([]byte(out), &r)
	if r.State != "pending" {
		t.Fatalf("request: %s", out)
	}
	if out, err := as(alice, "approve", r.ID); err == nil || !strings.Contains(out, "may not") {
		t.Fatalf("alice approving her own request: %v\n%s", err, out)
	}
	if out, err := as(bob, "request", "list", "--pending-my-approval"); err != nil || !strings.Contains(out, r.ID) {
		t.Fatalf("bob's queue: %v\n%s", err, out)
	}
	out, err = as(bob, "approve", r.ID, "--comment", "ok", "-o", "json")
	if err != nil || !strings.Contains(out, `"approved"`) {
		t.Fatalf("bob approving: %v\n%s", err, out)
	}
	if members(t, dir) != aliceID {
		t.Fatalf("alice not a member after approval: %q", members(t, dir))
	}
	if out, err := as(alice, "request", "create", "--group", "prod-db-admins", "--for", "9h", "--reason", "x"); err == nil || !strings.Contains(out, "at most 4h") {
		t.Fatalf("too long: %v\n%s", err, out)
	}
}

func TestE2E_BreakGlassIsGrantedAnnouncedAndReviewed(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	type delivery struct {
		event, sig string
		body       []byte
	}
	got := make(chan delivery, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Get("X-Jitd-Event"), r.Header.Get("X-Jitd-Signature"), b}
	}))
	t.Cleanup(hook.Close)
	secret := filepath.Join(dir, "hook.secret")
	os.WriteFile(secret, []byte("e2e-secret\n"), 0o600)
	p := writeConfig(t, dir, addr)
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0o600)
	fmt.Fprintf(f, `policy:
  breakglass:
    users: [carol]
    max_duration: 30m
notify:
  base_url: https://jitd.example.com
  channels:
    - name: security
      kind: webhook
      url: %s
      secret_file: %s
      events: [breakglass.used, review.closed]
`, hook.URL, secret)
	f.Close()
	d := start(t, dir, addr)
	token, as := d.token, d.as
	if out, err := d.jitd("sync", "run"); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	carol, bob := token("carol", "requester"), token("bob", "approver")
	if out, err := as(carol, "breakglass", "--group", "prod-db-admins", "--for", "2h", "--reason", "SEV1 INC-9"); err == nil || !strings.Contains(out, "at most 30m") {
		t.Fatalf("two hours of break-glass: %v\n%s", err, out)
	}
	out, err := as(carol, "breakglass", "--group", "prod-db-admins", "--for", "20m", "--reason", "SEV1 INC-9", "-o", "json")
	if err != nil {
		t.Fatalf("breakglass: %v\n%s", err, out)
	}
	var res struct {
		Request struct{ State, GrantID string } `json:"request"`
		Review  struct{ ID string }             `json:"review"`
	}
	json.Unmarshal([]byte(out), &res)
	if res.Request.State != "approved" || !strings.Contains(members(t, dir), "6f1c2a4e-0003-4a1b-9c01-000000000003") {
		t.Fatalf("break-glass did not grant at once: %s (members %q)", out, members(t, dir))
	}
	select {
	case dl := <-got:
		if dl.event != "breakglass.used" || !strings.Contains(string(dl.body), "SEV1 INC-9") || !strings.Contains(dl.sig, "v1=") {
			t.Fatalf("announcement: %+v %s", dl, dl.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the security webhook heard nothing of the break-glass use")
	}
	if out, err := as(carol, "review", "close", res.Review.ID, "--outcome", "justified", "--comment", "me"); err == nil {
		t.Fatalf("carol closed her own review:\n%s", out)
	}
	if out, err := as(bob, "review", "list"); err != nil || !strings.Contains(out, res.Review.ID) {
		t.Fatalf("open reviews: %v\n%s", err, out)
	}
	if out, err := as(bob, "review", "close", res.Review.ID, "--outcome", "justified", "--comment", "postmortem PM-9"); err != nil {
		t.Fatalf("bob closing: %v\n%s", err, out)
	}
}

func TestE2E_OIDCTokensSignPeopleIn(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	idp, err := oidcfake.Start("jitd", "s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	p := writeConfig(t, dir, addr)
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0o600)
	fmt.Fprintf(f, `auth:
  oidc:
    issuer: %s
    client_id: jitd
    strip_domain: true
    allowed_domains: [example.com]
    roles: {admin: [payments-release]}
policy:
  rules:
    - name: dba
      match: request.group == "prod-db-admins"
      auto_approve: context.mfa
      approvals: [{users: [bob]}]
`, idp.URL)
	f.Close()
	d := start(t, dir, addr)
	if out, err := d.jitd("sync", "run"); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	alice := idp.Token(map[string]any{"preferred_username": "alice@example.com", "amr": []string{"pwd", "otp"}})
	if out, err := d.as(alice, "whoami"); err != nil || !strings.Contains(out, "alice (requester), signed in by oidc with multi-factor") {
		t.Fatalf("whoami: %v\n%s", err, out)
	}
	if out, err := d.as(idp.Token(map[string]any{"preferred_username": "bob@EXAMPLE.com"}), "whoami"); err != nil || !strings.Contains(out, "bob (admin)") {
		t.Fatalf("bob: %v\n%s", err, out)
	}
	out, err := d.as(alice, "request", "create", "--group", "prod-db-admins", "--for", "1h", "--reason", "deploy", "-o", "json")
	if err != nil || !strings.Contains(out, `"approved"`) {
		t.Fatalf("alice's request with MFA: %v\n%s", err, out)
	}
	// Another domain's carol, or a login with no domain, is not the directory's carol.
	for _, who := range []string{"carol@evil.example", "carol"} {
		if out, err := d.as(idp.Token(map[string]any{"preferred_username": who}), "whoami"); err == nil || !strings.Contains(out, "not in one of the allowed domains") {
			t.Fatalf("%s signed in: %v\n%s", who, err, out)
		}
	}
	if out, err := d.as(idp.Token(map[string]any{"preferred_username": "dave@example.com"}), "whoami"); err == nil || !strings.Contains(out, "disabled") {
		t.Fatalf("dave is disabled in the directory: %v\n%s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "var", "session.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("session key: %v %v", fi, err)
	}
}

func TestE2E_ContractorOnboardingThroughAnInvite(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, addr)
	d := start(t, dir, addr)
	if out, err := d.jitd("sync", "run"); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	bob := d.token("bob", "approver")
	end := time.Now().UTC().AddDate(0, 1, 0).Format(time.DateOnly)
	out, err := d.as(bob, "invite", "create", "--until", end, "--note", "DB vendor", "-o", "json")
	if err != nil {
		t.Fatalf("invite create: %v\n%s", err, out)
	}
	var inv struct {
		Token string
		Path  string
	}
	json.Unmarshal([]byte(out), &inv)
	// The contractor has no token: the link is enough. The whole link works too.
	contractor := func(args ...string) (string, error) { return d.as("", args...) }
	if out, err := contractor("invite", "show", "http://"+addr+inv.Path); err != nil || !strings.Contains(out, "invite from bob") || !strings.Contains(out, "DB vendor") {
		t.Fatalf("invite show: %v\n%s", err, out)
	}
	out, err = contractor("invite", "accept", inv.Token, "--given-name", "Ann", "--surname", "Lee", "--email", "ann@vendor.example",
		"--company", "Vendor Ltd", "--until", time.Now().UTC().AddDate(0, 0, 14).Format(time.DateOnly), "-o", "json")
	if err != nil {
		t.Fatalf("invite accept: %v\n%s", err, out)
	}
	var sub struct {
		Request struct{ ID, State, Login string }
	}
	json.Unmarshal([]byte(out), &sub)
	if sub.Request.State != "pending" || sub.Request.Login != "c-ann.lee" {
		t.Fatalf("submitted: %s", out)
	}
	if out, err := contractor("invite", "accept", inv.Token, "--given-name", "Eve", "--surname", "X", "--email", "eve@x.example",
		"--company", "X", "--until", end); err == nil || !strings.Contains(out, "ask bob for a new one") {
		t.Fatalf("second use of the invite: %v\n%s", err, out)
	}
	if out, err := d.as(bob, "request", "list", "--pending-my-approval"); err != nil || !strings.Contains(out, "account c-ann.lee") {
		t.Fatalf("bob's queue: %v\n%s", err, out)
	}
	if out, err := d.as(bob, "approve", sub.Request.ID, "--comment", "known vendor"); err != nil {
		t.Fatalf("approve: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "var", "demo.json")); !strings.Contains(string(b), `"c-ann.lee"`) {
		t.Fatalf("no account in the directory: %s", b)
	}
	out, err = contractor("invite", "password", inv.Token)
	if err != nil || !strings.Contains(out, "login: c-ann.lee") || !strings.Contains(out, "initial password: ") {
		t.Fatalf("password: %v\n%s", err, out)
	}
	if out, err := contractor("invite", "password", inv.Token); err == nil {
		t.Fatalf("the password was handed out twice:\n%s", out)
	}
	if out, err := d.jitd("account", "list", "--sponsor", "bob"); err != nil || !strings.Contains(out, "c-ann.lee") {
		t.Fatalf("account list: %v\n%s", err, out)
	}
}

// A configuration that writes an attribute the directory does not hold is
// caught by config check --online and stops the daemon's start, instead of
// failing the first SCIM write in front of an identity provider.
func TestE2E_SchemaMisconfigurationCaughtOnlineAndAtStart(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	p := writeConfig(t, dir, addr)
	good, _ := os.ReadFile(p)
	bad := string(good) + "scim:\n  directory: demo\n  user_attributes:\n    title: jobTitleX\n"
	os.WriteFile(p, []byte(bad), 0o600)
	run := func(args ...string) (string, int) {
		cmd := exec.Command(jitdBin, args...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errorsAs(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if out, code := run("config", "check", "--config", p); code != 0 {
		t.Fatalf("offline check: exit %d\n%s", code, out)
	}
	out, code := run("config", "check", "--online", "--config", p)
	if code != 3 || !strings.Contains(out, "directories.demo: scim.user_attributes.title: the demo directory holds no attribute jobTitleX") {
		t.Fatalf("online check: exit %d, want 3 naming the setting\n%s", code, out)
	}
	out, code = run("serve", "--config", p)
	if code == 0 || !strings.Contains(out, "scim.user_attributes.title") {
		t.Fatalf("serve: exit %d, want a refusal naming the setting\n%s", code, out)
	}
	os.WriteFile(p, []byte(string(good)+"scim:\n  directory: demo\n"), 0o600)
	if out, code := run("config", "check", "--online", "--config", p); code != 0 || !strings.Contains(out, "ok online") {
		t.Fatalf("online check of a good configuration: exit %d\n%s", code, out)
	}
}

// A directory that cannot be reached is a problem of the online check,
// named by its directory, not a hang or a crash.
func TestE2E_OnlineCheckReportsAnUnreachableDirectory(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := filepath.Join(dir, "config.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf(`data_dir: %s/var
directories:
  - name: corp
    kind: ldap
    settings:
      url: ldaps://%s
      bind_dn: cn=jitd,dc=example,dc=org
      bind_password_env: JITD_TEST_NO_SUCH_PASSWORD
      user_base: ou=people,dc=example,dc=org
      group_base: ou=groups,dc=example,dc=org
      timeout: 2s
    groups: [{name: admins}]
`, dir, closed)), 0o600)
	cmd := exec.Command(jitdBin, "config", "check", "--online", "--config", p)
	cmd.Env = append(os.Environ(), "JITD_TEST_NO_SUCH_PASSWORD=secret")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(string(out), "directories.corp: ") {
		t.Fatalf("online check of an unreachable directory: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "secret") {
		t.Fatalf("the bind password is in the output:\n%s", out)
	}
}
