// Package config loads and validates jitd's YAML configuration. Parsing is
// strict (unknown keys are errors) and validation is complete: one run reports
// every problem with its YAML path. Secrets are never values in the file, only
// the names of files or environment variables that hold them.
package config

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/builtin"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/notify"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/scim"
)

// Config is the whole configuration file.
type Config struct {
	Server      Server        `yaml:"server"`
	DataDir     string        `yaml:"data_dir"`
	InstanceID  string        `yaml:"instance_id"`
	Log         Log           `yaml:"log"`
	Grants      Grants        `yaml:"grants"`
	Expiry      Expiry        `yaml:"expiry"`
	Accounts    Accounts      `yaml:"accounts"`
	Policy      Policy        `yaml:"policy"`
	Notify      notify.Config `yaml:"notify"`
	Auth        Auth          `yaml:"auth"`
	Directories []Directory   `yaml:"directories"`
	// SCIM serves /scim/v2 so that Okta or Entra ID can provision users and
	// groups into one directory (which needs a provisioning block).
	SCIM *scim.Config `yaml:"scim"`
}

// Auth configures how people sign in besides API tokens.
type Auth struct {
	// OIDC accepts ID tokens from an OpenID Connect provider as bearer
	// tokens and, with redirect_url, browser sign-in.
	OIDC *auth.OIDCConfig `yaml:"oidc"`
	// SessionKeyFile signs browser sessions (created, mode 0600, on first
	// start; default data_dir/session.key). Replacing it signs everyone out.
	SessionKeyFile string `yaml:"session_key_file"`
}

// Server is the HTTP API listener.
type Server struct {
	Listen string `yaml:"listen"`
	// TLS: both set to serve HTTPS. Without them jitd only listens on loopback.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// AdminTokenFile receives the first admin token (mode 0600) on first start.
	AdminTokenFile string `yaml:"admin_token_file"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Grants bounds every grant.
type Grants struct {
	MinDuration Duration `yaml:"min_duration"`
	MaxDuration Duration `yaml:"max_duration"`
	// MaxText is the longest reason, ticket or comment a person may give
	// (characters; default 1000). Control characters are always refused.
	MaxText int `yaml:"max_text"`
}

// Expiry tunes the revocation queue.
type Expiry struct {
	MaxAttempts int      `yaml:"max_attempts"`
	BatchSize   int      `yaml:"batch_size"`
	Concurrency int      `yaml:"concurrency"`
	Lease       Duration `yaml:"lease"`
	// CallTimeout bounds every directory call, on every path (a listing or
	// change feed: the wait for its next page).
	CallTimeout Duration `yaml:"call_timeout"`
	// AlertAfter is how long a directory may go without answering, or a
	// failing removal stay overdue, before jitd alerts.
	AlertAfter Duration `yaml:"alert_after"`
}

// Accounts configures the ephemeral (contractor) account lifecycle.
type Accounts struct {
	// Retention is how long a disabled account is kept before deletion.
	Retention Duration `yaml:"retention"`
	// MaxDuration caps an account's lifetime.
	MaxDuration Duration `yaml:"max_duration"`
	// SponsorOffboarding says what happens to a contractor's accounts when
	// their sponsor is disabled or deleted: disable them, or reassign them
	// to ReassignTo.
	SponsorOffboarding string `yaml:"sponsor_offboarding"`
	ReassignTo         string `yaml:"reassign_to"`
}

// Policy is the access-request policy: rules in CEL (see core/policy) and
// separation-of-duties sets. `jitd policy test` explains its decisions.
type Policy struct {
	Rules      []PolicyRule `yaml:"rules"`
	Separation []Separation `yaml:"separation"`
	BreakGlass BreakGlass   `yaml:"breakglass"`
	// RequestTTL is how long a request waits for its decisions (default 24h).
	RequestTTL Duration `yaml:"request_ttl"`
	// ReportingLineDepth keeps people who report to the requester (1:
	// directly, 2: also their reports, ...) from approving the request, by
	// the managers in the mirror. 0 turns it off.
	ReportingLineDepth int `yaml:"reporting_line_depth"`
	// Risk is where context.risk comes from (0 without it).
	Risk *policy.RiskConfig `yaml:"risk"`

	compiled *policy.Policy
}

// PolicyRule is one rule; the expressions are CEL.
type PolicyRule struct {
	Name        string         `yaml:"name"`
	Match       string         `yaml:"match"`
	Eligible    string         `yaml:"eligible"`
	MaxDuration Duration       `yaml:"max_duration"`
	Approvals   []ApprovalStep `yaml:"approvals"`
	AutoApprove string         `yaml:"auto_approve"`
}

// ApprovalStep is "any N of these users or members of these groups".
type ApprovalStep struct {
	Any    int      `yaml:"any"`
	Users  []string `yaml:"users"`
	Groups []string `yaml:"groups"`
}

// BreakGlass names who may grant themselves access at once, without
// approval: Users, and members of Groups in the directory. Targets limits
// the groups it can grant (default: every JIT-managed group); MaxDuration
// caps each use (default 1h).
type BreakGlass struct {
	Users       []string `yaml:"users"`
	Groups      []string `yaml:"groups"`
	Targets     []string `yaml:"targets"`
	MaxDuration Duration `yaml:"max_duration"`
}

// Separation is a set of groups nobody may hold two of at once.
type Separation struct {
	Name   string   `yaml:"name"`
	Groups []string `yaml:"groups"`
}

// ProtectedGroups returns every group the configuration names for any
// purpose: JIT-managed groups, the groups of each sign-in role, break-glass
// groups and targets, approval steps, separation-of-duties sets and every
// string a policy rule names. Membership of any of them is authority in
// jitd, so nothing jitd offers to others (SCIM) may create, rename, delete
// or fill them. A new setting that names groups must add them here (a test
// fails when one is missed).
func (c *Config) ProtectedGroups() []string {
	var out []string
	for _, d := range c.Directories {
		for _, g := range d.Groups {
			out = append(out, g.Name)
		}
	}
	if o := c.Auth.OIDC; o != nil {
		r := o.Roles
		out = slices.Concat(out, r.Admin, r.Auditor, r.Approver, r.Requester)
	}
	bg := c.Policy.BreakGlass
	out = slices.Concat(out, bg.Groups, bg.Targets)
	for _, r := range c.Policy.Rules {
		for _, s := range r.Approvals {
			out = append(out, s.Groups...)
		}
	}
	for _, s := range c.Policy.Separation {
		out = append(out, s.Groups...)
	}
	out = append(out, c.Policy.compiled.Groups()...)
	return sortedSet(out)
}

// ProtectedUsers returns every login the configuration trusts by name:
// break-glass users, approvers, the login that takes over a departed
// sponsor's contractors. SCIM may not create or rename a user to one of
// them.
func (c *Config) ProtectedUsers() []string {
	out := slices.Clone(c.Policy.BreakGlass.Users)
	for _, r := range c.Policy.Rules {
		for _, s := range r.Approvals {
			out = append(out, s.Users...)
		}
	}
	if c.Accounts.ReassignTo != "" {
		out = append(out, c.Accounts.ReassignTo)
	}
	return sortedSet(out)
}

func sortedSet(names []string) []string {
	out := names[:0]
	for _, n := range names {
		if strings.TrimSpace(n) != "" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Compiled returns the policy compiled when the configuration was validated.
func (p Policy) Compiled() *policy.Policy { return p.compiled }

// Directory is one connected directory.
type Directory struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`
	// Plugin runs an external connector binary instead of a built-in kind.
	Plugin *Plugin `yaml:"plugin"`
	// Settings are the kind's own settings, validated by the kind.
	Settings yaml.Node `yaml:"settings"`
	// Groups are the JIT-managed groups: grants are refused for any other.
	Groups []Group `yaml:"groups"`
	// SyncInterval is how often the mirror syncs this directory.
	SyncInterval Duration `yaml:"sync_interval"`
	// Reconcile says what to do with access nobody granted.
	Reconcile Reconcile `yaml:"reconcile"`

	decoded any
}

// Reconcile configures reconciliation of a directory against its grants.
type Reconcile struct {
	// Drift: report (default) members nobody granted, or revert (remove) them.
	Drift string `yaml:"drift"`
	// Baseline: keep (default) the members a group has when jitd first sees
	// it as standing access, or revoke them.
	Baseline string `yaml:"baseline"`
}

// Plugin names an external connector binary and its required checksum.
type Plugin struct {
	Path   string `yaml:"path"`
	SHA256 string `yaml:"sha256"`
}

// Group is a JIT-managed group.
type Group struct {
	Name        string   `yaml:"name"`
	MaxDuration Duration `yaml:"max_duration"`
	// EndSessions ends the user's sessions in the directory when their
	// membership goes (Okta and Entra ID directories).
	EndSessions bool `yaml:"end_sessions"`
}

// SettingsValue returns the validated settings: the kind's config struct for
// built-in kinds, a generic map for external plugins.
func (d Directory) SettingsValue() any { return d.decoded }

// Duration is a time.Duration written as Go durations ("90m", "2h30m") or whole
// days ("3d").
type Duration time.Duration

// UnmarshalYAML accepts "3d" as well as Go durations.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration in Go syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

var daysRE = regexp.MustCompile(`^(\d+)d$`)

// ParseDuration parses Go durations and whole days ("3d" = 72h).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if m := daysRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 36500 {
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use Go syntax (90m, 2h30m) or days (3d)", s)
	}
	return d, nil
}

// Defaults returns the configuration an empty file means.
func Defaults() Config {
	return Config{
		Server:  Server{Listen: "127.0.0.1:8457"},
		DataDir: "./var",
		Log:     Log{Level: "info", Format: "text"},
		Grants:  Grants{MinDuration: Duration(time.Minute), MaxDuration: Duration(30 * 24 * time.Hour), MaxText: 1000},
		Expiry:  Expiry{MaxAttempts: 6, BatchSize: 500, Concurrency: 4, Lease: Duration(2 * time.Minute), CallTimeout: Duration(30 * time.Second), AlertAfter: Duration(20 * time.Second)},
		Accounts: Accounts{Retention: Duration(30 * 24 * time.Hour), MaxDuration: Duration(365 * 24 * time.Hour),
			SponsorOffboarding: "disable"},
	}
}

// Load reads, parses and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(b)
}

// Parse parses and validates a configuration.
func Parse(b []byte) (*Config, error) {
	cfg := Defaults()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // empty file: defaults
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg.complete()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// complete fills in what the file leaves to defaults that depend on other
// settings (the admin token beside the data, this host as the instance,
// the only directory as SCIM's, a directory's sync interval), so that
// validate only checks.
func (c *Config) complete() {
	if c.Server.AdminTokenFile == "" {
		c.Server.AdminTokenFile = strings.TrimRight(c.DataDir, "/") + "/admin.token"
	}
	if c.InstanceID == "" {
		host, _ := os.Hostname()
		c.InstanceID = host
	}
	if c.SCIM != nil && c.SCIM.Directory == "" && len(c.Directories) == 1 {
		c.SCIM.Directory = c.Directories[0].Name
	}
	for i := range c.Directories {
		if c.Directories[i].SyncInterval == 0 {
			c.Directories[i].SyncInterval = Duration(5 * time.Minute)
		}
	}
}

// Problems is every problem found in a configuration, one per line.
type Problems []string

func (p Problems) Error() string { return "config: " + strings.Join(p, "\nconfig: ") }

func (c *Config) validate() error {
	var p Problems
	add := func(path, format string, args ...any) { p = append(p, path+": "+fmt.Sprintf(format, args...)) }

	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		add("server.listen", "%v (want host:port, e.g. 127.0.0.1:8457)", err)
	} else if c.Server.TLSCertFile == "" && !loopback(c.Server.Listen) {
		add("server.listen", "%s is not a loopback address; set server.tls_cert_file and server.tls_key_file to serve the API over TLS", c.Server.Listen)
	}
	if (c.Server.TLSCertFile == "") != (c.Server.TLSKeyFile == "") {
		add("server.tls_cert_file", "set both tls_cert_file and tls_key_file, or neither")
	}
	for path, f := range map[string]string{"server.tls_cert_file": c.Server.TLSCertFile, "server.tls_key_file": c.Server.TLSKeyFile} {
		if f != "" {
			if _, err := os.Stat(f); err != nil {
				add(path, "%v", err)
			}
		}
	}
	if c.DataDir == "" {
		add("data_dir", "required")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error (got %q)", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "must be text or json (got %q)", c.Log.Format)
	}
	if c.Grants.MinDuration <= 0 {
		add("grants.min_duration", "must be positive")
	}
	if c.Grants.MaxDuration < c.Grants.MinDuration {
		add("grants.max_duration", "must not be shorter than min_duration (%s)", time.Duration(c.Grants.MinDuration))
	}
	if c.Grants.MaxText < 1 || c.Grants.MaxText > 100000 {
		add("grants.max_text", "must be between 1 and 100000 characters (got %d)", c.Grants.MaxText)
	}
	if c.Expiry.MaxAttempts < 1 {
		add("expiry.max_attempts", "must be at least 1")
	}
	if c.Expiry.BatchSize < 1 || c.Expiry.BatchSize > 5000 {
		add("expiry.batch_size", "must be between 1 and 5000")
	}
	if c.Expiry.Concurrency < 1 || c.Expiry.Concurrency > 64 {
		add("expiry.concurrency", "must be between 1 and 64")
	}
	if c.Expiry.Lease < Duration(10*time.Second) {
		add("expiry.lease", "must be at least 10s")
	}
	if c.Expiry.CallTimeout <= 0 || c.Expiry.CallTimeout >= c.Expiry.Lease {
		add("expiry.call_timeout", "must be positive and shorter than expiry.lease (%s)", time.Duration(c.Expiry.Lease))
	}
	if c.Expiry.AlertAfter < Duration(time.Second) {
		add("expiry.alert_after", "must be at least 1s")
	}
	if c.Accounts.Retention < 0 {
		add("accounts.retention", "must not be negative")
	}
	if c.Accounts.MaxDuration <= 0 {
		add("accounts.max_duration", "must be positive")
	}
	switch c.Accounts.SponsorOffboarding {
	case "disable":
		if c.Accounts.ReassignTo != "" {
			add("accounts.reassign_to", "only used with sponsor_offboarding: reassign")
		}
	case "reassign":
		if strings.TrimSpace(c.Accounts.ReassignTo) == "" {
			add("accounts.reassign_to", "required with sponsor_offboarding: reassign (the login that takes the accounts over)")
		}
	default:
		add("accounts.sponsor_offboarding", "must be disable or reassign (got %q)", c.Accounts.SponsorOffboarding)
	}
	c.compilePolicy(add)
	c.Notify.Defaults()
	if err := c.Notify.Validate(); err != nil {
		for _, line := range splitErr(err) {
			p = append(p, "notify."+line)
		}
	}
	if len(c.Directories) == 0 {
		add("directories", "at least one directory is required")
	}
	names := map[string]bool{}
	for i := range c.Directories {
		c.validateDirectory(i, names, add)
	}
	c.validateAuth(names, add)
	if c.SCIM != nil {
		for _, line := range splitErr(c.SCIM.Validate()) {
			path, msg, _ := strings.Cut(line, ": ")
			add("scim."+path, "%s", msg)
		}
		if c.SCIM.Directory != "" && !names[c.SCIM.Directory] {
			add("scim.directory", "no directory is named %q", c.SCIM.Directory)
		}
		for _, d := range c.Directories {
			if d.Name != c.SCIM.Directory || d.Plugin != nil || d.SettingsValue() == nil {
				continue // a plugin's settings are its own; bad settings are reported already
			}
			switch ps, ok := d.SettingsValue().(connectors.ProvisioningSettings); {
			case !ok:
				add("scim.directory", "%s is a %s directory; SCIM provisions into LDAP and Active Directory directories (and the demo one)", d.Name, d.Kind)
			case ps.ProvisioningProblem() != "":
				add("scim.directory", "%s has %s", d.Name, ps.ProvisioningProblem())
			}
		}
	}
	if len(p) > 0 {
		return p
	}
	return nil
}

func (c *Config) validateAuth(dirs map[string]bool, add func(path, format string, args ...any)) {
	o := c.Auth.OIDC
	if o == nil {
		if c.Auth.SessionKeyFile != "" {
			add("auth.session_key_file", "only used with auth.oidc")
		}
		return
	}
	for _, line := range splitErr(o.Validate()) {
		path, msg, _ := strings.Cut(line, ": ")
		add("auth.oidc."+path, "%s", msg)
	}
	switch {
	case o.Directory == "" && len(c.Directories) == 1:
		o.Directory = c.Directories[0].Name
	case o.Directory == "":
		add("auth.oidc.directory", "required with more than one directory: the directory whose users sign in")
	case !dirs[o.Directory]:
		add("auth.oidc.directory", "no directory is named %q", o.Directory)
	}
}

func (c *Config) compilePolicy(add func(path, format string, args ...any)) {
	var rules []policy.Rule
	for _, r := range c.Policy.Rules {
		pr := policy.Rule{Name: r.Name, Match: r.Match, Eligible: r.Eligible, MaxDuration: time.Duration(r.MaxDuration), AutoApprove: r.AutoApprove}
		for _, s := range r.Approvals {
			any := s.Any
			if any == 0 {
				any = 1
			}
			pr.Approvals = append(pr.Approvals, policy.Step{Any: any, Users: s.Users, Groups: s.Groups})
		}
		rules = append(rules, pr)
	}
	var seps []policy.Separation
	for _, s := range c.Policy.Separation {
		seps = append(seps, policy.Separation{Name: s.Name, Groups: s.Groups})
	}
	bg := c.Policy.BreakGlass
	if bg.MaxDuration < 0 || bg.MaxDuration > Duration(24*time.Hour) {
		add("policy.breakglass.max_duration", "must be between 0 (default 1h) and 24h: break-glass is for emergencies")
	}
	if len(bg.Users)+len(bg.Groups) == 0 && (len(bg.Targets) > 0 || bg.MaxDuration != 0) {
		add("policy.breakglass", "name users or groups who may use it")
	}
	if c.Policy.Risk != nil {
		for _, line := range splitErr(c.Policy.Risk.Validate()) {
			path, msg, _ := strings.Cut(line, ": ")
			add("policy.risk."+path, "%s", msg)
		}
	}
	if c.Policy.ReportingLineDepth < 0 || c.Policy.ReportingLineDepth > 10 {
		add("policy.reporting_line_depth", "must be between 0 (off) and 10")
	}
	if c.Policy.RequestTTL < 0 {
		add("policy.request_ttl", "must not be negative")
	}
	compiled, err := policy.Compile(rules, seps)
	if err == nil {
		c.Policy.compiled = compiled
		return
	}
	for _, line := range splitErr(err) {
		path, msg, _ := strings.Cut(line, ": ")
		add("policy."+path, "%s", msg)
	}
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func (c *Config) validateDirectory(i int, names map[string]bool, add func(path, format string, args ...any)) {
	d := &c.Directories[i]
	path := fmt.Sprintf("directories[%d]", i)
	switch {
	case !nameRE.MatchString(d.Name):
		add(path+".name", "must be lower-case letters, digits and dashes (got %q)", d.Name)
	case names[d.Name]:
		add(path+".name", "%q is used by another directory", d.Name)
	}
	names[d.Name] = true
	if d.Plugin != nil {
		if d.Plugin.Path == "" {
			add(path+".plugin.path", "required")
		} else if fi, err := os.Stat(d.Plugin.Path); err != nil {
			add(path+".plugin.path", "%v", err)
		} else if fi.Mode()&0o111 == 0 {
			add(path+".plugin.path", "%s is not executable", d.Plugin.Path)
		}
		if sum, err := hex.DecodeString(d.Plugin.SHA256); err != nil || len(sum) != 32 {
			add(path+".plugin.sha256", "required: the plugin binary's SHA-256 as 64 hex digits (sha256sum %s)", d.Plugin.Path)
		}
		var generic map[string]any
		if err := d.Settings.Decode(&generic); err != nil && d.Settings.Kind != 0 {
			add(path+".settings", "%v", err)
		}
		d.decoded = generic
	} else {
		k, ok := builtin.Lookup(d.Kind)
		if !ok {
			add(path+".kind", "unknown kind %q: built in are %s; for another kind configure plugin.path and plugin.sha256", d.Kind, strings.Join(builtin.Names(), ", "))
		} else {
			decoded, err := k.Decode(func(v any) error { return strictNode(&d.Settings, v) })
			if decoded == nil && err != nil {
				add(path+".settings", "%v", err)
			}
			for _, line := range splitErr(err) {
				if decoded == nil {
					break
				}
				// Kinds report "field: problem" lines.
				if field, msg, ok := strings.Cut(line, ": "); ok {
					add(path+".settings."+field, "%s", msg)
				} else {
					add(path+".settings", "%s", line)
				}
			}
			d.decoded = decoded
		}
	}
	if d.SyncInterval < Duration(10*time.Second) {
		add(path+".sync_interval", "must be at least 10s (got %s)", time.Duration(d.SyncInterval))
	}
	switch d.Reconcile.Drift {
	case "":
		d.Reconcile.Drift = "report"
	case "report", "revert":
	default:
		add(path+".reconcile.drift", "must be report or revert (got %q)", d.Reconcile.Drift)
	}
	switch d.Reconcile.Baseline {
	case "":
		d.Reconcile.Baseline = "keep"
	case "keep", "revoke":
	default:
		add(path+".reconcile.baseline", "must be keep or revoke (got %q)", d.Reconcile.Baseline)
	}
	if len(d.Groups) == 0 {
		add(path+".groups", "list the JIT-managed groups of this directory; jitd refuses grants on any other group")
	}
	seen := map[string]bool{}
	for j, g := range d.Groups {
		gp := fmt.Sprintf("%s.groups[%d]", path, j)
		if strings.TrimSpace(g.Name) == "" {
			add(gp+".name", "required")
		} else if seen[g.Name] {
			add(gp+".name", "%q is listed twice", g.Name)
		}
		seen[g.Name] = true
		if g.MaxDuration < 0 || (g.MaxDuration > 0 && g.MaxDuration < c.Grants.MinDuration) {
			add(gp+".max_duration", "must be at least grants.min_duration (%s)", time.Duration(c.Grants.MinDuration))
		}
		if g.MaxDuration > c.Grants.MaxDuration {
			add(gp+".max_duration", "must not exceed grants.max_duration (%s)", time.Duration(c.Grants.MaxDuration))
		}
		if g.EndSessions && d.Plugin == nil && d.Kind != "okta" && d.Kind != "entra" {
			add(gp+".end_sessions", "%s directories cannot end sessions (Okta and Entra ID can); remove it", d.Kind)
		}
	}
}

// strictNode decodes a YAML node with unknown keys as errors (yaml.Node.Decode
// has no strict mode, so the node is re-encoded and decoded strictly).
func strictNode(n *yaml.Node, v any) error {
	if n.Kind == 0 {
		return nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func splitErr(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func loopback(hostport string) bool {
	host, _, _ := net.SplitHostPort(hostport)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
