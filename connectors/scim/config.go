package scim

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/jitd/jitd/connectors"
)

// Config is a SCIM 2.0 application's configuration (the settings of a
// kind: scim directory).
type Config struct {
	// URL is the application's SCIM base, e.g. https://app.example.com/scim/v2.
	URL string `yaml:"url" json:"url"`
	// The bearer token, from a file or an environment variable...
	TokenFile string `yaml:"token_file" json:"token_file,omitempty"`
	TokenEnv  string `yaml:"token_env" json:"token_env,omitempty"`
	// ...or OAuth 2.0 client credentials (RFC 6749 §4.4): jitd gets its
	// tokens from TokenURL and renews them before they expire.
	TokenURL         string   `yaml:"token_url" json:"token_url,omitempty"`
	ClientID         string   `yaml:"client_id" json:"client_id,omitempty"`
	ClientSecretFile string   `yaml:"client_secret_file" json:"client_secret_file,omitempty"`
	ClientSecretEnv  string   `yaml:"client_secret_env" json:"client_secret_env,omitempty"`
	Scopes           []string `yaml:"scopes" json:"scopes,omitempty"`
	// CAFile trusts a private CA besides the system roots.
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty"`
	// Timeout bounds one request (default 30s).
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// PageSize is the count asked for when listing (default 100); servers
	// may return fewer.
	PageSize int `yaml:"page_size" json:"page_size,omitempty"`
	// Accounts lets jitd create ephemeral accounts here, marked with
	// userType (default jitd-ephemeral); it never touches a user without
	// the mark.
	Accounts   bool   `yaml:"accounts" json:"accounts,omitempty"`
	MarkerType string `yaml:"marker_type" json:"marker_type,omitempty"`
	// ChangeFeed: the application filters on meta.lastModified, so a sync
	// reads only what changed; deletions are seen by a full read at least
	// every full_sync_every (default 1h). Without it every sync reads all.
	ChangeFeed    bool          `yaml:"change_feed" json:"change_feed,omitempty"`
	FullSyncEvery time.Duration `yaml:"full_sync_every" json:"full_sync_every,omitempty"`
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.PageSize <= 0 {
		c.PageSize = 100
	}
	if c.MarkerType == "" {
		c.MarkerType = "jitd-ephemeral"
	}
	if c.FullSyncEvery <= 0 {
		c.FullSyncEvery = time.Hour
	}
	return c
}

func (c Config) token() connectors.Secret {
	return connectors.Secret{Key: "token", File: c.TokenFile, Env: c.TokenEnv, What: "the application's SCIM bearer token",
		Hint: " (or token_url, client_id and client_secret_file for OAuth client credentials)"}
}

func (c Config) clientSecret() connectors.Secret {
	return connectors.Secret{Key: "client_secret", File: c.ClientSecretFile, Env: c.ClientSecretEnv, What: "the OAuth client secret"}
}

func (c Config) oauth() bool { return c.TokenURL != "" || c.ClientID != "" || c.clientSecret().Set() }

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		bad("url", "required: the application's SCIM base URL (https://app.example.com/scim/v2)")
	case err != nil:
		bad("url", "%v", err)
	case u.Scheme != "https" || u.Host == "":
		bad("url", "must be an https:// URL (got %q)", c.URL)
	}
	switch {
	case c.oauth() && c.token().Set():
		bad("token_url", "use a bearer token or OAuth client credentials (token_url, client_id, client_secret_file), not both")
	case c.oauth():
		if u, err := url.Parse(c.TokenURL); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("token_url", "must be the authorization server's https:// token endpoint (got %q)", c.TokenURL)
		}
		if c.ClientID == "" {
			bad("client_id", "required with token_url")
		}
		if err := c.clientSecret().Check(); err != nil {
			errs = append(errs, err)
		}
	default:
		if err := c.token().Check(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			bad("ca_file", "%v", err)
		}
	}
	if c.FullSyncEvery != 0 && !c.ChangeFeed {
		bad("full_sync_every", "only with change_feed: true")
	}
	if c.Timeout < 0 || c.PageSize < 0 || c.PageSize > 1000 {
		bad("page_size", "timeout must not be negative and page_size must be between 0 (default 100) and 1000")
	}
	return errors.Join(errs...)
}
