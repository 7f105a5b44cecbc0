// Package config composes jitd's YAML configuration from the configurations
// of its components (each owns its section, defaults and Validate) and checks
// what spans sections. Parsing is strict (unknown keys are errors) and
// complete: one run reports every problem with its YAML path. Secrets are
// never values in the file, only the names of files or environment variables
// that hold them. Connector kinds are checked through the kind registry
// (connectors/builtin), never by name.
package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/builtin"
	"github.com/jitd/jitd/core/account"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/conf"
	"github.com/jitd/jitd/core/expiry"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/notify"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/review"
	"github.com/jitd/jitd/core/scim"
	"github.com/jitd/jitd/core/siem"
)

// Config is the whole configuration file. Each section is the Config of the
// component it configures, with that component's defaults and Validate;
// this package composes them and checks what spans sections.
type Config struct {
	Server      Server         `yaml:"server"`
	DataDir     string         `yaml:"data_dir"`
	InstanceID  string         `yaml:"instance_id"`
	Log         Log            `yaml:"log"`
	Grants      grant.Config   `yaml:"grants"`
	Expiry      expiry.Config  `yaml:"expiry"`
	Accounts    account.Config `yaml:"accounts"`
	Policy      Policy         `yaml:"policy"`
	Notify      notify.Config  `yaml:"notify"`
	Auth        Auth           `yaml:"auth"`
	Directories []Directory    `yaml:"directories"`
	// SCIM serves /scim/v2 so that Okta or Entra ID can provision users and
	// groups into one directory (which needs a provisioning block).
	SCIM *scim.Config `yaml:"scim"`
	// SIEM streams the audit log to files a log shipper reads.
	SIEM siem.Config `yaml:"siem"`
	// Reviews are the recurring access review campaigns.
	Reviews review.Config `yaml:"reviews"`
	// Audit is how long the audit log keeps personal data.
	Audit Audit `yaml:"audit"`

	// Derived from the above when the file is parsed.
	compiled *policy.Policy
}

// Audit configures the audit log.
type Audit struct {
	// PersonalDataRetention: audit events older than this lose their
	// personal fields (actor, user, detail); the chain still verifies.
	// 0 (the default) keeps them.
	PersonalDataRetention time.Duration `yaml:"personal_data_retention"`
}

// MinRetention is the shortest personal-data retention accepted: events
// of access that may still be held, or under review, keep their names.
const MinRetention = 90 * 24 * time.Hour

// Auth configures how people sign in besides API tokens.
type Auth struct {
	// OIDC accepts ID tokens from an OpenID Connect provider as bearer
	// tokens and, with redirect_url, browser sign-in.
	OIDC *auth.OIDCConfig `yaml:"oidc"`
	// Demo lets anyone pick a person of the demo directory and sign in as
	// them: for trying jitd with `make run`, never with a real directory.
	Demo *auth.DemoConfig `yaml:"demo"`
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

// Policy is the access-request policy: rules in CEL (see core/policy),
// separation-of-duties sets and the risk source, with the request settings
// (break-glass, the request TTL, the reporting line). `jitd policy test`
// explains its decisions.
type Policy struct {
	Decisions `yaml:",inline"`
	Requests  `yaml:",inline"`
}

// Decisions are the policy package's settings: rules, separation, risk.
type Decisions = policy.Config

// Requests are the request manager's settings: TTL, break-glass, the
// reporting line.
type Requests = request.Config

// ProtectedGroups returns every group the configuration names for any
// purpose: JIT-managed groups, the groups of each sign-in role, break-glass
// groups and targets, approval steps, separation-of-duties sets, access
// review scopes and reviewer groups, and every string a policy rule names. Membership of any of them is authority in
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
	if d := c.Auth.Demo; d != nil {
		r := d.Roles
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
	for _, r := range c.Reviews.Campaigns {
		// A campaign's reviewer groups decide who keeps access; its scope
		// groups are what it certifies.
		out = slices.Concat(out, r.Scope.Groups, r.Reviewers.Groups)
	}
	out = append(out, c.compiled.Groups()...)
	return sortedSet(out)
}

// ProtectedUsers returns every login the configuration trusts by name:
// break-glass users, approvers, the login that takes over a departed
// sponsor's contractors, group owners and named campaign reviewers. SCIM may not create or rename a user to one of
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
	for _, d := range c.Directories {
		for _, g := range d.Groups {
			out = append(out, g.Owners...)
		}
	}
	for _, r := range c.Reviews.Campaigns {
		out = append(out, r.Reviewers.Users...)
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

// CompiledPolicy returns the policy compiled when the configuration was
// parsed.
func (c *Config) CompiledPolicy() *policy.Policy { return c.compiled }

// UsePolicyOf takes next's policy section and compiled policy, keeping c's
// risk source (a reload applies the rules; the risk source waits for a
// restart).
func (c *Config) UsePolicyOf(next *Config) {
	risk := c.Policy.Risk
	c.Policy, c.compiled = next.Policy, next.compiled
	c.Policy.Risk = risk
}

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
	SyncInterval time.Duration `yaml:"sync_interval"`
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
	Name        string        `yaml:"name"`
	MaxDuration time.Duration `yaml:"max_duration"`
	// EndSessions ends the user's sessions in the directory when their
	// membership goes (Okta and Entra ID directories).
	EndSessions bool `yaml:"end_sessions"`
	// Owners (logins) answer for the group: access reviews of its standing
	// members go to them.
	Owners []string `yaml:"owners"`
}

// SettingsValue returns the validated settings: the kind's config struct for
// built-in kinds, a generic map for external plugins.
func (d Directory) SettingsValue() any { return d.decoded }

// Defaults returns the configuration an empty file means: each component's
// own defaults.
func Defaults() Config {
	return Config{
		Server:   Server{Listen: "127.0.0.1:8457"},
		DataDir:  "./var",
		Log:      Log{Level: "info", Format: "text"},
		Grants:   grant.DefaultConfig(),
		Expiry:   expiry.Defaults(),
		Accounts: account.DefaultConfig(),
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

// Problems is every problem found in a configuration, each at its YAML path.
type Problems = conf.Problems

// Parse parses and validates a configuration, in four steps that each do
// one thing: decode (strict, every key and value checked against the node
// tree), complete (defaults that depend on other settings), derive (decode
// each directory's settings through its kind, compile the policy) and
// validate (checks only). A problem in one step does not hide the others'.
func Parse(b []byte) (*Config, error) {
	cfg := Defaults()
	p := conf.Decode(b, &cfg)
	cfg.complete()
	p = append(p, cfg.derive()...)
	p = append(p, cfg.validate()...)
	if len(p) > 0 {
		return nil, p
	}
	return &cfg, nil
}

// complete fills in what the file leaves to defaults that depend on other
// settings (the admin token beside the data, this host as the instance,
// the only directory as SCIM's and sign-in's, a directory's sync interval
// and reconciliation, the notification defaults), so that validate only
// checks.
func (c *Config) complete() {
	if c.Server.AdminTokenFile == "" {
		c.Server.AdminTokenFile = strings.TrimRight(c.DataDir, "/") + "/admin.token"
	}
	if c.InstanceID == "" {
		host, _ := os.Hostname()
		c.InstanceID = host
	}
	c.Expiry.Owner = c.InstanceID
	c.Accounts.MaxAttempts, c.Accounts.AlertAfter, c.Accounts.Concurrency = c.Expiry.MaxAttempts, c.Expiry.AlertAfter, c.Expiry.Concurrency
	c.Policy.MaxText = c.Grants.MaxText
	only := ""
	if len(c.Directories) == 1 {
		only = c.Directories[0].Name
	}
	if c.SCIM != nil && c.SCIM.Directory == "" {
		c.SCIM.Directory = only
	}
	if o := c.Auth.OIDC; o != nil && o.Directory == "" {
		o.Directory = only
	}
	if d := c.Auth.Demo; d != nil && d.Directory == "" {
		d.Directory = only
	}
	for i := range c.Directories {
		d := &c.Directories[i]
		if d.SyncInterval == 0 {
			d.SyncInterval = 5 * time.Minute
		}
		if d.Reconcile.Drift == "" {
			d.Reconcile.Drift = "report"
		}
		if d.Reconcile.Baseline == "" {
			d.Reconcile.Baseline = "keep"
		}
	}
	c.Notify.Defaults()
}

// derive computes what the daemon uses beside the file: each directory's
// settings decoded and checked by its kind, and the compiled policy.
func (c *Config) derive() Problems {
	var p Problems
	for i := range c.Directories {
		d := &c.Directories[i]
		path := fmt.Sprintf("directories[%d].settings", i)
		if d.Plugin != nil {
			var generic map[string]any
			p.Add(path, conf.DecodeNode(&d.Settings, &generic))
			d.decoded = generic
			continue
		}
		k, ok := builtin.Lookup(d.Kind)
		if !ok {
			continue // validate names the kind
		}
		decoded, err := k.Decode(func(v any) error {
			if d.Settings.Kind == 0 {
				return nil
			}
			return conf.DecodeNode(&d.Settings, v).Err()
		})
		p.Add(path, conf.Lift(err))
		d.decoded = decoded
	}
	var q Problems
	c.compiled, q = c.Policy.Decisions.Compile()
	p.Add("policy", q)
	return p
}

func (c *Config) validate() Problems {
	var p Problems
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		p.Addf("server.listen", "%v (want host:port, e.g. 127.0.0.1:8457)", err)
	} else if c.Server.TLSCertFile == "" && !loopback(c.Server.Listen) {
		p.Addf("server.listen", "%s is not a loopback address; set server.tls_cert_file and server.tls_key_file to serve the API over TLS", c.Server.Listen)
	}
	if (c.Server.TLSCertFile == "") != (c.Server.TLSKeyFile == "") {
		p.Addf("server.tls_cert_file", "set both tls_cert_file and tls_key_file, or neither")
	}
	for _, f := range []struct{ path, file string }{{"server.tls_cert_file", c.Server.TLSCertFile}, {"server.tls_key_file", c.Server.TLSKeyFile}} {
		if f.file != "" {
			if _, err := os.Stat(f.file); err != nil {
				p.Addf(f.path, "%v", err)
			}
		}
	}
	if c.DataDir == "" {
		p.Addf("data_dir", "required")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.Addf("log.level", "must be debug, info, warn or error (got %q)", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		p.Addf("log.format", "must be text or json (got %q)", c.Log.Format)
	}
	p.Add("grants", c.Grants.Validate())
	p.Add("expiry", c.Expiry.Validate())
	p.Add("accounts", c.Accounts.Validate())
	p.Add("policy", c.Policy.Requests.Validate())
	p.Add("notify", conf.Lift(c.Notify.Validate()))
	p.Add("siem", c.SIEM.Validate())
	p.Add("reviews", c.Reviews.Validate())
	if r := c.Audit.PersonalDataRetention; r != 0 && r < MinRetention {
		p.Addf("audit.personal_data_retention", "must be at least %s (or 0 to keep personal data), so that access still held or under review keeps its names (got %s)",
			conf.FormatDuration(MinRetention), conf.FormatDuration(r))
	}
	if len(c.Directories) == 0 {
		p.Addf("directories", "at least one directory is required")
	}
	names := map[string]bool{}
	for i, d := range c.Directories {
		p.Add(fmt.Sprintf("directories[%d]", i), c.validateDirectory(d, names))
	}
	c.validateAuth(names, &p)
	c.validateSCIM(names, &p)
	return p
}

func (c *Config) validateSCIM(names map[string]bool, p *Problems) {
	if c.SCIM == nil {
		return
	}
	p.Add("scim", conf.Lift(c.SCIM.Validate()))
	if c.SCIM.Directory != "" && !names[c.SCIM.Directory] {
		p.Addf("scim.directory", "no directory is named %q", c.SCIM.Directory)
	}
	for _, d := range c.Directories {
		if d.Name != c.SCIM.Directory || d.Plugin != nil || d.SettingsValue() == nil {
			continue // a plugin's settings are its own; bad settings are reported already
		}
		switch ps, ok := d.SettingsValue().(connectors.ProvisioningSettings); {
		case !ok:
			p.Addf("scim.directory", "%s is a %s directory; SCIM provisions into LDAP and Active Directory directories (and the demo one)", d.Name, d.Kind)
		case ps.ProvisioningProblem() != "":
			p.Addf("scim.directory", "%s has %s", d.Name, ps.ProvisioningProblem())
		}
	}
}

func (c *Config) validateAuth(dirs map[string]bool, p *Problems) {
	if d := c.Auth.Demo; d != nil {
		for _, dir := range c.Directories {
			if dir.Kind != "demo" {
				p.Addf("auth.demo", "the demo sign-in lets anyone act as anyone: it is refused while a real directory is configured (%s is of kind %s); sign people in with auth.oidc", dir.Name, dir.Kind)
			}
		}
		switch {
		case d.Directory == "":
			p.Addf("auth.demo.directory", "required with more than one directory: the directory whose people sign in")
		case !dirs[d.Directory]:
			p.Addf("auth.demo.directory", "no directory is named %q", d.Directory)
		}
	}
	o := c.Auth.OIDC
	if o == nil {
		if c.Auth.SessionKeyFile != "" && c.Auth.Demo == nil {
			p.Addf("auth.session_key_file", "only used with auth.oidc or auth.demo")
		}
		return
	}
	p.Add("auth.oidc", conf.Lift(o.Validate()))
	switch {
	case o.Directory == "":
		p.Addf("auth.oidc.directory", "required with more than one directory: the directory whose users sign in")
	case !dirs[o.Directory]:
		p.Addf("auth.oidc.directory", "no directory is named %q", o.Directory)
	}
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// validateDirectory checks one directory; paths are relative to it.
func (c *Config) validateDirectory(d Directory, names map[string]bool) Problems {
	var p Problems
	switch {
	case !nameRE.MatchString(d.Name):
		p.Addf("name", "must be lower-case letters, digits and dashes (got %q)", d.Name)
	case names[d.Name]:
		p.Addf("name", "%q is used by another directory", d.Name)
	}
	names[d.Name] = true
	endsSessions := true // a plugin's capabilities are its own
	if d.Plugin != nil {
		if d.Plugin.Path == "" {
			p.Addf("plugin.path", "required")
		} else if fi, err := os.Stat(d.Plugin.Path); err != nil {
			p.Addf("plugin.path", "%v", err)
		} else if fi.Mode()&0o111 == 0 {
			p.Addf("plugin.path", "%s is not executable", d.Plugin.Path)
		}
		if sum, err := hex.DecodeString(d.Plugin.SHA256); err != nil || len(sum) != 32 {
			p.Addf("plugin.sha256", "required: the plugin binary's SHA-256 as 64 hex digits (sha256sum %s)", d.Plugin.Path)
		}
	} else if k, ok := builtin.Lookup(d.Kind); ok {
		endsSessions = k.EndsSessions
	} else {
		p.Addf("kind", "unknown kind %q: built in are %s; for another kind configure plugin.path and plugin.sha256", d.Kind, strings.Join(builtin.Names(), ", "))
	}
	if d.SyncInterval < 10*time.Second {
		p.Addf("sync_interval", "must be at least 10s (got %s)", d.SyncInterval)
	}
	if r := d.Reconcile.Drift; r != "report" && r != "revert" {
		p.Addf("reconcile.drift", "must be report or revert (got %q)", r)
	}
	if r := d.Reconcile.Baseline; r != "keep" && r != "revoke" {
		p.Addf("reconcile.baseline", "must be keep or revoke (got %q)", r)
	}
	if len(d.Groups) == 0 {
		p.Addf("groups", "list the JIT-managed groups of this directory; jitd refuses grants on any other group")
	}
	seen := map[string]bool{}
	for j, g := range d.Groups {
		gp := fmt.Sprintf("groups[%d]", j)
		if strings.TrimSpace(g.Name) == "" {
			p.Addf(gp+".name", "required")
		} else if seen[g.Name] {
			p.Addf(gp+".name", "%q is listed twice", g.Name)
		}
		seen[g.Name] = true
		if g.MaxDuration < 0 || (g.MaxDuration > 0 && g.MaxDuration < c.Grants.MinDuration) {
			p.Addf(gp+".max_duration", "must be at least grants.min_duration (%s)", c.Grants.MinDuration)
		}
		if g.MaxDuration > c.Grants.MaxDuration {
			p.Addf(gp+".max_duration", "must not exceed grants.max_duration (%s)", c.Grants.MaxDuration)
		}
		if g.EndSessions && !endsSessions {
			p.Addf(gp+".end_sessions", "%s directories cannot end sessions (Okta and Entra ID can); remove it", d.Kind)
		}
	}
	return p
}

func loopback(hostport string) bool {
	host, _, _ := net.SplitHostPort(hostport)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
