package ldap

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
)

// lockedForever is ppolicy's pwdAccountLockedTime for "locked until an
// administrator unlocks".
const lockedForever = "000001010000Z"

// disabledValue is what disabled_attr is set to on a disabled account.
func (c *Conn) disabledValue() string {
	if c.cfg.DisabledValue != "" {
		return c.cfg.DisabledValue
	}
	return lockedForever
}

// createPerson creates an OpenLDAP account: an inetOrgPerson named by uid
// under accounts.base.
func (c *Conn) createPerson(ctx context.Context, spec connectors.AccountSpec) (connectors.Account, error) {
	a := c.cfg.Accounts
	login := strings.TrimSpace(spec.Login)
	if err := validName(connectors.UserEntry, login); err != nil {
		return connectors.Account{}, err
	}
	password := spec.Password
	if password == "" {
		password = connectors.RandomPassword()
	}
	dn := c.cfg.LoginAttr + "=" + goldap.EscapeDN(login) + "," + a.Base
	name := strings.TrimSpace(spec.GivenName + " " + spec.Surname)
	if name == "" {
		name = login
	}
	sn := spec.Surname
	if sn == "" {
		sn = login
	}
	req := goldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson"})
	req.Attribute(c.cfg.LoginAttr, []string{login})
	req.Attribute("cn", []string{name})
	req.Attribute("sn", []string{sn})
	req.Attribute("displayName", []string{name})
	req.Attribute(a.MarkerAttr, []string{Marker})
	if spec.GivenName != "" {
		req.Attribute("givenName", []string{spec.GivenName})
	}
	if spec.Email != "" {
		req.Attribute("mail", []string{spec.Email})
	}
	req.Attribute("userPassword", []string{ssha(password)})
	if !spec.Activate {
		req.Attribute(c.cfg.DisabledAttr, []string{c.disabledValue()})
	}
	err := c.with(ctx, func(l *goldap.Conn) error { return l.Add(req) })
	if goldap.IsErrorAnyOf(err, goldap.LDAPResultEntryAlreadyExists) {
		return connectors.Account{}, fmt.Errorf("ldap: create account %s: an entry with this name exists: %w: %v", dn, connectors.ErrInvalid, err)
	}
	if err != nil {
		return connectors.Account{}, mapErr("create account "+dn, err)
	}
	e, err := c.readEntry(ctx, dn, []string{c.cfg.IDAttr})
	if err != nil {
		return connectors.Account{}, err
	}
	return connectors.Account{ID: c.entryID(e), Login: login, Enabled: spec.Activate, PasswordSet: true}, nil
}

// ssha is RFC 2307's salted SHA-1 password form, which every slapd checks
// without extra modules: the cleartext never reaches the directory's disk.
func ssha(password string) string {
	salt := make([]byte, 8)
	rand.Read(salt)
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// setPersonEnabled clears or sets disabled_attr.
func (c *Conn) setPersonEnabled(ctx context.Context, e *goldap.Entry, enabled bool) error {
	has := len(e.GetAttributeValues(c.cfg.DisabledAttr)) > 0
	if enabled == !has {
		return nil
	}
	req := goldap.NewModifyRequest(e.DN, nil)
	if enabled {
		req.Delete(c.cfg.DisabledAttr, nil)
	} else {
		req.Replace(c.cfg.DisabledAttr, []string{c.disabledValue()})
	}
	err := c.with(ctx, func(l *goldap.Conn) error { return l.Modify(req) })
	if enabled && goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchAttribute) {
		return nil
	}
	if err != nil {
		return mapErr("set "+c.cfg.DisabledAttr+" of "+e.DN, err)
	}
	return nil
}
