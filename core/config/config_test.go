package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/jitd/jitd/core/policy"
)

func TestExampleConfigIsValid(t *testing.T) {
	t.Chdir("../..") // relative paths are relative to where jitd starts
	cfg, err := Load("config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Directories) != 1 || cfg.Directories[0].Name != "demo" || len(cfg.Directories[0].Groups) != 2 {
		t.Fatalf("example directories: %+v", cfg.Directories)
	}
	if cfg.Grants.MaxDuration != 30*24*time.Hour {
		t.Fatalf("30d parsed as %s", cfg.Grants.MaxDuration)
	}
}

// TestExampleOktaBlockIsValid uncomments the example's Okta block.
func TestExampleOktaBlockIsValid(t *testing.T) {
	t.Chdir("../..")
	t.Setenv("JITD_OKTA_TOKEN", "00token")
	cfg, err := Parse([]byte(uncommentExample(t, "okta", nil)))
	if err != nil {
		t.Fatalf("uncommented Okta example: %v", err)
	}
	if len(cfg.Directories) != 2 || cfg.Directories[1].Kind != "okta" {
		t.Fatalf("directories: %+v", cfg.Directories)
	}
}

func TestExampleSCIMBlockIsValid(t *testing.T) {
	t.Chdir("../..")
	t.Setenv("JITD_WIKI_SCIM_TOKEN", "t")
	cfg, err := Parse([]byte(uncommentExample(t, "scim", nil)))
	if err != nil {
		t.Fatalf("uncommented SCIM example: %v", err)
	}
	if len(cfg.Directories) != 2 || cfg.Directories[1].Kind != "scim" {
		t.Fatalf("directories: %+v", cfg.Directories)
	}
	_, err = Parse([]byte("directories: [{name: d, kind: scim, settings: {url: http://x.example/scim/v2}, groups: [{name: g}]}]"))
	for _, want := range []string{"directories[0].settings.url: must be an https:// URL", "directories[0].settings.token_file: the application's SCIM bearer token is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v; want %q", err, want)
		}
	}
}

func TestAuditRetention_TooShortIsRefused(t *testing.T) {
	t.Chdir("../..")
	base := "directories: [{name: demo, kind: demo, settings: {file: ./var/x.json, seed: ./fixtures/demo/directory.json}, groups: [{name: g}]}]\n"
	_, err := Parse([]byte(base + "audit: {personal_data_retention: 30d}\n"))
	if err == nil || !strings.Contains(err.Error(), "audit.personal_data_retention: must be at least 90d") {
		t.Fatalf("30 days: %v", err)
	}
	cfg, err := Parse([]byte(base + "audit: {personal_data_retention: 730d}\n"))
	if err != nil || cfg.Audit.PersonalDataRetention != 730*24*time.Hour {
		t.Fatalf("730 days: %v", err)
	}
}

// TestExampleReviewsBlockIsValid uncomments the example's recurring access
// review, whose reviewers and scope then count as protected.
func TestExampleReviewsBlockIsValid(t *testing.T) {
	t.Chdir("../..")
	cfg, err := Parse([]byte(uncommentExample(t, "reviews", nil)))
	if err != nil {
		t.Fatalf("uncommented reviews example: %v", err)
	}
	c := cfg.Reviews.Campaigns
	if len(c) != 1 || c[0].Every != 90*24*time.Hour || c[0].Scope.Kind != "standing" || c[0].OnNoAnswer != "revoke" || len(c[0].Remind) != 2 {
		t.Fatalf("campaigns: %+v", c)
	}
	if !slices.Contains(cfg.ProtectedUsers(), "erin") {
		t.Errorf("the named reviewer and owner erin is not protected: %v", cfg.ProtectedUsers())
	}
}

// TestExampleADBlockIsValid uncomments the example's Active Directory block.
func TestExampleADBlockIsValid(t *testing.T) {
	t.Chdir("../..")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(ca, []byte("x"), 0o600)
	os.WriteFile(pw, []byte("secret"), 0o600)
	cfg, err := Parse([]byte(uncommentExample(t, "ad", func(line string) string {
		line = strings.Replace(line, "/etc/jitd/ad-ca.pem", ca, 1)
		return strings.Replace(line, "/etc/jitd/ad-password", pw, 1)
	})))
	if err != nil {
		t.Fatalf("uncommented AD example: %v", err)
	}
	if len(cfg.Directories) != 2 || cfg.Directories[1].Name != "corp-ad" {
		t.Fatalf("directories: %+v", cfg.Directories)
	}
	// The SCIM server block provisions into it.
	text := uncommentExample(t, "ad", func(line string) string {
		line = strings.Replace(line, "/etc/jitd/ad-ca.pem", ca, 1)
		return strings.Replace(line, "/etc/jitd/ad-password", pw, 1)
	})
	cfg, err = Parse([]byte(uncommentExampleText(t, text, "scim-server", nil)))
	if err != nil || cfg.SCIM == nil || cfg.SCIM.Directory != "corp-ad" || cfg.SCIM.UserAttributes["enterprise.costCenter"] != "extensionAttribute1" {
		t.Fatalf("uncommented SCIM server example: %+v, %v", cfg.SCIM, err)
	}
	noProv := uncommentExampleText(t, withoutBlock(text, "provisioning:"), "scim-server", nil)
	if _, err := Parse([]byte(noProv)); err == nil || !strings.Contains(err.Error(), "scim.directory: corp-ad has no provisioning block") {
		t.Fatalf("SCIM into a directory without provisioning: %v", err)
	}
	bad := strings.Replace(uncommentExampleText(t, text, "scim-server", nil), "directory: corp-ad", "directory: nowhere", 1)
	bad = strings.Replace(bad, "  directory: nowhere", "  directory: nowhere\n  jit_groups: baseline", 1)
	if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), `scim.directory: no directory is named "nowhere"`) || !strings.Contains(err.Error(), "scim.jit_groups: baseline is no longer offered") {
		t.Fatalf("a bad scim block: %v", err)
	}
}

// TestExamplePolicyBlockIsValid compiles the example's policy (it runs on
// the demo directory as it is) with its risk source uncommented.
func TestExamplePolicyBlockIsValid(t *testing.T) {
	t.Chdir("../..")
	text := uncommentExample(t, "risk", nil)
	if _, err := Parse([]byte(text)); err == nil || !strings.Contains(err.Error(), "policy.risk.token_env: environment variable JITD_RISK_TOKEN is not set") {
		t.Fatalf("without the risk token: %v", err)
	}
	t.Setenv("JITD_RISK_TOKEN", "t")
	cfg, err := Parse([]byte(text))
	if err != nil {
		t.Fatalf("uncommented policy example: %v", err)
	}
	if cfg.CompiledPolicy() == nil || len(cfg.Policy.Rules) != 3 || cfg.Policy.BreakGlass.MaxDuration != time.Hour || cfg.Policy.ReportingLineDepth != 1 || cfg.Policy.Risk == nil {
		t.Fatalf("policy: %+v", cfg.Policy)
	}
}

// TestExampleNotifyBlock uncomments the example's notifications: valid with
// its secrets set, and every missing secret reported with its path.
func TestExampleNotifyBlock(t *testing.T) {
	t.Chdir("../..")
	text := uncommentExample(t, "notify", nil)
	_, err := Parse([]byte(text))
	for _, want := range []string{"notify.channels[0].webhook_url_env: environment variable JITD_SLACK_SECURITY_WEBHOOK is not set",
		"notify.channels[2].secret_env: environment variable JITD_WEBHOOK_SECRET is not set"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("without secrets: %v; want %q", err, want)
		}
	}
	t.Setenv("JITD_SLACK_SECURITY_WEBHOOK", "https://hooks.slack.com/services/T/B/x")
	t.Setenv("JITD_WEBHOOK_SECRET", "s")
	cfg, err := Parse([]byte(text))
	if err != nil {
		t.Fatalf("uncommented notify example: %v", err)
	}
	if len(cfg.Notify.Channels) != 3 || len(cfg.Notify.ExpiringSoon) != 2 {
		t.Fatalf("notify: %+v", cfg.Notify)
	}
	for yaml, want := range map[string]string{
		"notify: {channels: [{name: a, kind: pager}]}": "notify.channels[0].kind: must be slack, slack_bot, email or webhook",
		"notify: {base_url: https://j.example, channels: [{name: a, kind: webhook, url: http://x.example/h, secret_env: JITD_WEBHOOK_SECRET}]}": "notify.channels[0].url: must be an https URL",
		"notify: {base_url: https://j.example, channels: [{name: a, kind: email, smtp: {host: m}, from: j@x, events: [grant.gone]}]}":           "notify.channels[0].events[0]: unknown event",
	} {
		_, err := Parse([]byte("directories: [{name: d, kind: demo, settings: {file: x.json}, groups: [{name: g}]}]\n" + yaml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", yaml, err, want)
		}
	}
}

func TestExampleAuthBlock(t *testing.T) {
	t.Chdir("../..")
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s"), 0o600)
	cfg, err := Parse([]byte(uncommentExample(t, "auth", func(line string) string {
		return strings.Replace(line, "/etc/jitd/oidc-secret", secret, 1)
	})))
	if err != nil {
		t.Fatalf("uncommented auth example: %v", err)
	}
	if o := cfg.Auth.OIDC; o == nil || o.Directory != "demo" || len(o.Roles.Admin) != 1 || o.SessionTTL != 8*time.Hour {
		t.Fatalf("auth.oidc = %+v", o)
	}
	const two = "directories: [{name: d, kind: demo, settings: {file: x.json}, groups: [{name: g}]}, {name: e, kind: demo, settings: {file: y.json}, groups: [{name: g}]}]\n"
	for yaml, want := range map[string][]string{
		"auth: {oidc: {issuer: http://idp.example, client_id: j}}": {"auth.oidc.issuer: must be the provider's https URL",
			"auth.oidc.directory: required with more than one directory"},
		"auth: {oidc: {issuer: https://idp.example, directory: f, redirect_url: https://j.example/auth/callback}}": {"auth.oidc.client_id: required",
			"auth.oidc.directory: no directory is named \"f\"", "auth.oidc.client_secret_file: the OIDC client secret is required"},
		"auth: {oidc: {issuer: https://idp.example, client_id: j, directory: d, session_ttl: 720h}}": {"auth.oidc.session_ttl: must be between"},
		"auth: {session_key_file: k}": {"auth.session_key_file: only used with auth.oidc"},
		"auth: {demo: {}}":            {"auth.demo.directory: required with more than one directory"},
	} {
		_, err := Parse([]byte(two + yaml))
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want %q", yaml, err, w)
			}
		}
	}
	// The demo sign-in lets anyone be anyone: never beside a real directory.
	_, err = Parse([]byte(`auth: {demo: {directory: d}}
directories: [{name: d, kind: demo, settings: {file: x.json}, groups: [{name: g}]}, {name: l, kind: okta, settings: {org_url: https://x.okta.com, token_env: T}}]`))
	if want := "auth.demo: the demo sign-in lets anyone act as anyone: it is refused while a real directory is configured (l is of kind okta)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("demo sign-in beside Okta: %v; want %q", err, want)
	}
}

// TestExampleEntraBlockIsValid uncomments the example's Entra ID block.
func TestExampleEntraBlockIsValid(t *testing.T) {
	t.Chdir("../..")
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s"), 0o600)
	cfg, err := Parse([]byte(uncommentExample(t, "entra", func(line string) string {
		return strings.Replace(line, "/etc/jitd/entra-secret", secret, 1)
	})))
	if err != nil {
		t.Fatalf("uncommented Entra example: %v", err)
	}
	if len(cfg.Directories) != 2 || cfg.Directories[1].Kind != "entra" {
		t.Fatalf("directories: %+v", cfg.Directories)
	}
	// The kind's own checks run: a tenant id that is not a GUID is named.
	_, err = Parse([]byte(uncommentExample(t, "entra", func(line string) string {
		return strings.Replace(strings.Replace(line, "/etc/jitd/entra-secret", secret, 1), "3f1c2a4e-1111-4a1b-9c01-0000000000aa", "contoso", 1)
	})))
	if err == nil || !strings.Contains(err.Error(), "directories[1].settings.tenant_id") {
		t.Fatalf("bad tenant id: %v", err)
	}
}

func TestAccountsSectionIsChecked(t *testing.T) {
	base := "directories: [{name: d, kind: demo, settings: {file: x.json}, groups: [{name: g}]}]\n"
	for yaml, want := range map[string]string{
		"accounts: {sponsor_offboarding: reassign}\n":    "accounts.reassign_to: required",
		"accounts: {sponsor_offboarding: keep}\n":        "accounts.sponsor_offboarding: must be disable or reassign",
		"accounts: {reassign_to: carol}\n":               "accounts.reassign_to: only used with sponsor_offboarding: reassign",
		"accounts: {retention: -1h}\n":                   "accounts.retention: must not be negative",
		"accounts: {retention: 3d, max_duration: 10x}\n": "invalid duration",
	} {
		_, err := Parse([]byte(base + yaml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", strings.TrimSpace(yaml), err, want)
		}
	}
	cfg, err := Parse([]byte(base))
	if err != nil || cfg.Accounts.Retention != 30*24*time.Hour || cfg.Accounts.SponsorOffboarding != "disable" {
		t.Fatalf("defaults: %+v, %v", cfg.Accounts, err)
	}
}

// uncommentExample returns config.example.yaml with the block between the
// "--- NAME example" and "--- end of NAME example" markers uncommented, as
// the README tells people to do; edit may change each uncommented line.
// A directory example that is not the demo's goes with deleting the demo
// sign-in, as the example says.
func uncommentExample(t *testing.T, name string, edit func(string) string) string {
	t.Helper()
	b, err := os.ReadFile("config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if name != "auth" && name != "risk" && name != "notify" && name != "scim-server" && name != "siem" {
		text = withoutDemoSignIn(text)
	}
	return uncommentExampleText(t, text, name, edit)
}

// withoutDemoSignIn deletes the example's demo sign-in block.
func withoutDemoSignIn(text string) string {
	var out []string
	in := false
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.Contains(line, "--- demo sign-in:"):
			in = true
		case strings.Contains(line, "--- end of demo sign-in"):
			in = false
		case !in:
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// uncommentExampleText is uncommentExample on a text already read.
func uncommentExampleText(t *testing.T, text, name string, edit func(string) string) string {
	t.Helper()
	b := []byte(text)
	var out []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, "--- "+name+" example"):
			in = true
			continue
		case strings.Contains(line, "--- end of "+name+" example"):
			in = false
			continue
		case in:
			line = strings.Replace(line, "# ", "", 1)
			if edit != nil {
				line = edit(line)
			}
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// TestExampleLDAPBlockIsValid uncomments the example's LDAP block, as the
// README tells people to, and checks that it is a valid configuration.
func TestExampleLDAPBlockIsValid(t *testing.T) {
	t.Chdir("../..")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, []byte("x"), 0o600)
	text := uncommentExample(t, "ldap", func(line string) string {
		return strings.Replace(line, "/etc/jitd/ldap-ca.pem", ca, 1)
	})
	t.Setenv("JITD_LDAP_PASSWORD", "s3cret")
	cfg, err := Parse([]byte(text))
	if err != nil {
		t.Fatalf("uncommented LDAP example: %v", err)
	}
	if len(cfg.Directories) != 2 || cfg.Directories[1].Kind != "ldap" {
		t.Fatalf("directories: %+v", cfg.Directories)
	}
}

func TestEveryProblemIsReportedWithItsPath(t *testing.T) {
	_, err := Parse([]byte(`
server:
  listen: 0.0.0.0:8457
log:
  level: loud
grants:
  min_duration: 1h
  max_duration: 30m
directories:
  - name: Demo_1
    kind: demo
    settings: {}
    groups: []
  - name: corp
    kind: ldap
    settings:
      url: ldap://ldap.example.org
      bind_dn: cn=jitd,dc=example,dc=org
      bind_password: hunter2-in-the-yaml
      user_base: ou=people,dc=example,dc=org
      group_base: ou=groups,dc=example,dc=org
    groups:
      - name: admins
      - name: admins
  - name: corp
    kind: okta-but-misspelled
    groups: [{name: x}]
`))
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		"server.listen: 0.0.0.0:8457 is not a loopback address",
		"log.level: must be debug",
		"grants.max_duration: must not be shorter",
		"directories[0].name: must be lower-case",
		"directories[0].settings.file: required",
		"directories[0].groups: list the JIT-managed groups",
		"directories[1].settings.bind_password: unknown key; did you mean bind_password_env?",
		"directories[2].name: \"corp\" is used by another directory",
		"directories[2].kind: unknown kind \"okta-but-misspelled\"",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Error("a secret value from the YAML appears in the error")
	}
}

func TestLDAPSettingsProblemsHaveSettingsPaths(t *testing.T) {
	_, err := Parse([]byte(`
directories:
  - name: corp
    kind: ldap
    settings:
      url: ldap://ldap.example.org
      bind_dn: cn=jitd,dc=example,dc=org
      bind_password_env: JITD_TEST_UNSET_VARIABLE
      user_base: ou=people,dc=example,dc=org
      group_base: ou=groups,dc=example,dc=org
    groups:
      - name: admins
      - name: admins
`))
	msg := err.Error()
	for _, want := range []string{
		`directories[0].settings.url: scheme must be ldaps, or ldap with start_tls: true (got "ldap://ldap.example.org"); set insecure: true to allow plain LDAP`,
		"directories[0].settings.bind_password_env: environment variable JITD_TEST_UNSET_VARIABLE is not set",
		`directories[0].groups[1].name: "admins" is listed twice`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

// The issue-20 cases: a typo'd key is named with its path, line and the key
// meant; a bad value names its path and does not hide the other problems.
func TestTyposAndBadValuesAreNamedWithPathsAndAllReported(t *testing.T) {
	_, err := Parse([]byte(`
colour: blue
polcy:
  rules: []
grants:
  max_duration: 2 hours
expiry:
  batch_size: many
directories:
  - name: demo
    kind: demo
    sync_intervall: 1m
    groups: [{name: ops}]
`))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		"config: colour: unknown key",
		"config: polcy: unknown key; did you mean policy? (line 3)",
		`config: grants.max_duration: invalid duration "2 hours": use Go syntax (90m, 2h30m) or days (3d) (line 6)`,
		`config: expiry.batch_size: want a whole number, got "many" (line 8)`,
		"config: directories[0].sync_intervall: unknown key; did you mean sync_interval? (line 12)",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func FuzzParse(f *testing.F) {
	b, _ := os.ReadFile("../../config.example.yaml")
	f.Add(string(b))
	f.Add("directories: [{name: a, kind: demo, settings: {file: x}, groups: [{name: g}]}]")
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := Parse([]byte(s))
		if err == nil && (cfg == nil || len(cfg.Directories) == 0) {
			t.Fatalf("accepted a config with no directories")
		}
	})
}

// Policy rules are compiled at load; every broken expression is reported
// with its YAML path.
func TestPolicyIsCompiledWithPaths(t *testing.T) {
	base := "directories: [{name: d, kind: demo, settings: {file: x.json}, groups: [{name: g}]}]\n"
	good := base + `policy:
  rules:
    - name: dba
      match: request.group == "g"
      eligible: '"dba" in requester.groups'
      max_duration: 4h
      approvals: [{users: [bob]}]
  separation:
    - {name: pay, groups: [a, b]}
`
	cfg, err := Parse([]byte(good))
	if err != nil || cfg.CompiledPolicy() == nil {
		t.Fatalf("good policy: %v", err)
	}
	bad := base + `policy:
  rules:
    - name: dba
      match: request.gruop == "g"
      eligible: requester.groups
`
	_, err = Parse([]byte(bad))
	for _, want := range []string{"config: policy.rules[0].match: ", "undeclared reference", "config: policy.rules[0].eligible: must be true or false"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad policy: %v; want %q", err, want)
		}
	}
}

// withoutBlock drops the YAML key starting with key and everything indented
// under it.
func withoutBlock(text, key string) string {
	var out []string
	indent := -1
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		depth := len(line) - len(trimmed)
		switch {
		case indent < 0 && strings.HasPrefix(trimmed, key):
			indent = depth
			continue
		case indent >= 0 && depth > indent && trimmed != "":
			continue
		}
		indent = -1
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// Every setting that names groups feeds ProtectedGroups, which keeps SCIM
// from creating, renaming, deleting or filling them: the test fills every
// field whose key or type says "group" (or "target") and expects each value
// back, so a new setting that names groups and is forgotten fails here.
func TestProtectedGroups_CoverEverySettingThatNamesGroups(t *testing.T) {
	var c Config
	var want []string
	notGroups := map[string]bool{"jit_groups": true, "owners": true} // a mode; logins (ProtectedUsers)
	var walk func(v reflect.Value, path string, groupish bool)
	walk = func(v reflect.Value, path string, groupish bool) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.Type().Elem().Kind() == reflect.Struct && v.Type().Elem() != reflect.TypeOf(policy.RiskConfig{}) {
				v.Set(reflect.New(v.Type().Elem()))
				walk(v.Elem(), path, groupish)
			}
		case reflect.Struct:
			if v.Type() == reflect.TypeOf(yaml.Node{}) {
				return
			}
			for i := range v.NumField() {
				f := v.Type().Field(i)
				key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				if !f.IsExported() || key == "-" || notGroups[key] {
					continue
				}
				g := groupish || strings.Contains(key, "group") || strings.Contains(key, "target") || strings.HasSuffix(f.Type.Name(), "Groups")
				walk(v.Field(i), path+"."+key, g)
			}
		case reflect.Slice:
			switch {
			case v.Type().Elem().Kind() == reflect.String && groupish:
				v.Set(reflect.ValueOf([]string{"g" + path}))
				want = append(want, "g"+path)
			case v.Type().Elem().Kind() == reflect.Struct:
				v.Set(reflect.MakeSlice(v.Type(), 1, 1))
				walk(v.Index(0), path+"[0]", groupish)
			}
		case reflect.String:
			if groupish && v.CanSet() {
				v.SetString("g" + path)
				want = append(want, "g"+path)
			}
		}
	}
	walk(reflect.ValueOf(&c).Elem(), "", false)
	if len(want) < 8 {
		t.Fatalf("found only %v: the walk misses settings", want)
	}
	t.Logf("settings that name groups: %v", want)
	got := c.ProtectedGroups()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("the setting %s names groups but ProtectedGroups leaves it out", strings.TrimPrefix(w, "g"))
		}
	}
}

// A policy rule's strings are groups it may trust; logins the
// configuration trusts are protected too.
func TestProtectedGroups_IncludeWhatRulesNameAndUsersTheConfigTrusts(t *testing.T) {
	t.Chdir("../..")
	cfg, err := Parse([]byte(`data_dir: ./var
directories:
  - name: demo
    kind: demo
    settings: {file: ./var/demo.json, seed: ./fixtures/demo/directory.json}
    groups: [{name: prod-db-admins}]
accounts: {sponsor_offboarding: reassign, reassign_to: it-desk}
policy:
  breakglass: {users: [oncall-bob], groups: [oncall-sre]}
  rules:
    - name: dbas
      eligible: '"dba" in requester.groups'
      approvals: [{users: [ann], groups: [pay-approvers]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"prod-db-admins", "oncall-sre", "dba", "pay-approvers"} {
		if !slices.Contains(cfg.ProtectedGroups(), g) {
			t.Errorf("ProtectedGroups lacks %s: %v", g, cfg.ProtectedGroups())
		}
	}
	if got := cfg.ProtectedUsers(); !slices.Equal(got, []string{"ann", "it-desk", "oncall-bob"}) {
		t.Errorf("ProtectedUsers = %v", got)
	}
}

// strip_domain needs the domains it may strip: otherwise carol@evil.example
// signs in as carol.
// demoConfig is a configuration of the demo directory; group is its one
// group's YAML, rest is appended.
func demoConfig(group, rest string) string {
	return `data_dir: ./var
directories:
  - name: demo
    kind: demo
    settings: {file: ./var/demo.json, seed: ./fixtures/demo/directory.json}
    groups: [` + group + `]
` + rest
}

func TestOIDC_StripDomainNeedsAllowedDomains(t *testing.T) {
	t.Chdir("../..")
	cfg := demoConfig("{name: prod-db-admins}", `auth:
  oidc: {issuer: "https://login.example.com", client_id: jitd, strip_domain: true}
`)
	if _, err := Parse([]byte(cfg)); err == nil || !strings.Contains(err.Error(), "auth.oidc.allowed_domains: required with strip_domain") {
		t.Fatalf("strip_domain alone: %v", err)
	}
	if _, err := Parse([]byte(strings.Replace(cfg, "strip_domain: true", "strip_domain: true, allowed_domains: [example.com]", 1))); err != nil {
		t.Fatalf("with allowed_domains: %v", err)
	}
}

// end_sessions is for directories that can end sessions.
func TestEndSessions_OnlyWhereTheDirectoryCanEndThem(t *testing.T) {
	t.Chdir("../..")
	cfg := demoConfig("{name: prod-db-admins, end_sessions: true}", "")
	if _, err := Parse([]byte(cfg)); err == nil || !strings.Contains(err.Error(), "directories[0].groups[0].end_sessions: demo directories cannot end sessions") {
		t.Fatalf("end_sessions on demo: %v", err)
	}
}

// Defaults that depend on other settings are filled in before the checks,
// which only check: SCIM over the only directory needs no name, and a
// directory's sync interval defaults to 5 minutes.
func TestDefaultsAreFilledBeforeTheChecks(t *testing.T) {
	t.Chdir("../..")
	cfg, err := Parse([]byte(demoConfig("{name: prod-db-admins}", "scim: {}\n")))
	if err != nil {
		t.Fatalf("scim without a directory over the only one: %v", err)
	}
	if cfg.SCIM.Directory != "demo" || cfg.Directories[0].SyncInterval != 5*time.Minute {
		t.Fatalf("scim.directory = %q, sync_interval = %s", cfg.SCIM.Directory, cfg.Directories[0].SyncInterval)
	}
}

func TestExampleSIEMBlockIsValid(t *testing.T) {
	t.Chdir("../..")
	t.Setenv("JITD_SIEM_TOKEN", "t")
	cfg, err := Parse([]byte(uncommentExample(t, "siem", nil)))
	if err != nil {
		t.Fatalf("uncommented siem example: %v", err)
	}
	if len(cfg.SIEM.Sinks) != 3 || cfg.SIEM.Sinks[0].Path != "/var/log/jitd/audit.jsonl" || cfg.SIEM.Sinks[1].Kind != "syslog" || cfg.SIEM.Sinks[2].BatchSize != 500 {
		t.Fatalf("siem: %+v", cfg.SIEM)
	}
}
