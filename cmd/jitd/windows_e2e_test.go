package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/fixtures/need"
	"github.com/jitd/jitd/fixtures/poll"
	"github.com/jitd/jitd/fixtures/wine"
)

// jitd.exe, cross-compiled by make (JITD_WINDOWS_EXE), under wine: version,
// config check, and serve on the demo directory — ready, a grant made with
// this machine's CLI, and removed on time by the Windows daemon's queue.
func TestWindows_SmokeUnderWine(t *testing.T) {
	exe := os.Getenv("JITD_WINDOWS_EXE")
	if exe == "" {
		if need.Required() {
			t.Fatal("JITD_WINDOWS_EXE is not set: make test cross-compiles jitd.exe and sets it")
		}
		t.Skip("JITD_WINDOWS_EXE is not set (make windows builds jitd.exe)")
	}
	exe, _ = filepath.Abs(exe)
	w := wine.New(t)
	out, err := w.Command(exe, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "jitd ") {
		t.Fatalf("jitd.exe version: %v\n%s", err, out)
	}

	dir := t.TempDir()
	addr := freeAddr(t)
	seed, _ := filepath.Abs("../../fixtures/demo/directory.json")
	os.WriteFile(filepath.Join(dir, "seed.json"), must(os.ReadFile(seed)), 0o600)
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(fmt.Sprintf(`server: {listen: %s}
data_dir: ./var
grants: {min_duration: 1s}
directories:
  - name: demo
    kind: demo
    settings: {file: ./var/demo.json, seed: ./seed.json}
    groups: [{name: prod-db-admins}]
`, addr)), 0o600)
	check := w.Command(exe, "config", "check", "--config", "config.yaml")
	check.Dir = dir
	if out, err := check.CombinedOutput(); err != nil || !strings.Contains(string(out), "ok (1 directories)") {
		t.Fatalf("jitd.exe config check: %v\n%s", err, out)
	}

	serve := w.Command(exe, "serve", "--config", "config.yaml")
	serve.Dir = dir
	log := &lockedBuffer{}
	serve.Stdout, serve.Stderr = log, log
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	t.Cleanup(func() {
		serve.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("jitd.exe log:\n%s", log)
		}
	})
	poll.Until(t, 60*time.Second, "jitd.exe to be ready", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(jitdBin, append([]string{"--addr", "http://" + addr, "--token-file", filepath.Join(dir, "var", "admin.token")}, args...)...)
		cmd.Env = append(os.Environ(), "JITD_TOKEN=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("jitd %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	var g struct{ ID, State string }
	json.Unmarshal([]byte(cli("grant", "add", "--user", "alice", "--group", "prod-db-admins", "--for", "2s", "--reason", "smoke", "-o", "json")), &g)
	if g.State != "active" {
		t.Fatalf("grant on jitd.exe: %+v", g)
	}
	poll.Until(t, 30*time.Second, "jitd.exe to revoke the grant", func() bool {
		return strings.Contains(cli("grant", "show", g.ID, "-o", "json"), `"state": "revoked"`)
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
