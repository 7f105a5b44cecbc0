package okta

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jitd/jitd/connectors"
)

// Config is an Okta org's configuration (the settings of a kind: okta directory).
type Config struct {
	// OrgURL is https://<your-org>.okta.com (not the -admin URL).
	OrgURL string `yaml:"org_url" json:"org_url"`
	// Either an API token (SSWS), from a file or an environment variable...
	APITokenFile string `yaml:"api_token_file" json:"api_token_file,omitempty"`
	APITokenEnv  string `yaml:"api_token_env" json:"api_token_env,omitempty"`
	// ...or an OAuth 2.0 service app: its client id and RSA private key (PEM,
	// from a file or an environment variable), and the scopes to ask for.
	ClientID       string   `yaml:"client_id" json:"client_id,omitempty"`
	PrivateKeyFile string   `yaml:"private_key_file" json:"private_key_file,omitempty"`
	PrivateKeyEnv  string   `yaml:"private_key_env" json:"private_key_env,omitempty"`
	PrivateKeyID   string   `yaml:"private_key_id" json:"private_key_id,omitempty"`
	Scopes         []string `yaml:"scopes" json:"scopes,omitempty"`
	// CAFile trusts a private CA (a TLS-inspecting proxy) besides the system roots.
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty"`
	// Timeout bounds one API request (default 30s).
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Concurrency bounds membership calls in flight within one batch (default 4).
	Concurrency int `yaml:"concurrency" json:"concurrency,omitempty"`
	// AccountMarkerAttr and AccountMarkerValue tag the accounts jitd creates
	// (default userType: jitd-ephemeral); jitd never touches an account
	// without the tag.
	AccountMarkerAttr  string `yaml:"account_marker_attr" json:"account_marker_attr,omitempty"`
	AccountMarkerValue string `yaml:"account_marker_value" json:"account_marker_value,omitempty"`
	// AccountEndDateAttr, when set, is a profile attribute (in your Okta user
	// schema) that receives an account's end date (YYYY-MM-DD).
	AccountEndDateAttr string `yaml:"account_end_date_attr" json:"account_end_date_attr,omitempty"`
	// FullSyncEvery: changes are read by lastUpdated, which cannot see deleted
	// users and groups; a full sync at least this often catches them (default 1h).
	FullSyncEvery time.Duration `yaml:"full_sync_every" json:"full_sync_every,omitempty"`
	// RateLimitShare is the part of each of the org's rate-limit buckets, in
	// percent, that jitd may use (default 50): once a bucket has less than
	// the rest left, jitd waits for its reset, so that the org's other
	// clients (and its admins) are never starved by a burst of revocations.
	RateLimitShare int `yaml:"rate_limit_share" json:"rate_limit_share,omitempty"`
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.FullSyncEvery <= 0 {
		c.FullSyncEvery = time.Hour
	}
	if c.RateLimitShare == 0 {
		c.RateLimitShare = 50
	}
	if c.ClientID != "" && len(c.Scopes) == 0 {
		c.Scopes = DefaultScopes
	}
	if c.AccountMarkerAttr == "" {
		c.AccountMarkerAttr = "userType"
	}
	if c.AccountMarkerValue == "" {
		c.AccountMarkerValue = "jitd-ephemeral"
	}
	return c
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	u, err := url.Parse(c.OrgURL)
	switch {
	case c.OrgURL == "":
		bad("org_url", "required (https://your-org.okta.com)")
	case err != nil:
		bad("org_url", "%v", err)
	case u.Scheme != "https":
		bad("org_url", "must be https:// (got %q)", c.OrgURL)
	case strings.Contains(u.Host, "-admin."):
		bad("org_url", "use the org URL, not the admin console's (%s)", u.Host)
	case u.Path != "" && u.Path != "/":
		bad("org_url", "must have no path (got %q)", u.Path)
	}
	oauth := c.ClientID != "" || c.privateKeySecret().Set()
	switch {
	case oauth && c.apiToken().Set():
		bad("client_id", "use an API token or an OAuth service app (client_id and a private key), not both")
	case oauth && c.ClientID == "":
		bad("client_id", "required with private_key_file or private_key_env")
	case oauth:
		if err := c.privateKeySecret().Check(); err != nil {
			errs = append(errs, err)
		}
	default:
		if err := c.apiToken().Check(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			bad("ca_file", "%v", err)
		}
	}
	if c.Timeout < 0 || c.Concurrency < 0 || c.FullSyncEvery < 0 {
		bad("timeout", "timeout, concurrency and full_sync_every must not be negative")
	}
	if c.RateLimitShare < 0 || c.RateLimitShare > 100 {
		bad("rate_limit_share", "must be a percentage between 1 and 100 (got %d)", c.RateLimitShare)
	}
	return errors.Join(errs...)
}

// DefaultScopes are the OAuth scopes jitd asks for: what its calls need.
var DefaultScopes = []string{"okta.users.read", "okta.users.manage", "okta.groups.read", "okta.groups.manage"}

func (c Config) apiToken() connectors.Secret {
	return connectors.Secret{Key: "api_token", File: c.APITokenFile, Env: c.APITokenEnv, What: "an API token",
		Hint: " (or client_id and private_key_file for an OAuth service app)"}
}

func (c Config) privateKeySecret() connectors.Secret {
	return connectors.Secret{Key: "private_key", File: c.PrivateKeyFile, Env: c.PrivateKeyEnv, What: "a private key"}
}

func (c Config) privateKey() (string, error) {
	k, err := c.privateKeySecret().Read()
	if err != nil {
		return "", fmt.Errorf("okta: %w", err)
	}
	return k, nil
}

func (c Config) token() (string, error) {
	t, err := c.apiToken().Read()
	if err != nil {
		return "", fmt.Errorf("okta: %w", err)
	}
	return t, nil
}
