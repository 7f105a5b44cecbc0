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
	// The bearer token, from a file or an environment variable.
	TokenFile string `yaml:"token_file" json:"token_file,omitempty"`
	TokenEnv  string `yaml:"token_env" json:"token_env,omitempty"`
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
	return connectors.Secret{Key: "token", File: c.TokenFile, Env: c.TokenEnv, What: "the application's SCIM bearer token"}
}

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
	if err := c.token().Check(); err != nil {
		errs = append(errs, err)
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
