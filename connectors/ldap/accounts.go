package ldap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
)

// Ephemeral accounts. Each is a user created under accounts.base carrying the
// marker value in accounts.marker_attr; jitd changes and deletes only
// entries that are under the base and carry the marker. The password (given
// or random) is set in the same add over the encrypted connection, and a
// staged account is created disabled. On Active Directory accountExpires
// carries the end date as the domain's own backstop and userAccountControl
// the disabled bit; on OpenLDAP the account is an inetOrgPerson whose
// password is stored salted and hashed ({SSHA}), disabled by disabled_attr
// (ppolicy's pwdAccountLockedTime: a permanent lock), with no native end date.

var _ connectors.AccountManager = (*Conn)(nil)

// Capabilities lists what this directory offers: accounts only when
// configured.
func (c *Conn) Capabilities() []connectors.Capability {
	caps := []connectors.Capability{connectors.CapChangeFeed, connectors.CapList, connectors.CapLookup, connectors.CapMembership, connectors.CapSchema}
	if c.cfg.Accounts != nil {
		caps = append(caps, connectors.CapAccounts)
	}
	if c.cfg.Provisioning != nil {
		caps = append(caps, connectors.CapProvision)
	}
	return caps
}

// CreateAccount creates the account and returns its objectGUID.
func (c *Conn) CreateAccount(ctx context.Context, spec connectors.AccountSpec) (connectors.Account, error) {
	a := c.cfg.Accounts
	if a == nil {
		return connectors.Account{}, fmt.Errorf("ldap: this directory has no accounts: configured: %w", connectors.ErrInvalid)
	}
	return c.flavor.createAccount(ctx, spec)
}

// createADAccount creates an AD user in accounts.base, disabled unless
// spec.Activate, ending at spec.Until (accountExpires).
func (c *Conn) createADAccount(ctx context.Context, spec connectors.AccountSpec) (connectors.Account, error) {
	a := c.cfg.Accounts
	sam, upn, err := adNames(spec.Login, a.UPNSuffix)
	if err != nil {
		return connectors.Account{}, err
	}
	password := spec.Password
	if password == "" {
		password = connectors.RandomPassword()
	}
	dn := "CN=" + goldap.EscapeDN(sam) + "," + a.Base
	uac := uacNormal | uacDisabled
	if spec.Activate {
		uac = uacNormal
	}
	req := goldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
	req.Attribute("sAMAccountName", []string{sam})
	if upn != "" {
		req.Attribute("userPrincipalName", []string{upn})
	}
	req.Attribute(a.MarkerAttr, []string{Marker})
	for attr, v := range map[string]string{"givenName": spec.GivenName, "sn": spec.Surname, "mail": spec.Email, "displayName": strings.TrimSpace(spec.GivenName + " " + spec.Surname)} {
		if v != "" {
			req.Attribute(attr, []string{v})
		}
	}
	req.Attribute("unicodePwd", []string{unicodePwd(password)})
	req.Attribute("userAccountControl", []string{strconv.Itoa(uac)})
	if !spec.Until.IsZero() {
		req.Attribute("accountExpires", []string{toFileTime(spec.Until)})
	}
	err = c.with(ctx, func(l *goldap.Conn) error { return l.Add(req) })
	if goldap.IsErrorAnyOf(err, goldap.LDAPResultEntryAlreadyExists, goldap.LDAPResultConstraintViolation, goldap.LDAPResultAttributeOrValueExists) {
		return connectors.Account{}, fmt.Errorf("ldap: create account %s: an account with this name exists: %w: %v", sam, connectors.ErrInvalid, err)
	}
	if err != nil {
		return connectors.Account{}, mapErr("create account "+dn, err)
	}
	e, err := c.readEntry(ctx, dn, []string{c.cfg.IDAttr})
	if err != nil {
		return connectors.Account{}, err
	}
	return connectors.Account{ID: c.entryID(e), Login: sam, Enabled: spec.Activate, PasswordSet: spec.Password != ""}, nil
}

// adNames derives sAMAccountName (at most 20 bytes, none of AD's forbidden
// characters) and userPrincipalName from a login.
func adNames(login, upnSuffix string) (sam, upn string, err error) {
	local, domain, hasAt := strings.Cut(login, "@")
	if local == "" {
		return "", "", fmt.Errorf("ldap: account login %q: empty name: %w", login, connectors.ErrInvalid)
	}
	if strings.ContainsAny(local, "\"/\\[]:;|=,+*?<>@ ") {
		return "", "", fmt.Errorf("ldap: account login %q: AD names cannot hold any of \"/\\[]:;|=,+*?<> or spaces: %w", login, connectors.ErrInvalid)
	}
	sam = local
	if len(sam) > maxSAMNameBytes {
		sam = sam[:maxSAMNameBytes]
	}
	switch {
	case hasAt && domain != "":
		upn = login
	case upnSuffix != "":
		upn = local + "@" + upnSuffix
	}
	return sam, upn, nil
}

// unicodePwd encodes a password as AD wants it: quoted, UTF-16LE.
func unicodePwd(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// readEntry reads one entry by DN.
func (c *Conn) readEntry(ctx context.Context, dn string, attrs []string) (*goldap.Entry, error) {
	var e *goldap.Entry
	err := c.with(ctx, func(l *goldap.Conn) error {
		res, err := l.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", attrs, nil))
		if err != nil {
			return mapErr("read "+dn, err)
		}
		if len(res.Entries) != 1 {
			return fmt.Errorf("ldap: read %s: %w", dn, connectors.ErrNotFound)
		}
		e = res.Entries[0]
		return nil
	})
	return e, err
}

// ownAccount finds an account by id and checks that jitd made it: under the
// accounts base and carrying the marker. A missing id is ErrNotFound.
func (c *Conn) ownAccount(ctx context.Context, id string) (*goldap.Entry, error) {
	a := c.cfg.Accounts
	if a == nil {
		return nil, fmt.Errorf("ldap: this directory has no accounts: configured: %w", connectors.ErrInvalid)
	}
	var found *goldap.Entry
	attrs := []string{c.cfg.IDAttr, a.MarkerAttr, "userAccountControl"}
	if c.cfg.DisabledAttr != "" {
		attrs = append(attrs, c.cfg.DisabledAttr)
	}
	err := c.byIDs(ctx, c.cfg.UserBase, c.cfg.UserFilter, []string{id}, attrs, func(e *goldap.Entry) error {
		found = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("ldap: account %s: %w", id, connectors.ErrNotFound)
	}
	under := strings.HasSuffix(normDN(found.DN), ","+normDN(a.Base))
	if !under || found.GetAttributeValue(a.MarkerAttr) != Marker {
		return nil, fmt.Errorf("ldap: %s was not created by jitd (no %s=%s under %s); jitd leaves it alone: %w", found.DN, a.MarkerAttr, Marker, a.Base, connectors.ErrPermission)
	}
	return found, nil
}

// SetAccountEnabled flips the disabled bit of userAccountControl (AD), or
// sets or clears disabled_attr (OpenLDAP).
func (c *Conn) SetAccountEnabled(ctx context.Context, id string, enabled bool) error {
	e, err := c.ownAccount(ctx, id)
	if err != nil {
		return err
	}
	return c.flavor.setAccountEnabled(ctx, e, enabled)
}

// setADAccountEnabled flips the disabled bit of an AD account's
// userAccountControl.
func (c *Conn) setADAccountEnabled(ctx context.Context, e *goldap.Entry, enabled bool) error {
	uac, err := strconv.Atoi(e.GetAttributeValue("userAccountControl"))
	if err != nil {
		return fmt.Errorf("ldap: %s has no readable userAccountControl: %w", e.DN, connectors.ErrInvalid)
	}
	want := uac &^ uacDisabled
	if !enabled {
		want = uac | uacDisabled
	}
	if want == uac {
		return nil
	}
	req := goldap.NewModifyRequest(e.DN, nil)
	req.Replace("userAccountControl", []string{strconv.Itoa(want)})
	if err := c.with(ctx, func(l *goldap.Conn) error { return l.Modify(req) }); err != nil {
		return mapErr("set userAccountControl of "+e.DN, err)
	}
	return nil
}

// SetAccountExpiry rewrites accountExpires (zero: never). OpenLDAP holds no
// end date: jitd's own queue is the only lock there.
func (c *Conn) SetAccountExpiry(ctx context.Context, id string, until time.Time) error {
	e, err := c.ownAccount(ctx, id)
	if err != nil {
		return err
	}
	return c.flavor.setAccountExpiry(ctx, e, until)
}

// setADAccountExpiry rewrites an AD account's accountExpires (zero: never).
func (c *Conn) setADAccountExpiry(ctx context.Context, e *goldap.Entry, until time.Time) error {
	v := "0"
	if !until.IsZero() {
		v = toFileTime(until)
	}
	req := goldap.NewModifyRequest(e.DN, nil)
	req.Replace("accountExpires", []string{v})
	if err := c.with(ctx, func(l *goldap.Conn) error { return l.Modify(req) }); err != nil {
		return mapErr("set accountExpires of "+e.DN, err)
	}
	return nil
}

// DeleteAccount deletes the account; a missing one is already deleted.
func (c *Conn) DeleteAccount(ctx context.Context, id string) error {
	e, err := c.ownAccount(ctx, id)
	if errors.Is(err, connectors.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	err = c.with(ctx, func(l *goldap.Conn) error { return l.Del(goldap.NewDelRequest(e.DN, nil)) })
	if err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return mapErr("delete "+e.DN, err)
	}
	return nil
}
