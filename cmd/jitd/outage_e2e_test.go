package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jitd/jitd/fixtures/need"
	"github.com/jitd/jitd/fixtures/poll"
	"github.com/jitd/jitd/fixtures/slapd"
)

// A frozen directory (it accepts connections and answers nothing) is
// alerted like a stopped one, within alert_after, and the removal that
// waited for it goes within seconds of its return.
func TestE2E_FrozenDirectoryIsAlertedAndTheRemovalGoesWhenItAnswers(t *testing.T) {
	srv, d := startOnSlapd(t, `expiry:
  call_timeout: 4s
  alert_after: 2s
`, "", "")
	addr := d.addr
	id := addGrant(t, d, "3s")

	if err := srv.Freeze(); err != nil {
		t.Fatal(err)
	}
	defer srv.Thaw()
	frozen := time.Now()
	poll.Until(t, 15*time.Second, "the frozen directory to be alerted", func() bool {
		out, _ := d.jitd("audit", "list", "--limit", "20")
		return strings.Contains(out, "directory.unreachable")
	})
	if took := time.Since(frozen); took > 10*time.Second {
		t.Fatalf("alerted %s after the freeze, want about alert_after (2s) after the first call hung", took)
	}
	if up := metric(t, addr, `jitd_directory_up{directory="corp"}`); up != "0" {
		t.Fatalf("jitd_directory_up during the freeze = %q, want 0", up)
	}
	// The grant's end passes while the directory is frozen.
	poll.Until(t, 15*time.Second, "the grant to fall due", func() bool { return time.Since(frozen) > 5*time.Second })
	srv.Thaw()
	back := time.Now()
	d.waitState(id, "revoked", 10*time.Second)
	if took := time.Since(back); took > 5*time.Second {
		t.Fatalf("revoked %s after the directory answered again, want within seconds", took)
	}
	poll.Until(t, 10*time.Second, "the recovery to be audited", func() bool {
		out, _ := d.jitd("audit", "list", "--limit", "20")
		return strings.Contains(out, "directory.answering")
	})
	d.cmd.Process.Signal(syscall.SIGTERM)
	err := <-d.done
	d.done <- err
	for _, want := range []string{"ALERT: directory does not answer", "directory answers again"} {
		if !strings.Contains(d.log.String(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
}

// metric reads one sample from /metrics.
func metric(t *testing.T, addr, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// startOnSlapd starts a throwaway slapd and the daemon on it: one directory
// "corp" with the JIT-managed group prod-db-admins and no periodic sync.
// top is YAML added before the directories, settings to the directory's
// settings (indented by six), rest after the directories.
func startOnSlapd(t *testing.T, top, settings, rest string) (*slapd.Server, *proc) {
	t.Helper()
	srv, err := slapd.Start(slapd.Options{})
	if err != nil {
		need.Server(t, "slapd", false, err)
	}
	t.Cleanup(srv.Stop)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "var"), 0o700)
	addr := freeAddr(t)
	cfg := fmt.Sprintf(`server:
  listen: %s
data_dir: %s/var
grants:
  min_duration: 1s
%sdirectories:
  - name: corp
    kind: ldap
    settings:
%s%s    sync_interval: 1h
    groups:
      - name: prod-db-admins
%s`, addr, dir, top, srv.Settings(6), settings, rest)
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600)
	return srv, start(t, dir, addr)
}
