package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jitd/jitd/core/config"
)

func parse(t *testing.T, dir, text string) *config.Config {
	t.Helper()
	seed, _ := filepath.Abs("../../fixtures/demo/directory.json")
	os.Setenv("JITD_TEST_WEBHOOK_SECRET", "s3cret")
	cfg, err := config.Parse([]byte(`data_dir: ` + dir + `
directories:
  - name: demo
    kind: demo
    settings: {file: ` + dir + `/demo.json, seed: ` + seed + `}
    groups: [{name: prod-db-admins}]
` + text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A reload names exactly the settings that wait for a restart: not the
// live ones (policy, groups, reconciliation, notifications, the log level,
// SCIM's rate limit).
func TestNeedsRestart_NamesOnlyWhatCannotChangeLive(t *testing.T) {
	dir := t.TempDir()
	cur := parse(t, dir, "scim: {}\n")
	live := parse(t, dir, `scim: {requests_per_second: 5, burst: 5}
log: {level: debug}
policy:
  rules: [{name: all, auto_approve: "true"}]
notify:
  base_url: https://jitd.example.com
  channels: [{name: hook, kind: webhook, url: "https://hooks.example.com/x", secret_env: JITD_TEST_WEBHOOK_SECRET}]
`)
	if got := needsRestart(cur, live); len(got) != 0 {
		t.Fatalf("live changes named as needing a restart: %v", got)
	}
	restart := parse(t, dir, `server: {listen: 127.0.0.1:9999}
expiry: {lease: 5m}
scim: {max_results: 50}
`)
	got := needsRestart(cur, restart)
	for _, want := range []string{"server", "expiry", "scim"} {
		if !slices.Contains(got, want) {
			t.Errorf("%q not named in %v", want, got)
		}
	}
}
