// Package entraconfig is the configuration of an Entra ID directory. It is
// apart from the connector so that config validation (and everything else
// that knows the built-in kinds) does not link the Graph SDK; only the jitd
// binary does.
package entraconfig

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"time"

	"github.com/jitd/jitd/connectors"
)

// Config is an Entra ID tenant's configuration (the settings of a kind:
// entra directory).
type Config struct {
	TenantID string `yaml:"tenant_id" json:"tenant_id"`
	ClientID string `yaml:"client_id" json:"client_id"`
	// The app's credential, from a file (re-read when it changes) or an
	// environment variable: a client secret, or a certificate (PEM holding
	// the certificate and its private key) registered with the app.
	ClientSecretFile      string `yaml:"client_secret_file" json:"client_secret_file,omitempty"`
	ClientSecretEnv       string `yaml:"client_secret_env" json:"client_secret_env,omitempty"`
	ClientCertificateFile string `yaml:"client_certificate_file" json:"client_certificate_file,omitempty"`
	ClientCertificateEnv  string `yaml:"client_certificate_env" json:"client_certificate_env,omitempty"`
	// Authority is the identity platform (default https://login.microsoftonline.com;
	// sovereign clouds have their own).
	Authority string `yaml:"authority" json:"authority,omitempty"`
	// GraphURL is Microsoft Graph's root (default https://graph.microsoft.com).
	GraphURL string `yaml:"graph_url" json:"graph_url,omitempty"`
	// CAFile trusts a private CA (a TLS-inspecting proxy) besides the system roots.
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty"`
	// Timeout bounds one Graph request (default 30s).
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// MaxRetryWait: a throttled request (429, 503, 504) whose Retry-After is
	// at most this long is retried in place; a longer wait is handed back to
	// the queue as a rate limit instead of holding a worker (default 10s).
	MaxRetryWait time.Duration `yaml:"max_retry_wait" json:"max_retry_wait,omitempty"`
	// NativeTTL "pim": a grant on a group onboarded to PIM for Groups is also
	// made a time-bound PIM assignment, which Entra ends by itself.
	NativeTTL string `yaml:"native_ttl" json:"native_ttl,omitempty"`
	// Accounts configures contractor accounts; without it the tenant does
	// not offer them.
	Accounts *AccountsConfig `yaml:"accounts" json:"accounts,omitempty"`
}

// AccountsConfig says how contractor accounts are made.
type AccountsConfig struct {
	// Kind is member (a user in the tenant, with an initial password) or
	// guest (an invitation to the contractor's own identity).
	Kind string `yaml:"kind" json:"kind"`
	// Domain is the verified domain of members' userPrincipalName.
	Domain string `yaml:"domain" json:"domain,omitempty"`
	// InviteRedirectURL is where an invited guest lands (guest only).
	InviteRedirectURL string `yaml:"invite_redirect_url" json:"invite_redirect_url,omitempty"`
	// EndDateAttr receives the account's end date: employeeLeaveDateTime
	// (default; needs User-LifeCycleInfo.ReadWrite.All) or an extension
	// attribute (extension_<appid>_<name>).
	EndDateAttr string `yaml:"end_date_attr" json:"end_date_attr,omitempty"`
}

// Marker is the employeeType of every account jitd creates; jitd never
// touches a user without it.
const Marker = "jitd-ephemeral"

// WithDefaults fills in the defaults.
func (c Config) WithDefaults() Config {
	if c.Authority == "" {
		c.Authority = "https://login.microsoftonline.com"
	}
	if c.GraphURL == "" {
		c.GraphURL = "https://graph.microsoft.com"
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxRetryWait <= 0 {
		c.MaxRetryWait = 10 * time.Second
	}
	if c.Accounts != nil {
		a := *c.Accounts
		if a.EndDateAttr == "" {
			a.EndDateAttr = "employeeLeaveDateTime"
		}
		c.Accounts = &a
	}
	return c
}

var (
	// GUIDRE matches an Entra object id.
	GUIDRE      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	extensionRE = regexp.MustCompile(`^extension_[0-9a-f]{32}_[A-Za-z0-9_]+$`)
)

// Secret is where the app's credential lives: the certificate when one is
// configured, else the client secret.
func (c Config) Secret() connectors.Secret {
	if c.Certificate() {
		return connectors.Secret{Key: "client_certificate", File: c.ClientCertificateFile, Env: c.ClientCertificateEnv, What: "the app's certificate and key (PEM)"}
	}
	return connectors.Secret{Key: "client_secret", File: c.ClientSecretFile, Env: c.ClientSecretEnv, What: "the app's client secret or certificate",
		Hint: " (or client_certificate_file; Entra admin center: App registrations, jitd, Certificates & secrets)"}
}

// Certificate reports whether the app authenticates with a certificate.
func (c Config) Certificate() bool {
	return c.ClientCertificateFile != "" || c.ClientCertificateEnv != ""
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !GUIDRE.MatchString(c.TenantID) {
		bad("tenant_id", "the directory (tenant) id, a GUID (got %q)", c.TenantID)
	}
	if !GUIDRE.MatchString(c.ClientID) {
		bad("client_id", "the application (client) id of jitd's app registration, a GUID (got %q)", c.ClientID)
	}
	if c.Certificate() && (c.ClientSecretFile != "" || c.ClientSecretEnv != "") {
		bad("client_secret_file", "use a client secret or a certificate, not both")
	}
	if err := c.Secret().Check(); err != nil {
		errs = append(errs, err)
	}
	for field, raw := range map[string]string{"authority": c.Authority, "graph_url": c.GraphURL} {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || u.Scheme != "https" || u.Host == "" {
			bad(field, "must be an https:// URL (got %q)", raw)
		}
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			bad("ca_file", "%v", err)
		}
	}
	switch c.NativeTTL {
	case "", "pim":
	default:
		bad("native_ttl", "must be pim or empty (got %q)", c.NativeTTL)
	}
	if a := c.Accounts; a != nil {
		switch a.Kind {
		case "member":
			if a.Domain == "" {
				bad("accounts.domain", "required for member accounts: a verified domain of the tenant (userPrincipalName login@domain)")
			}
		case "guest":
			if u, err := url.Parse(a.InviteRedirectURL); err != nil || u.Scheme != "https" {
				bad("accounts.invite_redirect_url", "required for guest accounts: an https:// URL where invited guests land")
			}
		default:
			bad("accounts.kind", "must be member or guest (got %q)", a.Kind)
		}
		if a.EndDateAttr != "" && a.EndDateAttr != "employeeLeaveDateTime" && !extensionRE.MatchString(a.EndDateAttr) {
			bad("accounts.end_date_attr", "must be employeeLeaveDateTime or an extension attribute extension_<app id without dashes>_<name> (got %q)", a.EndDateAttr)
		}
	}
	if c.Timeout < 0 || c.MaxRetryWait < 0 {
		bad("timeout", "timeout and max_retry_wait must not be negative")
	}
	return errors.Join(errs...)
}
