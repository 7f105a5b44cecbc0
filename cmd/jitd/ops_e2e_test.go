package main

import (
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

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
