package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/jitd/jitd/core/config"
	"github.com/jitd/jitd/fixtures/poll"
)

// lockedBuffer is a daemon's output, read while the daemon writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runJitd runs the binary and returns its combined output and exit code.
func runJitd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(jitdBin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errorsAs(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("jitd %v: %v", args, err)
	return "", 0
}

// stop ends the daemon as systemd would, and waits for it.
func (d *proc) stop() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-d.done; err != nil {
		d.t.Fatalf("daemon ended with %v after SIGTERM:\n%s", err, d.log)
	}
	d.done <- nil
}

// A second daemon on the same data directory exits at once, naming the
// first one's pid, and the first goes on serving.
func TestE2E_OneDaemonPerDataDirectory(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, addr)
	d := start(t, dir, addr)
	out, code := runJitd(t, "serve", "--config", cfg)
	want := fmt.Sprintf("is in use by another jitd (pid %d)", d.cmd.Process.Pid)
	if code == 0 || !strings.Contains(out, want) {
		t.Fatalf("second daemon: exit %d\n%s\nwant %q", code, out, want)
	}
	if _, err := d.jitd("grant", "list"); err != nil {
		t.Fatalf("the first daemon after the second tried: %v", err)
	}
	// Once the first has stopped, the directory is free again.
	d.stop()
	start(t, dir, addr)
}

// A database that a newer jitd migrated is refused by serve before it
// changes anything, and migrate status says why (exit 3).
func TestE2E_NewerDatabaseIsRefused(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, addr)
	d := start(t, dir, addr)
	d.stop()
	out, code := runJitd(t, "migrate", "status", "--config", cfg)
	if code != 0 || !strings.Contains(out, "up to date") || !strings.Contains(out, "0001_init") {
		t.Fatalf("migrate status on a current database: exit %d\n%s", code, out)
	}
	db, err := sql.Open("sqlite3", filepath.Join(dir, "var", "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES ('9000_next', 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, code = runJitd(t, "serve", "--config", cfg)
	if code == 0 || !strings.Contains(out, "migrated by a newer jitd (schema 9000_next") {
		t.Fatalf("serve on a newer database: exit %d\n%s", code, out)
	}
	out, code = runJitd(t, "migrate", "status", "--config", cfg)
	if code != 3 || !strings.Contains(out, "9000_next") || !strings.Contains(out, "unknown to this binary") {
		t.Fatalf("migrate status on a newer database: exit %d\n%s", code, out)
	}
}

// waitLog waits until the daemon's log holds want, and returns the log.
func (d *proc) waitLog(want string) string {
	d.t.Helper()
	var log string
	poll.Until(d.t, 10*time.Second, "the daemon to log "+want, func() bool {
		log = d.log.String()
		return strings.Contains(log, want)
	})
	return log
}

// SIGHUP reloads: the policy, a new JIT-managed group and the log level
// apply at once; a changed listen address is named as waiting for a
// restart; a broken configuration is refused with every problem, and the
// running one stays. The daemon never dies of it.
func TestE2E_SIGHUPReloadsWhatCanChangeLive(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	p := writeConfig(t, dir, addr)
	base, _ := os.ReadFile(p)
	d := start(t, dir, addr)
	if out, err := d.jitd("sync", "run"); err != nil { // policy reads the mirror
		t.Fatalf("sync: %v\n%s", err, out)
	}
	policyTest := func(group string) string {
		out, _ := d.jitd("policy", "test", "--directory", "demo", "--user", "alice", "--group", group, "--for", "1h")
		return out
	}
	if out := policyTest("prod-db-admins"); !strings.Contains(out, "refused") {
		t.Fatalf("before the reload:\n%s", out)
	}
	if out, err := d.jitd("grant", "add", "--user", "alice", "--group", "staff", "--for", "1h", "--reason", "r"); err == nil || !strings.Contains(out, "not JIT-managed") {
		t.Fatalf("a grant on an unmanaged group: %v\n%s", err, out)
	}

	next := strings.Replace(string(base), "listen: "+addr, "listen: 127.0.0.1:1", 1) +
		"      - name: staff\nlog:\n  level: debug\npolicy:\n  rules:\n    - name: everyone\n      auto_approve: \"true\"\n"
	os.WriteFile(p, []byte(next), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	log := d.waitLog("configuration reloaded")
	for _, want := range []string{"applied=\"policy, directories[].groups, directories[].reconcile, log.level\"", "change only when jitd restarts", "settings=server"} {
		if !strings.Contains(log, want) {
			t.Errorf("the reload's log lacks %q:\n%s", want, log)
		}
	}
	if out := policyTest("prod-db-admins"); !strings.Contains(out, "allowed, approved without anyone") {
		t.Fatalf("after the reload:\n%s", out)
	}
	if out, err := d.jitd("grant", "add", "--user", "alice", "--group", "staff", "--for", "1h", "--reason", "r"); err != nil {
		t.Fatalf("a grant on the group the reload made JIT-managed: %v\n%s", err, out)
	}

	os.WriteFile(p, []byte(next+"polcy: {}\nexpiry:\n  lease: 2 hours\n"), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog("reload refused: the new configuration has problems")
	for _, want := range []string{"polcy: unknown key; did you mean policy?", `expiry.lease: invalid duration \"2 hours\"`} {
		d.waitLog(want) // each problem has a line of its own
	}
	if out := policyTest("prod-db-admins"); !strings.Contains(out, "allowed, approved without anyone") {
		t.Fatalf("the running policy after a refused reload:\n%s", out)
	}
	if strings.Count(d.log.String(), "configuration reloaded") != 1 {
		t.Fatal("a refused reload was reported as applied")
	}
}

// A backup taken while the daemon runs restores into a fresh data
// directory: the restored daemon passes audit verify (against the restored
// checkpoints too) and serves the same grants. A damaged archive, a data
// directory in use and one already holding a database are refused, and
// nothing is written.
func TestE2E_BackupRestoresIntoAFreshDirectory(t *testing.T) {
	src := t.TempDir()
	addr := freeAddr(t)
	cfgA := writeConfig(t, src, addr)
	d := start(t, src, addr)
	kept := addGrant(t, d, "1h")
	ended := addGrant(t, d, "2h")
	if out, err := d.jitd("grant", "revoke", ended, "--reason", "done"); err != nil {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	d.waitState(ended, "revoked", 10*time.Second)
	// A stop writes a signed checkpoint; the backup is taken from the
	// daemon running again.
	d.stop()
	d = start(t, src, addr)
	before, err := d.jitd("grant", "list", "--state", "active,revoked", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "jitd-backup.tgz")
	if out, code := runJitd(t, "backup", archive, "--config", cfgA); code != 0 || !strings.Contains(out, "audit.key") || !strings.Contains(out, "jitd.db") {
		t.Fatalf("backup while running: exit %d\n%s", code, out)
	}
	if fi, err := os.Stat(archive); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the archive: %v %v; want mode 0600", fi, err)
	}
	if out, code := runJitd(t, "backup", archive, "--config", cfgA); code == 0 || !strings.Contains(out, "exists") {
		t.Fatalf("a backup over an existing file: exit %d\n%s", code, out)
	}
	d.stop()

	// The fresh installation: same directory (the demo file), new data_dir.
	dst := t.TempDir()
	base, _ := os.ReadFile(cfgA)
	cfgB := filepath.Join(dst, "config.yaml")
	os.WriteFile(cfgB, []byte(strings.Replace(string(base), "data_dir: "+src+"/var", "data_dir: "+dst+"/var", 1)), 0o600)

	damaged := filepath.Join(t.TempDir(), "damaged.tgz")
	b, _ := os.ReadFile(archive)
	b[len(b)/2] ^= 0xff
	os.WriteFile(damaged, b, 0o600)
	if out, code := runJitd(t, "restore", damaged, "--config", cfgB); code == 0 {
		t.Fatalf("a damaged archive was restored:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dst, "var", "jitd.db")); err == nil {
		t.Fatal("a refused restore left a database behind")
	}
	if out, code := runJitd(t, "restore", archive, "--config", cfgB); code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	if out, code := runJitd(t, "restore", archive, "--config", cfgB); code == 0 || !strings.Contains(out, "exists already") {
		t.Fatalf("a restore over a restored directory: exit %d\n%s", code, out)
	}
	r := start(t, dst, addr)
	if out, code := runJitd(t, "restore", archive, "--config", cfgB); code == 0 || !strings.Contains(out, fmt.Sprintf("pid %d", r.cmd.Process.Pid)) {
		t.Fatalf("a restore while the daemon runs: exit %d\n%s", code, out)
	}
	if out, err := r.jitd("audit", "verify", "--checkpoint", filepath.Join(dst, "var", "audit.checkpoints")); err != nil || !strings.Contains(out, "intact") {
		t.Fatalf("audit verify after restore: %v\n%s", err, out)
	}
	after, err := r.jitd("grant", "list", "--state", "active,revoked", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(after, kept) || !strings.Contains(after, ended) || len(after) != len(before) {
		t.Fatalf("grants before the backup:\n%s\nafter the restore:\n%s", before, after)
	}
}

// The online check resolves every user and group the configuration names:
// missing and disabled people, missing groups, a group step nobody can
// answer and a step asking for more approvers than it names are reported
// with their paths; the example configuration passes as shipped.
func TestE2E_OnlineCheckResolvesWhatTheConfigurationNames(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, dir, freeAddr(t))
	base, _ := os.ReadFile(p)
	os.WriteFile(p, append(base, []byte(`      - name: ghosts
policy:
  rules:
    - name: dba
      match: request.group == "prod-db-admins"
      approvals:
        - {any: 2, users: [bob, nobody]}
        - {groups: [prod-db-admins]}
  breakglass:
    users: [dave]
    targets: [prod-db-admins]
`)...), 0o600)
	out, code := runJitd(t, "config", "check", "--online", "--config", p)
	if code != 3 {
		t.Fatalf("exit %d, want 3\n%s", code, out)
	}
	for _, want := range []string{
		`directories[0].groups[2]: no group "ghosts" in directory demo`,
		`policy.rules[0].approvals[0].users: no user "nobody" in any directory`,
		"policy.rules[0].approvals[0]: asks for 2 approvals but only 1 of the people it names can give one",
		`policy.rules[0].approvals[1].groups: group "prod-db-admins" has no members`,
		"policy.breakglass.users: dave is disabled in the directory",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q:\n%s", want, out)
		}
	}

	// The example, as README tells people to run it.
	tour := t.TempDir()
	example, _ := os.ReadFile("../../config.example.yaml")
	seed, _ := filepath.Abs("../../fixtures/demo/directory.json")
	cfg := filepath.Join(tour, "config.yaml")
	os.WriteFile(cfg, []byte(strings.ReplaceAll(strings.ReplaceAll(string(example), "./fixtures/demo/directory.json", seed), "./var", tour+"/var")), 0o600)
	if out, code := runJitd(t, "config", "check", "--online", "--config", cfg); code != 0 {
		t.Fatalf("the example configuration online: exit %d\n%s", code, out)
	}
}

// JSON logs give durations in seconds, as shippers count them; a reload
// may lower the level at once.
func TestLogger_JSONDurationsInSecondsAndALiveLevel(t *testing.T) {
	var buf bytes.Buffer
	level := new(slog.LevelVar)
	log := newLogger(&buf, config.Log{Level: "info", Format: "json"}, level)
	log.Debug("hidden")
	log.Info("grant revoked", "late", 1500*time.Millisecond)
	level.Set(slog.LevelDebug)
	log.Debug("shown")
	out := buf.String()
	if !strings.Contains(out, `"late":1.5`) || strings.Contains(out, "hidden") || !strings.Contains(out, "shown") {
		t.Fatalf("log:\n%s", out)
	}
}

// What operators look for: every counter present from the start, the
// build, HTTP requests counted; an access log line per request with its
// request id; a failed sign-in at warn; each revocation logged once.
func TestE2E_ObservabilityOperatorsExpect(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, addr)
	d := start(t, dir, addr)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`jitd_build_info{commit=`, `jitd_revocations_total{result="failure"} 0`, `jitd_sync_errors_total{directory="demo"} 0`,
		`jitd_sync_cursor_expired_total{directory="demo"} 0`, `jitd_offboarded_grants_total{directory="demo"} 0`, `jitd_http_requests_total{code="200",method="GET",route="/readyz"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/grants", nil)
	req.Header.Set("Authorization", "Bearer jitd_0000000000000000_nottherightsecret")
	req.Header.Set("X-Request-Id", "trace-42")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("X-Request-Id") != "trace-42" {
		t.Fatalf("a bad token: %d, request id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	id := addGrant(t, d, "1s")
	d.waitState(id, "revoked", 10*time.Second)
	log := d.waitLog("grant revoked")
	for _, want := range []string{
		`level=WARN msg="authentication failed" route="GET /api/v1/grants"`,
		`msg="http request" method=GET route=/api/v1/grants status=401`,
		"request_id=trace-42",
		`msg="http request" method=POST route=/api/v1/grants status=201`,
		"principal=system:admin",
		`msg="grant revoked" grant_id=` + id,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if n := strings.Count(log, `msg="grant revoked" grant_id=`+id); n != 1 {
		t.Errorf("the revocation was logged %d times", n)
	}
}

// Under systemd (Type=notify, WatchdogSec), the daemon says READY=1 once it
// serves, RELOADING=1 then READY=1 around a reload, STOPPING=1 on SIGTERM,
// and feeds the watchdog while its store answers.
func TestE2E_SystemdReadinessAndWatchdog(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, addr)
	sock := filepath.Join(dir, "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	msgs := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ln.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	next := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("the socket closed before %q", want)
				}
				if strings.HasPrefix(m, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q from the daemon", want)
			}
		}
	}
	d := startEnv(t, dir, addr, []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=200000"})
	next("READY=1")
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	d.cmd.Process.Signal(syscall.SIGHUP)
	next("RELOADING=1")
	next("READY=1")
	d.stop()
	next("STOPPING=1")
}
