package ldap

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
)

// Flavours of LDAP server.
const (
	FlavorOpenLDAP = "openldap"
	// FlavorAD is Active Directory (and Samba AD): objectGUID ids,
	// sAMAccountName or userPrincipalName logins, userAccountControl for
	// disabled accounts, ranged retrieval of large groups, nested membership,
	// DirSync or uSNChanged for changes, and ephemeral accounts.
	FlavorAD = "ad"
)

// Config is an LDAP directory's configuration (the `ldap:` block of a
// directory in jitd's config).
type Config struct {
	// Flavor is openldap (the default) or ad; it sets the defaults below and
	// how disabled users, ids and changes are read.
	Flavor string `yaml:"flavor" json:"flavor,omitempty"`
	// URL is ldaps://host[:port], or ldap://host[:port] with start_tls: true.
	URL string `yaml:"url" json:"url"`
	// StartTLS upgrades an ldap:// connection before binding.
	StartTLS bool `yaml:"start_tls" json:"start_tls,omitempty"`
	// Insecure allows plain, unencrypted LDAP. Never in production.
	Insecure bool `yaml:"insecure" json:"insecure,omitempty"`
	// CAFile is a PEM bundle to trust instead of the system roots.
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `yaml:"server_name" json:"server_name,omitempty"`

	BindDN string `yaml:"bind_dn" json:"bind_dn"`
	// The bind password comes from a file or an environment variable, never
	// from the config itself.
	BindPasswordFile string `yaml:"bind_password_file" json:"bind_password_file,omitempty"`
	BindPasswordEnv  string `yaml:"bind_password_env" json:"bind_password_env,omitempty"`

	UserBase    string `yaml:"user_base" json:"user_base"`
	UserFilter  string `yaml:"user_filter" json:"user_filter,omitempty"`   // default (objectClass=inetOrgPerson)
	LoginAttr   string `yaml:"login_attr" json:"login_attr,omitempty"`     // default uid
	GroupBase   string `yaml:"group_base" json:"group_base"`               //
	GroupFilter string `yaml:"group_filter" json:"group_filter,omitempty"` // default (objectClass=groupOfNames)
	GroupAttr   string `yaml:"group_attr" json:"group_attr,omitempty"`     // default cn
	MemberAttr  string `yaml:"member_attr" json:"member_attr,omitempty"`   // default member
	IDAttr      string `yaml:"id_attr" json:"id_attr,omitempty"`           // default entryUUID
	// DNAttr is an attribute holding an entry's DN that can be searched with
	// equality (entryDN on OpenLDAP, distinguishedName on AD).
	DNAttr string `yaml:"dn_attr" json:"dn_attr,omitempty"`
	// DisabledAttr marks a disabled user: present (or, with DisabledValue,
	// holding that value) means disabled — e.g. pwdAccountLockedTime, or
	// employeeType with disabled_value: disabled. A disabled user loses every grant.
	DisabledAttr  string `yaml:"disabled_attr" json:"disabled_attr,omitempty"`
	DisabledValue string `yaml:"disabled_value" json:"disabled_value,omitempty"`
	// EmptyMember is a placeholder DN added when removing the last member of
	// a group whose schema requires one (groupOfNames). Never reported as a member.
	EmptyMember string `yaml:"empty_member" json:"empty_member,omitempty"`
	// ManagerAttr holds a user's manager's DN (default manager); Attributes
	// maps the names policy reads (requester.attributes) to LDAP attributes
	// (default department: departmentNumber on OpenLDAP, department on AD;
	// title: title).
	ManagerAttr string            `yaml:"manager_attr" json:"manager_attr,omitempty"`
	Attributes  map[string]string `yaml:"attributes" json:"attributes,omitempty"`

	// PollFullEvery: on servers without syncrepl, changes are polled by
	// modifyTimestamp, which cannot see deletions; a full sync at least this
	// often catches them (default 1h).
	PollFullEvery time.Duration `yaml:"poll_full_every" json:"poll_full_every,omitempty"`

	// ADFeed picks how an AD directory's changes are read: auto (DirSync
	// when the server and the bind account allow it, else uSNChanged),
	// dirsync, or usn.
	ADFeed string `yaml:"ad_feed" json:"ad_feed,omitempty"`

	// NativeTTL (AD) also gives every membership jitd adds a time to live
	// (the link-TTL feature of Windows Server 2016+ forests with Privileged
	// Access Management enabled), so the domain removes it even if jitd is
	// gone. A DC that does not offer it fails Check and every grant, with a
	// message that says so.
	NativeTTL bool `yaml:"native_ttl" json:"native_ttl,omitempty"`

	// Accounts configures ephemeral (contractor) accounts; without it the
	// directory does not offer them.
	Accounts *AccountsConfig `yaml:"accounts" json:"accounts,omitempty"`

	// Provisioning lets a provisioning client (jitd's SCIM server) create,
	// change and delete users and groups in two containers; without it the
	// directory offers no provisioning.
	Provisioning *ProvisioningConfig `yaml:"provisioning" json:"provisioning,omitempty"`

	PageSize    int           `yaml:"page_size" json:"page_size,omitempty"`     // default 500
	Timeout     time.Duration `yaml:"timeout" json:"timeout,omitempty"`         // default 30s per operation
	Connections int           `yaml:"connections" json:"connections,omitempty"` // default 4
}

// AccountsConfig says where and how ephemeral accounts are made.
type AccountsConfig struct {
	// Base is the container (OU) accounts are created in; jitd changes and
	// deletes accounts only there, and only those carrying its marker.
	Base string `yaml:"base" json:"base"`
	// MarkerAttr holds the value "jitd-ephemeral" on every account jitd
	// creates (default employeeType).
	MarkerAttr string `yaml:"marker_attr" json:"marker_attr,omitempty"`
	// UPNSuffix (AD) makes userPrincipalName login@suffix when the login
	// has no "@" of its own.
	UPNSuffix string `yaml:"upn_suffix" json:"upn_suffix,omitempty"`
}

// ProvisioningConfig says where provisioning may write and what.
type ProvisioningConfig struct {
	// UserBase and GroupBase are the containers (OUs) provisioned users and
	// groups live in; nothing outside them is read, changed or deleted. They
	// must lie within user_base and group_base.
	UserBase  string `yaml:"user_base" json:"user_base"`
	GroupBase string `yaml:"group_base" json:"group_base"`
	// UserAttrs and GroupAttrs are the attributes provisioning may write
	// (defaults: the usual person and group attributes of the flavour).
	// Attributes that decide security on their own can never be listed.
	UserAttrs  []string `yaml:"user_attrs" json:"user_attrs,omitempty"`
	GroupAttrs []string `yaml:"group_attrs" json:"group_attrs,omitempty"`
	// UPNSuffix (AD) makes userPrincipalName login@suffix when the login
	// has no "@" of its own.
	UPNSuffix string `yaml:"upn_suffix" json:"upn_suffix,omitempty"`
}

// Marker is the value of the marker attribute on accounts jitd created.
const Marker = "jitd-ephemeral"

func (c Config) ad() bool { return c.Flavor == FlavorAD }

func (c Config) withDefaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	if c.Attributes == nil {
		c.Attributes = map[string]string{"department": "departmentNumber", "title": "title"}
		if c.ad() {
			c.Attributes["department"] = "department"
		}
	}
	def(&c.ManagerAttr, "manager")
	if c.ad() {
		def(&c.UserFilter, "(&(objectCategory=person)(objectClass=user))")
		def(&c.LoginAttr, "sAMAccountName")
		def(&c.GroupFilter, "(objectClass=group)")
		def(&c.GroupAttr, "sAMAccountName")
		def(&c.IDAttr, "objectGUID")
		def(&c.DNAttr, "distinguishedName")
	}
	if c.Provisioning != nil {
		p := *c.Provisioning
		if p.UserAttrs == nil {
			p.UserAttrs = defaultUserAttrs(c.Flavor)
			if c.Accounts != nil { // the accounts marker is never provisioned
				marker := c.Accounts.MarkerAttr
				if marker == "" {
					marker = "employeeType"
				}
				p.UserAttrs = slices.DeleteFunc(p.UserAttrs, func(a string) bool { return strings.EqualFold(a, marker) })
			}
		}
		if p.GroupAttrs == nil {
			p.GroupAttrs = defaultGroupAttrs(c.Flavor)
		}
		c.Provisioning = &p
	}
	if c.Accounts != nil {
		a := *c.Accounts
		def(&a.MarkerAttr, "employeeType")
		c.Accounts = &a
	}
	def(&c.UserFilter, "(objectClass=inetOrgPerson)")
	def(&c.LoginAttr, "uid")
	def(&c.GroupFilter, "(objectClass=groupOfNames)")
	def(&c.GroupAttr, "cn")
	def(&c.MemberAttr, "member")
	def(&c.IDAttr, "entryUUID")
	def(&c.DNAttr, "entryDN")
	if c.PageSize <= 0 {
		c.PageSize = 500
	}
	if c.PollFullEvery <= 0 {
		c.PollFullEvery = time.Hour
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Connections <= 0 {
		c.Connections = 4
	}
	return c
}

var attrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch c.Flavor {
	case "", FlavorOpenLDAP, FlavorAD:
	default:
		bad("flavor", "must be openldap or ad (got %q)", c.Flavor)
	}
	switch c.ADFeed {
	case "", "auto":
	case "dirsync", "usn":
		if !c.ad() {
			bad("ad_feed", "only for flavor: ad")
		}
	default:
		bad("ad_feed", "must be auto, dirsync or usn (got %q)", c.ADFeed)
	}
	for name, attr := range c.Attributes {
		if !attrName.MatchString(attr) {
			bad("attributes."+name, "must be an LDAP attribute name (got %q)", attr)
		}
	}
	if c.ManagerAttr != "" && !attrName.MatchString(c.ManagerAttr) {
		bad("manager_attr", "must be an LDAP attribute name (got %q)", c.ManagerAttr)
	}
	if c.NativeTTL && !c.ad() {
		bad("native_ttl", "only for flavor: ad (Active Directory's time-bound membership)")
	}
	if c.Accounts != nil {
		if _, err := goldap.ParseDN(c.Accounts.Base); err != nil || c.Accounts.Base == "" {
			bad("accounts.base", "required: the DN of the container (OU) accounts are created in")
		}
		if !c.ad() {
			switch {
			case c.DisabledAttr == "":
				bad("disabled_attr", "required with accounts on OpenLDAP: how a disabled account is marked (pwdAccountLockedTime with the ppolicy overlay)")
			case strings.EqualFold(c.DisabledAttr, c.Accounts.MarkerAttr) || (c.Accounts.MarkerAttr == "" && strings.EqualFold(c.DisabledAttr, "employeeType")):
				bad("disabled_attr", "must differ from accounts.marker_attr")
			case c.DisabledValue == "" && !strings.EqualFold(c.DisabledAttr, "pwdAccountLockedTime"):
				bad("disabled_value", "required with accounts on OpenLDAP unless disabled_attr is pwdAccountLockedTime: the value that marks an account disabled")
			}
			if c.Accounts.UPNSuffix != "" {
				bad("accounts.upn_suffix", "only for flavor: ad")
			}
		}
	}
	if p := c.Provisioning; p != nil {
		errs = append(errs, c.validateProvisioning(*p)...)
	}
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		bad("url", "required (ldaps://host:636, or ldap://host:389 with start_tls: true)")
	case err != nil:
		bad("url", "%v", err)
	case u.Scheme == "ldaps":
		if c.StartTLS {
			bad("start_tls", "not used with ldaps:// (the connection is already TLS); remove it")
		}
	case u.Scheme == "ldap":
		if !c.StartTLS && !c.Insecure {
			bad("url", "scheme must be ldaps, or ldap with start_tls: true (got %q); set insecure: true to allow plain LDAP", c.URL)
		}
	default:
		bad("url", "scheme must be ldaps or ldap (got %q)", u.Scheme)
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			bad("ca_file", "%v", err)
		}
	}
	for field, dn := range map[string]string{"bind_dn": c.BindDN, "user_base": c.UserBase, "group_base": c.GroupBase} {
		if dn == "" {
			bad(field, "required")
		} else if _, err := goldap.ParseDN(dn); err != nil {
			bad(field, "not a DN: %v", err)
		}
	}
	if c.EmptyMember != "" {
		if _, err := goldap.ParseDN(c.EmptyMember); err != nil {
			bad("empty_member", "not a DN: %v", err)
		}
	}
	if err := c.bindPassword().Check(); err != nil {
		errs = append(errs, err)
	}
	for field, f := range map[string]string{"user_filter": c.UserFilter, "group_filter": c.GroupFilter} {
		if f != "" {
			if _, err := goldap.CompileFilter(f); err != nil {
				bad(field, "%v", err)
			}
		}
	}
	if c.DisabledValue != "" && c.DisabledAttr == "" {
		bad("disabled_value", "needs disabled_attr")
	}
	if c.Timeout < 0 || c.PageSize < 0 || c.Connections < 0 {
		bad("timeout", "timeout, page_size and connections must not be negative")
	}
	return errors.Join(errs...)
}

func (c Config) bindPassword() connectors.Secret {
	return connectors.Secret{Key: "bind_password", File: c.BindPasswordFile, Env: c.BindPasswordEnv, What: "a bind password"}
}

// password reads the bind password from its file or variable.
func (c Config) password() (string, error) {
	pw, err := c.bindPassword().Read()
	if err != nil {
		return "", fmt.Errorf("ldap: %w", err)
	}
	return pw, nil
}
