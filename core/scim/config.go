package scim

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
)

// Config is the `scim:` block: which directory SCIM clients provision into
// and how.
type Config struct {
	// Directory names the directory (one with a provisioning block) that
	// /scim/v2 is backed by.
	Directory string `yaml:"directory"`
	// BaseURL is the public URL of the SCIM root (https://jitd.example/scim/v2),
	// used in Location headers and meta.location. Default: the URL the
	// request came to.
	BaseURL string `yaml:"base_url"`
	// JITGroups was the choice to let SCIM add standing members to
	// JIT-managed groups. Only refuse is left: SCIM never changes a group
	// the configuration names.
	JITGroups string `yaml:"jit_groups"`
	// UserAttributes maps SCIM user attributes to directory attributes,
	// over the defaults of the directory's flavour; "" unmaps one. Keys:
	// see UserAttributeKeys.
	UserAttributes map[string]string `yaml:"user_attributes"`
	// RequestsPerSecond and Burst bound SCIM traffic as a whole (default 50
	// and 100); MaxInFlight bounds requests served at once (default 8).
	// Past either, SCIM answers 429 with Retry-After.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	Burst             int     `yaml:"burst"`
	MaxInFlight       int     `yaml:"max_in_flight"`
	// MaxResults bounds one page of a listing (default 200).
	MaxResults int `yaml:"max_results"`
}

// JITRefuse is the only jit_groups mode.
const JITRefuse = "refuse"

var attrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

// WithDefaults fills in what the configuration leaves out.
func (c Config) WithDefaults() Config {
	if c.JITGroups == "" {
		c.JITGroups = JITRefuse
	}
	if c.RequestsPerSecond <= 0 {
		c.RequestsPerSecond = 50
	}
	if c.Burst <= 0 {
		c.Burst = 100
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 8
	}
	if c.MaxResults <= 0 {
		c.MaxResults = 200
	}
	return c
}

// Validate reports every problem, each with its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Directory == "" {
		bad("directory", "required: the directory SCIM clients provision into")
	}
	switch c.JITGroups {
	case "", JITRefuse:
	case "baseline":
		bad("jit_groups", "baseline is no longer offered: SCIM may not change the members of any group jitd's configuration names (JIT-managed, role, break-glass, approver or separation-of-duties groups); remove the key, and accept standing members with jitd baseline accept")
	default:
		bad("jit_groups", "must be refuse (got %q)", c.JITGroups)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("base_url", "must be an absolute http(s) URL such as https://jitd.example/scim/v2 (got %q)", c.BaseURL)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.UserAttributes)) {
		v := c.UserAttributes[k]
		if !slices.Contains(UserAttributeKeys(), k) {
			bad("user_attributes."+k, "not a mapped SCIM attribute; one of %v", UserAttributeKeys())
		} else if v != "" && !attrName.MatchString(v) {
			bad("user_attributes."+k, "must be a directory attribute name (got %q)", v)
		}
	}
	if c.RequestsPerSecond < 0 || c.Burst < 0 || c.MaxInFlight < 0 || c.MaxResults < 0 {
		bad("requests_per_second", "requests_per_second, burst, max_in_flight and max_results must not be negative")
	}
	return errors.Join(errs...)
}

// Writes maps each scim.user_attributes key of the effective mapping (the
// flavour's defaults and the configuration's changes) to the directory
// attribute it writes, for the directory's schema check.
func Writes(flavor string, c Config) map[string]string {
	m := newMapping(flavor, c.UserAttributes)
	out := map[string]string{}
	for _, f := range m.fields {
		out["scim.user_attributes."+f.key] = m.attrs[f.key]
	}
	return out
}
