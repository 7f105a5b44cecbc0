package ldap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
)

// Provisioning. A provisioning client (jitd's SCIM server) creates, changes
// and deletes users and groups, but only inside provisioning.user_base and
// provisioning.group_base, only the attributes listed for it, and never an
// object Active Directory protects (isCriticalSystemObject, adminCount):
// a SCIM token must not become a way to rename Domain Admins or reset an
// administrator's password.

var _ connectors.Provisioner = (*Conn)(nil)

// adGlobalSecurityGroup is groupType for a global security group.
const adGlobalSecurityGroup = "-2147483646"

// neverWritable are attributes no provisioning list may hold: they decide
// security on their own, are the directory's identity, or are written
// through their own field (Name, Enabled, Password) or capability.
var neverWritable = []string{
	"objectClass", "objectCategory", "objectGUID", "objectSid", "entryUUID", "entryDN",
	"distinguishedName", "member", "memberOf", "memberUid", "uniqueMember", "owner",
	"userPassword", "unicodePwd", "userAccountControl", "pwdAccountLockedTime", "pwdPolicySubentry",
	"accountExpires", "primaryGroupID", "adminCount", "isCriticalSystemObject", "sAMAccountName",
	"sAMAccountType", "groupType", "userPrincipalName", "nTSecurityDescriptor", "sIDHistory",
	"servicePrincipalName", "msDS-AllowedToDelegateTo", "msDS-AllowedToActOnBehalfOfOtherIdentity",
	"msDS-KeyCredentialLink", "altSecurityIdentities", "userCertificate", "scriptPath",
	"homeDirectory", "profilePath", "uidNumber", "gidNumber", "loginShell", "cn", "uid",
}

func defaultUserAttrs(flavor string) []string {
	if flavor == FlavorAD {
		return []string{"givenName", "sn", "middleName", "displayName", "mail", "title", "department", "company", "employeeType",
			"employeeNumber", "employeeID", "telephoneNumber", "mobile", "manager", "initials",
			"description", "physicalDeliveryOfficeName", "l", "st", "c", "preferredLanguage"}
	}
	return []string{"givenName", "sn", "displayName", "mail", "title", "departmentNumber", "o", "employeeType",
		"employeeNumber", "telephoneNumber", "mobile", "manager", "initials", "description",
		"physicalDeliveryOfficeName", "l", "st", "preferredLanguage"}
}

func defaultGroupAttrs(flavor string) []string {
	if flavor == FlavorAD {
		return []string{"description", "displayName", "mail", "info"}
	}
	return []string{"description", "o", "ou", "businessCategory"}
}

// validateProvisioning checks the provisioning block against the rest of
// the configuration.
func (c Config) validateProvisioning(p ProvisioningConfig) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("provisioning.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	d := c.withDefaults()
	for field, v := range map[string][2]string{"user_base": {p.UserBase, c.UserBase}, "group_base": {p.GroupBase, c.GroupBase}} {
		base, outer := v[0], v[1]
		if _, err := goldap.ParseDN(base); err != nil || base == "" {
			bad(field, "required: the DN of the container (OU) provisioned entries live in")
			continue
		}
		if outer != "" && !sameDN(base, outer) && !strings.HasSuffix(normDN(base), ","+normDN(outer)) {
			bad(field, "%q is not within %s %q, so jitd would not see what it provisions; move it inside", base, strings.TrimPrefix(field, "provisioning."), outer)
		}
	}
	forbidden := append(slices.Clone(neverWritable), d.IDAttr, d.LoginAttr, d.GroupAttr, d.MemberAttr, d.DNAttr)
	if d.DisabledAttr != "" {
		forbidden = append(forbidden, d.DisabledAttr)
	}
	if d.Accounts != nil {
		forbidden = append(forbidden, d.Accounts.MarkerAttr)
	}
	for field, attrs := range map[string][]string{"user_attrs": p.UserAttrs, "group_attrs": p.GroupAttrs} {
		for i, a := range attrs {
			switch {
			case !attrName.MatchString(a):
				bad(fmt.Sprintf("%s[%d]", field, i), "must be an LDAP attribute name (got %q)", a)
			case containsFold(forbidden, a):
				bad(fmt.Sprintf("%s[%d]", field, i), "%s decides identity or security on its own and cannot be provisioned", a)
			}
		}
	}
	if !c.ad() {
		if c.DisabledAttr == "" {
			bad("user_base", "provisioning on OpenLDAP needs disabled_attr (pwdAccountLockedTime with the ppolicy overlay): how a deactivated user is marked")
		}
		if p.UPNSuffix != "" {
			bad("upn_suffix", "only for flavor: ad")
		}
	}
	return errs
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

// scope returns where entries of a kind live and how they are recognised.
func (c *Conn) scope(kind connectors.EntryKind) (base, class string, writable []string, err error) {
	p := c.cfg.Provisioning
	if p == nil {
		return "", "", nil, fmt.Errorf("ldap: this directory has no provisioning: configured: %w", connectors.ErrInvalid)
	}
	switch kind {
	case connectors.UserEntry:
		return p.UserBase, c.cfg.UserFilter, p.UserAttrs, nil
	case connectors.GroupEntry:
		return p.GroupBase, c.cfg.GroupFilter, p.GroupAttrs, nil
	}
	return "", "", nil, fmt.Errorf("ldap: unknown entry kind %d: %w", kind, connectors.ErrInvalid)
}

// timestampAttrs are the operational attributes holding when an entry was
// made and last changed.
func (c *Conn) timestampAttrs() (created, modified string) { return c.flavor.timestamps() }

func (c *Conn) entryAttrs(kind connectors.EntryKind, extra []string) []string {
	created, modified := c.timestampAttrs()
	attrs := append([]string{c.cfg.IDAttr, created, modified}, extra...)
	if kind == connectors.GroupEntry {
		return append(attrs, c.cfg.GroupAttr)
	}
	attrs = append(attrs, c.cfg.LoginAttr)
	if c.cfg.DisabledAttr != "" {
		attrs = append(attrs, c.cfg.DisabledAttr)
	}
	return append(attrs, c.flavor.userAttrs()...)
}

func (c *Conn) toEntry(kind connectors.EntryKind, e *goldap.Entry, attrs []string) connectors.Entry {
	out := connectors.Entry{Kind: kind, ID: c.entryID(e), DN: e.DN, Attrs: map[string][]string{}}
	if kind == connectors.UserEntry {
		out.Name = e.GetEqualFoldAttributeValue(c.cfg.LoginAttr)
		out.Enabled = c.enabled(e)
	} else {
		out.Name = e.GetEqualFoldAttributeValue(c.cfg.GroupAttr)
	}
	created, modified := c.timestampAttrs()
	out.Created = generalizedTime(e.GetEqualFoldAttributeValue(created))
	out.Modified = generalizedTime(e.GetEqualFoldAttributeValue(modified))
	for _, a := range attrs {
		if v := e.GetEqualFoldAttributeValues(a); len(v) > 0 {
			out.Attrs[a] = v
		}
	}
	return out
}

// generalizedTime parses LDAP's GeneralizedTime ("20261123101112Z", AD's
// "20261123101112.0Z"); anything else is the zero time.
func generalizedTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{"20060102150405Z", "20060102150405.0Z", "20060102150405.000000Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// ReadEntries streams the provisioned users or groups the query selects.
func (c *Conn) ReadEntries(ctx context.Context, q connectors.EntryQuery, fn func(connectors.Entry) error) error {
	base, class, _, err := c.scope(q.Kind)
	if err != nil {
		return err
	}
	filter := class
	switch {
	case len(q.IDs) > connectors.MaxQueryIDs:
		return fmt.Errorf("ldap: %d ids in one query; at most %d: %w", len(q.IDs), connectors.MaxQueryIDs, connectors.ErrInvalid)
	case len(q.IDs) > 0:
		var ors strings.Builder
		for _, id := range q.IDs {
			if item, ok := c.idFilter(id); ok {
				ors.WriteString(item)
			}
		}
		if ors.Len() == 0 {
			return nil // none can be an id of this directory
		}
		filter = "(&" + class + "(|" + ors.String() + "))"
	case q.ID != "":
		item, ok := c.idFilter(q.ID)
		if !ok {
			return nil // cannot be an id of this directory: nothing matches
		}
		filter = "(&" + class + item + ")"
	case q.Name != "" && q.Kind == connectors.UserEntry:
		filter = and(class, c.cfg.LoginAttr, q.Name)
	case q.Name != "":
		filter = and(class, c.cfg.GroupAttr, q.Name)
	case q.Attr != "":
		if !attrName.MatchString(q.Attr) {
			return fmt.Errorf("ldap: %q is not an attribute name: %w", q.Attr, connectors.ErrInvalid)
		}
		filter = and(class, q.Attr, q.Value)
	}
	for _, a := range q.Attrs {
		if !attrName.MatchString(a) {
			return fmt.Errorf("ldap: %q is not an attribute name: %w", a, connectors.ErrInvalid)
		}
	}
	if q.IDsOnly {
		return c.page(ctx, base, filter, []string{c.cfg.IDAttr}, func(e *goldap.Entry) error {
			return fn(connectors.Entry{Kind: q.Kind, ID: c.entryID(e), DN: e.DN, Attrs: map[string][]string{}})
		})
	}
	managers := map[string]string{} // normalised DN → id ("": no user), for this call
	return c.pages(ctx, base, filter, c.entryAttrs(q.Kind, q.Attrs), func(page []*goldap.Entry) error {
		out := make([]connectors.Entry, 0, len(page))
		for _, e := range page {
			out = append(out, c.toEntry(q.Kind, e, q.Attrs))
		}
		if err := c.managersToIDs(ctx, out, managers); err != nil {
			return err
		}
		for _, en := range out {
			if err := fn(en); err != nil {
				return err
			}
		}
		return nil
	})
}

// managersToIDs replaces the manager DNs of entries by the managers' ids,
// resolving the DNs ids (by normalised DN) does not know yet in one go; a
// DN that names no user is dropped.
func (c *Conn) managersToIDs(ctx context.Context, entries []connectors.Entry, ids map[string]string) error {
	var unknown []string
	for _, en := range entries {
		for a, dns := range en.Attrs {
			if !c.isManager(a) {
				continue
			}
			for _, dn := range dns {
				if _, ok := ids[normDN(dn)]; !ok && !slices.Contains(unknown, dn) {
					unknown = append(unknown, dn)
				}
			}
		}
	}
	if err := c.managerIDs(ctx, unknown, ids); err != nil {
		return err
	}
	for _, en := range entries {
		for a, dns := range en.Attrs {
			if !c.isManager(a) {
				continue
			}
			var found []string
			for _, dn := range dns {
				if id := ids[normDN(dn)]; id != "" {
					found = append(found, id)
				}
			}
			if len(found) == 0 {
				delete(en.Attrs, a)
			} else {
				en.Attrs[a] = found
			}
		}
	}
	return nil
}

// isManager reports whether attr is the one naming a user's manager.
func (c *Conn) isManager(attr string) bool { return strings.EqualFold(attr, c.cfg.ManagerAttr) }

// managerIDs finds the ids of the users these manager DNs name, into ids
// by normalised DN, with one OR search per 100 DNs; a DN that names no
// user ("" in ids) is dropped from the entries. A DN the search did not
// find is read on its own, for servers that cannot search by DN.
func (c *Conn) managerIDs(ctx context.Context, dns []string, ids map[string]string) error {
	for chunk := range slices.Chunk(dns, 100) {
		found, err := c.usersByDN(ctx, chunk)
		if err != nil {
			return err
		}
		for _, dn := range chunk {
			id, ok := found[normDN(dn)]
			if !ok {
				e, err := c.readEntry(ctx, dn, []string{c.cfg.IDAttr})
				switch {
				case errors.Is(err, connectors.ErrNotFound):
				case err != nil:
					return err
				default:
					id = c.entryID(e)
				}
			}
			ids[normDN(dn)] = id
		}
	}
	return nil
}

// usersByDN finds the users these DNs name in one search, by normalised DN.
func (c *Conn) usersByDN(ctx context.Context, dns []string) (map[string]string, error) {
	var f strings.Builder
	f.WriteString("(&" + c.cfg.UserFilter + "(|")
	for _, dn := range dns {
		f.WriteString(c.flavor.dnFilter(dn))
	}
	f.WriteString("))")
	found := map[string]string{}
	err := c.page(ctx, c.cfg.UserBase, f.String(), []string{c.cfg.IDAttr}, func(e *goldap.Entry) error {
		found[normDN(e.DN)] = c.entryID(e)
		return nil
	})
	return found, err
}

// managerDNs replaces manager ids by DNs; an id that names no user is
// ErrInvalid.
func (c *Conn) managerDNs(ctx context.Context, attrs map[string][]string) (map[string][]string, error) {
	out := make(map[string][]string, len(attrs))
	for a, v := range attrs {
		out[a] = v
		if !c.isManager(a) || len(v) == 0 {
			continue
		}
		dns, err := c.dns(ctx, c.cfg.UserBase, c.cfg.UserFilter, v)
		if err != nil {
			return nil, err
		}
		var list []string
		for _, id := range v {
			dn, ok := dns[id]
			if !ok {
				return nil, fmt.Errorf("ldap: manager %q is no user of this directory: %w", id, connectors.ErrInvalid)
			}
			list = append(list, dn)
		}
		out[a] = list
	}
	return out, nil
}

// checkAttrs refuses attributes provisioning may not write.
func checkAttrs(kind connectors.EntryKind, attrs map[string][]string, writable []string) error {
	for a := range attrs {
		if !containsFold(writable, a) {
			return fmt.Errorf("ldap: provisioning may not write %s on a %s; list it in provisioning.%s_attrs if it should: %w", a, kind, kind, connectors.ErrPermission)
		}
	}
	return nil
}

func validName(kind connectors.EntryKind, name string) error {
	if strings.TrimSpace(name) == "" || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Errorf("ldap: %s name %q: empty or holds control characters: %w", kind, name, connectors.ErrInvalid)
	}
	return nil
}

// CreateEntry creates a user or group in its provisioning container.
func (c *Conn) CreateEntry(ctx context.Context, spec connectors.EntrySpec) (connectors.Entry, error) {
	base, _, writable, err := c.scope(spec.Kind)
	if err != nil {
		return connectors.Entry{}, err
	}
	if err := validName(spec.Kind, spec.Name); err != nil {
		return connectors.Entry{}, err
	}
	if err := checkAttrs(spec.Kind, spec.Attrs, writable); err != nil {
		return connectors.Entry{}, err
	}
	if spec.Attrs, err = c.managerDNs(ctx, spec.Attrs); err != nil {
		return connectors.Entry{}, err
	}
	var req *goldap.AddRequest
	if spec.Kind == connectors.UserEntry {
		req, err = c.userAdd(base, spec)
	} else {
		req = c.groupAdd(base, spec)
	}
	if err != nil {
		return connectors.Entry{}, err
	}
	for a, v := range spec.Attrs {
		if len(v) > 0 {
			req.Attribute(a, v)
		}
	}
	err = c.with(ctx, func(l *goldap.Conn) error { return l.Add(req) })
	if refusedPassword(err) {
		return connectors.Entry{}, fmt.Errorf("ldap: create %s: the directory refused the password (its password policy: length, complexity, history): %w", req.DN, connectors.ErrInvalid)
	}
	if goldap.IsErrorAnyOf(err, goldap.LDAPResultEntryAlreadyExists, goldap.LDAPResultConstraintViolation, goldap.LDAPResultAttributeOrValueExists) {
		return connectors.Entry{}, fmt.Errorf("ldap: create %s %s: one with this name exists: %w: %v", spec.Kind, req.DN, connectors.ErrConflict, err)
	}
	if err != nil {
		return connectors.Entry{}, mapErr("create "+req.DN, err)
	}
	e, err := c.readEntry(ctx, req.DN, c.entryAttrs(spec.Kind, writable))
	if err != nil {
		return connectors.Entry{}, err
	}
	out := c.toEntry(spec.Kind, e, writable)
	return out, c.managersToIDs(ctx, []connectors.Entry{out}, map[string]string{})
}

func (c *Conn) userAdd(base string, spec connectors.EntrySpec) (*goldap.AddRequest, error) {
	password := spec.Password
	if password == "" {
		password = connectors.RandomPassword()
	}
	return c.flavor.newUser(base, spec, password)
}

// newADUser is the add request of a provisioned AD user.
func (c *Conn) newADUser(base string, spec connectors.EntrySpec, password string) (*goldap.AddRequest, error) {
	sam, upn, err := c.provisionedNames(spec.Name)
	if err != nil {
		return nil, err
	}
	uac := uacNormal | uacDisabled
	if spec.Enabled {
		uac = uacNormal
	}
	req := goldap.NewAddRequest("CN="+goldap.EscapeDN(sam)+","+base, nil)
	req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
	req.Attribute("sAMAccountName", []string{sam})
	if upn != "" {
		req.Attribute("userPrincipalName", []string{upn})
	}
	req.Attribute("unicodePwd", []string{unicodePwd(password)})
	req.Attribute("userAccountControl", []string{strconv.Itoa(uac)})
	return req, nil
}

// newPerson is the add request of a provisioned inetOrgPerson.
func (c *Conn) newPerson(base string, spec connectors.EntrySpec, password string) (*goldap.AddRequest, error) {
	login := strings.TrimSpace(spec.Name)
	req := goldap.NewAddRequest(c.cfg.LoginAttr+"="+goldap.EscapeDN(login)+","+base, nil)
	req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson"})
	if !strings.EqualFold(c.cfg.LoginAttr, "cn") {
		req.Attribute(c.cfg.LoginAttr, []string{login})
	}
	cn := login
	if v := firstOf(spec.Attrs, "displayName"); v != "" {
		cn = v
	}
	req.Attribute("cn", []string{cn})
	if firstOf(spec.Attrs, "sn") == "" {
		req.Attribute("sn", []string{login}) // person requires a surname
	}
	req.Attribute("userPassword", []string{ssha(password)})
	if !spec.Enabled {
		req.Attribute(c.cfg.DisabledAttr, []string{c.disabledValue()})
	}
	return req, nil
}

// provisionedNames derives an AD user's sAMAccountName and
// userPrincipalName from the login a provisioning client gives, which must
// read back unchanged from the login attribute: with sAMAccountName that
// is at most 20 characters and no "@"; with userPrincipalName it is
// user@domain, and sAMAccountName is made from the user part (shortened
// with a hash of the whole name when longer than 20).
func (c *Conn) provisionedNames(login string) (sam, upn string, err error) {
	local, _, hasAt := strings.Cut(login, "@")
	switch {
	case strings.EqualFold(c.cfg.LoginAttr, "userPrincipalName"):
		if !hasAt {
			return "", "", fmt.Errorf("ldap: %q is not a user principal name (user@domain), which this directory's login_attr requires: %w", login, connectors.ErrInvalid)
		}
		if _, _, err := adNames(local, ""); err != nil {
			return "", "", err
		}
		sam = local
		if len(sam) > maxSAMNameBytes {
			sum := sha256.Sum256([]byte(login))
			sam = sam[:maxSAMNameBytes-6] + "-" + hex.EncodeToString(sum[:])[:5]
		}
		return sam, login, nil
	case hasAt || len(login) > maxSAMNameBytes:
		return "", "", fmt.Errorf("ldap: %q cannot be a sAMAccountName (at most %d characters, no \"@\"); set login_attr: userPrincipalName to provision user@domain names: %w", login, maxSAMNameBytes, connectors.ErrInvalid)
	}
	return adNames(login, c.cfg.Provisioning.UPNSuffix)
}

func (c *Conn) groupAdd(base string, spec connectors.EntrySpec) *goldap.AddRequest {
	return c.flavor.newGroup(base, strings.TrimSpace(spec.Name))
}

// newADGroup is the add request of a global security group.
func newADGroup(base, name string) *goldap.AddRequest {
	req := goldap.NewAddRequest("CN="+goldap.EscapeDN(name)+","+base, nil)
	req.Attribute("objectClass", []string{"top", "group"})
	req.Attribute("sAMAccountName", []string{name})
	req.Attribute("groupType", []string{adGlobalSecurityGroup})
	return req
}

// newGroupOfNames is the add request of a groupOfNames, with the
// placeholder member its schema requires.
func (c *Conn) newGroupOfNames(base, name string) *goldap.AddRequest {
	dn := c.cfg.GroupAttr + "=" + goldap.EscapeDN(name) + "," + base
	req := goldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"top", "groupOfNames"})
	if !strings.EqualFold(c.cfg.GroupAttr, "cn") {
		req.Attribute("cn", []string{name})
	}
	req.Attribute(c.cfg.GroupAttr, []string{name})
	// groupOfNames must have a member: the placeholder, else itself.
	placeholder := c.cfg.EmptyMember
	if placeholder == "" {
		placeholder = dn
	}
	req.Attribute(c.cfg.MemberAttr, []string{placeholder})
	return req
}

func firstOf(attrs map[string][]string, name string) string {
	for a, v := range attrs {
		if strings.EqualFold(a, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// refusedPassword reports a password the directory's policy refused: AD
// answers constraintViolation with its error 0000052D
// (ERROR_PASSWORD_RESTRICTION), Samba with a message about the password,
// slapd's ppolicy with a constraint violation naming it. The diagnostic is
// the only way to tell this from a name clash.
func refusedPassword(err error) bool {
	if !goldap.IsErrorAnyOf(err, goldap.LDAPResultConstraintViolation, goldap.LDAPResultUnwillingToPerform) {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "0000052d") || strings.Contains(msg, "password")
}

// provisioned finds an entry by id inside its provisioning container and
// refuses objects the directory protects.
func (c *Conn) provisioned(ctx context.Context, kind connectors.EntryKind, id string) (*goldap.Entry, error) {
	base, class, _, err := c.scope(kind)
	if err != nil {
		return nil, err
	}
	var found *goldap.Entry
	attrs := c.entryAttrs(kind, []string{"isCriticalSystemObject", "adminCount"})
	if err := c.byIDs(ctx, base, class, []string{id}, attrs, func(e *goldap.Entry) error {
		found = e
		return nil
	}); err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("ldap: no %s %s in %s: %w", kind, id, base, connectors.ErrNotFound)
	}
	if strings.EqualFold(found.GetEqualFoldAttributeValue("isCriticalSystemObject"), "TRUE") || found.GetEqualFoldAttributeValue("adminCount") == "1" {
		return nil, fmt.Errorf("ldap: %s is protected by the directory (isCriticalSystemObject or adminCount); provisioning leaves it alone: %w", found.DN, connectors.ErrPermission)
	}
	return found, nil
}

// ModifyEntry renames, changes attributes, enables or disables, or sets
// the password of a provisioned entry.
func (c *Conn) ModifyEntry(ctx context.Context, kind connectors.EntryKind, id string, change connectors.EntryChange) error {
	_, _, writable, err := c.scope(kind)
	if err != nil {
		return err
	}
	if err := checkAttrs(kind, change.Attrs, writable); err != nil {
		return err
	}
	if change.Name != "" {
		if err := validName(kind, change.Name); err != nil {
			return err
		}
	}
	if change.Password != "" && kind != connectors.UserEntry {
		return fmt.Errorf("ldap: groups have no password: %w", connectors.ErrInvalid)
	}
	if change.Attrs, err = c.managerDNs(ctx, change.Attrs); err != nil {
		return err
	}
	e, err := c.provisioned(ctx, kind, id)
	if err != nil {
		return err
	}
	dn := e.DN
	if change.Name != "" && kind == connectors.GroupEntry && change.Name != e.GetEqualFoldAttributeValue(c.cfg.GroupAttr) {
		if dn, err = c.rename(ctx, e.DN, c.cfg.GroupAttr, change.Name); err != nil {
			return err
		}
	}
	if change.Name != "" && kind == connectors.UserEntry && c.flavor.renamesRDN() && change.Name != e.GetEqualFoldAttributeValue(c.cfg.LoginAttr) && rdnIs(e.DN, c.cfg.LoginAttr) {
		if dn, err = c.rename(ctx, e.DN, c.cfg.LoginAttr, change.Name); err != nil {
			return err
		}
		e.DN = dn
		e.Attributes = append(e.Attributes, &goldap.EntryAttribute{Name: c.cfg.LoginAttr, Values: []string{change.Name}})
		change.Name = "" // the new RDN carries it
	}
	req := goldap.NewModifyRequest(dn, nil)
	for a, v := range change.Attrs {
		req.Replace(a, v)
	}
	if change.Name != "" && kind == connectors.UserEntry && change.Name != e.GetEqualFoldAttributeValue(c.cfg.LoginAttr) {
		if err := c.userRename(req, change.Name); err != nil {
			return err
		}
	}
	if change.Password != "" {
		c.flavor.setPassword(req, change.Password)
	}
	if change.Enabled != nil && kind == connectors.UserEntry && *change.Enabled != c.enabled(e) {
		if err := c.flavor.enabledChange(req, e, *change.Enabled); err != nil {
			return err
		}
	}
	if len(req.Changes) == 0 {
		return nil
	}
	err = c.with(ctx, func(l *goldap.Conn) error { return l.Modify(req) })
	if change.Password != "" && refusedPassword(err) {
		return fmt.Errorf("ldap: change %s: the directory refused the password (its password policy: length, complexity, history): %w", dn, connectors.ErrInvalid)
	}
	if goldap.IsErrorAnyOf(err, goldap.LDAPResultConstraintViolation, goldap.LDAPResultAttributeOrValueExists, goldap.LDAPResultEntryAlreadyExists) {
		return fmt.Errorf("ldap: change %s: %w: %v", dn, connectors.ErrConflict, err)
	}
	if goldap.IsErrorAnyOf(err, goldap.LDAPResultObjectClassViolation, goldap.LDAPResultUndefinedAttributeType, goldap.LDAPResultInvalidAttributeSyntax) {
		return fmt.Errorf("ldap: change %s: the directory refused the values: %w: %v", dn, connectors.ErrInvalid, err)
	}
	if err != nil {
		return mapErr("change "+dn, err)
	}
	return nil
}

func (c *Conn) userRename(req *goldap.ModifyRequest, login string) error {
	return c.flavor.renameUser(req, login)
}

// renameADUser changes an AD user's sAMAccountName and userPrincipalName.
func (c *Conn) renameADUser(req *goldap.ModifyRequest, login string) error {
	sam, upn, err := c.provisionedNames(login)
	if err != nil {
		return err
	}
	req.Replace("sAMAccountName", []string{sam})
	if upn != "" {
		req.Replace("userPrincipalName", []string{upn})
	}
	return nil
}

// rdnIs reports whether attr names an entry's RDN.
func rdnIs(dn, attr string) bool {
	parsed, err := goldap.ParseDN(dn)
	return err == nil && len(parsed.RDNs) > 0 && len(parsed.RDNs[0].Attributes) == 1 && strings.EqualFold(parsed.RDNs[0].Attributes[0].Type, attr)
}

// rename moves an entry to its new name's RDN and, where the name is held
// in another attribute too (AD's sAMAccountName), that attribute with it;
// it returns the new DN.
func (c *Conn) rename(ctx context.Context, dn, nameAttr, name string) (string, error) {
	parsed, err := goldap.ParseDN(dn)
	if err != nil || len(parsed.RDNs) < 2 {
		return "", fmt.Errorf("ldap: rename %s: unreadable DN: %w", dn, connectors.ErrInvalid)
	}
	rdnAttr := parsed.RDNs[0].Attributes[0].Type
	rdn := rdnAttr + "=" + goldap.EscapeDN(name)
	parent := dn[strings.Index(dn, ",")+1:]
	err = c.with(ctx, func(l *goldap.Conn) error {
		return l.ModifyDN(goldap.NewModifyDNRequest(dn, rdn, true, ""))
	})
	if goldap.IsErrorAnyOf(err, goldap.LDAPResultEntryAlreadyExists) {
		return "", fmt.Errorf("ldap: rename %s to %s: one with this name exists: %w", dn, name, connectors.ErrConflict)
	}
	if err != nil {
		return "", mapErr("rename "+dn, err)
	}
	newDN := rdn + "," + parent
	if !strings.EqualFold(rdnAttr, nameAttr) {
		req := goldap.NewModifyRequest(newDN, nil)
		req.Replace(nameAttr, []string{name})
		if err := c.with(ctx, func(l *goldap.Conn) error { return l.Modify(req) }); err != nil {
			return "", mapErr("rename "+newDN, err)
		}
	}
	return newDN, nil
}

// DeleteEntry deletes a provisioned user or group.
func (c *Conn) DeleteEntry(ctx context.Context, kind connectors.EntryKind, id string) error {
	e, err := c.provisioned(ctx, kind, id)
	if err != nil {
		return err
	}
	err = c.with(ctx, func(l *goldap.Conn) error { return l.Del(goldap.NewDelRequest(e.DN, nil)) })
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return fmt.Errorf("ldap: delete %s: %w", e.DN, connectors.ErrNotFound)
	}
	if err != nil {
		return mapErr("delete "+e.DN, err)
	}
	return nil
}

var _ connectors.ProvisioningSettings = Config{}

// ProvisioningProblem says what the settings lack for SCIM to provision.
func (c Config) ProvisioningProblem() string {
	if c.Provisioning == nil {
		return "no provisioning block: give its settings provisioning.user_base and provisioning.group_base, the OUs SCIM may work in"
	}
	return ""
}

// Dialect is "ad" for Active Directory, "" for OpenLDAP.
func (c Config) Dialect() string { return c.Flavor }
