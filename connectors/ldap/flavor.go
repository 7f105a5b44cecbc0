package ldap

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
)

// flavor is what differs between Active Directory and OpenLDAP: how a user
// is marked enabled, found by login and renamed, how a password is written,
// how a group's members are read and tested, and which attributes hold an
// entry's timestamps. A Conn holds one and asks it; nothing else asks which
// directory it speaks to.
type flavor interface {
	// userAttrs are the attributes read for a user beyond the configured ones.
	userAttrs() []string
	// enabled reports the directory's own disabled marks (AD's
	// userAccountControl and accountExpires); true where it has none.
	enabled(e *goldap.Entry, now time.Time) bool
	// enabledChange adds to req what enables or disables the user e.
	enabledChange(req *goldap.ModifyRequest, e *goldap.Entry, enabled bool) error
	// loginFilter finds a user by login.
	loginFilter(login string) string
	// memberRange is the member attribute as a read asks for it.
	memberRange(attr string) string
	// isMember reports whether the user udn is a member of the group gdn.
	isMember(ctx context.Context, udn, gdn string) (bool, error)
	// timestamps are the attributes holding when an entry was made and
	// last changed.
	timestamps() (created, modified string)
	// dnFilter matches the entry named dn, in a form the server answers
	// from its DN index, so that many DNs resolve in one OR search.
	dnFilter(dn string) string
	// setPassword adds the password to req, in the form the directory takes.
	setPassword(req *goldap.ModifyRequest, password string)
	// renamesRDN says whether a login held in the RDN moves the entry.
	renamesRDN() bool
	// renameUser adds a login change to req.
	renameUser(req *goldap.ModifyRequest, login string) error
	// newUser and newGroup are the add requests of provisioned entries.
	newUser(base string, spec connectors.EntrySpec, password string) (*goldap.AddRequest, error)
	newGroup(base, name string) *goldap.AddRequest
	// createAccount, setAccountEnabled and setAccountExpiry run contractor
	// accounts (setAccountExpiry does nothing where the directory holds no
	// end date).
	createAccount(ctx context.Context, spec connectors.AccountSpec) (connectors.Account, error)
	setAccountEnabled(ctx context.Context, e *goldap.Entry, enabled bool) error
	setAccountExpiry(ctx context.Context, e *goldap.Entry, until time.Time) error
	// changes reads the changes since a cursor (see Conn.Changes).
	changes(ctx context.Context, cur string, fn func(connectors.Change) error) (string, error)
	// schemaWrites are the attributes the flavour writes on its own account
	// (setting → attribute), for the schema check; schemaAdvice says what
	// to load into the directory to define attr.
	schemaWrites() map[string]string
	schemaAdvice(attr string) (string, bool)
}

// openLDAP is OpenLDAP (and other RFC 4519 directories): a disabled user
// carries disabled_attr, passwords are {SSHA}, membership is compared on
// the group.
type openLDAP struct{ c *Conn }

func (openLDAP) userAttrs() []string                   { return nil }
func (openLDAP) enabled(*goldap.Entry, time.Time) bool { return true }
func (openLDAP) memberRange(attr string) string        { return attr }
func (openLDAP) timestamps() (string, string)          { return "createTimestamp", "modifyTimestamp" }
func (openLDAP) renamesRDN() bool                      { return true }

// dnFilter: slapd answers entryDN's extensible match from its DN index.
func (openLDAP) dnFilter(dn string) string {
	return "(entryDN:distinguishedNameMatch:=" + goldap.EscapeFilter(dn) + ")"
}

func (f openLDAP) enabledChange(req *goldap.ModifyRequest, _ *goldap.Entry, enabled bool) error {
	if enabled {
		req.Delete(f.c.cfg.DisabledAttr, nil)
	} else {
		req.Replace(f.c.cfg.DisabledAttr, []string{f.c.disabledValue()})
	}
	return nil
}

func (f openLDAP) loginFilter(login string) string {
	return and(f.c.cfg.UserFilter, f.c.cfg.LoginAttr, login)
}

func (f openLDAP) isMember(ctx context.Context, udn, gdn string) (bool, error) {
	var member bool
	err := f.c.with(ctx, func(l *goldap.Conn) error {
		var err error
		member, err = l.Compare(gdn, f.c.cfg.MemberAttr, udn)
		if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchAttribute) {
			return nil
		}
		if err != nil {
			return mapErr("compare "+gdn, err)
		}
		return nil
	})
	return member, err
}

func (openLDAP) setPassword(req *goldap.ModifyRequest, password string) {
	req.Replace("userPassword", []string{ssha(password)})
}

func (f openLDAP) renameUser(req *goldap.ModifyRequest, login string) error {
	req.Replace(f.c.cfg.LoginAttr, []string{login})
	return nil
}

func (f openLDAP) newUser(base string, spec connectors.EntrySpec, password string) (*goldap.AddRequest, error) {
	return f.c.newPerson(base, spec, password)
}

func (f openLDAP) newGroup(base, name string) *goldap.AddRequest {
	return f.c.newGroupOfNames(base, name)
}

func (f openLDAP) createAccount(ctx context.Context, spec connectors.AccountSpec) (connectors.Account, error) {
	return f.c.createPerson(ctx, spec)
}

func (f openLDAP) setAccountEnabled(ctx context.Context, e *goldap.Entry, enabled bool) error {
	return f.c.setPersonEnabled(ctx, e, enabled)
}

// setAccountExpiry does nothing: OpenLDAP holds no end date, and jitd's
// own queue is the only lock there.
func (openLDAP) setAccountExpiry(context.Context, *goldap.Entry, time.Time) error { return nil }

func (f openLDAP) changes(ctx context.Context, cur string, fn func(connectors.Change) error) (string, error) {
	return f.c.syncChanges(ctx, cur, fn)
}

func (f openLDAP) schemaWrites() map[string]string {
	if f.c.cfg.DisabledAttr == "" {
		return nil
	}
	return map[string]string{"disabled_attr": f.c.cfg.DisabledAttr}
}

func (openLDAP) schemaAdvice(attr string) (string, bool) {
	advice, ok := overlays[strings.ToLower(attr)]
	return advice, ok
}

// activeDirectory is Active Directory (and Samba AD): userAccountControl
// and accountExpires, unicodePwd, either form of a user's name, ranged
// member reads, and membership through nested groups.
type activeDirectory struct{ c *Conn }

func (activeDirectory) userAttrs() []string                         { return adUserAttrs }
func (activeDirectory) enabled(e *goldap.Entry, now time.Time) bool { return adEnabled(e, now) }
func (activeDirectory) memberRange(attr string) string              { return attr + ";range=0-*" }
func (activeDirectory) timestamps() (string, string)                { return "whenCreated", "whenChanged" }
func (activeDirectory) renamesRDN() bool                            { return false }

// dnFilter: distinguishedName is indexed in AD.
func (activeDirectory) dnFilter(dn string) string {
	return "(distinguishedName=" + goldap.EscapeFilter(dn) + ")"
}

func (activeDirectory) enabledChange(req *goldap.ModifyRequest, e *goldap.Entry, enabled bool) error {
	uac, err := strconv.Atoi(e.GetEqualFoldAttributeValue("userAccountControl"))
	if err != nil {
		return fmt.Errorf("ldap: %s has no readable userAccountControl: %w", e.DN, connectors.ErrInvalid)
	}
	if enabled {
		uac &^= uacDisabled
	} else {
		uac |= uacDisabled
	}
	req.Replace("userAccountControl", []string{strconv.Itoa(uac)})
	return nil
}

func (f activeDirectory) loginFilter(login string) string {
	cfg := f.c.cfg
	if !strings.EqualFold(cfg.LoginAttr, "sAMAccountName") {
		return and(cfg.UserFilter, cfg.LoginAttr, login)
	}
	// People give either form of their AD name.
	return "(&" + cfg.UserFilter + "(|(sAMAccountName=" + goldap.EscapeFilter(login) + ")(userPrincipalName=" + goldap.EscapeFilter(login) + ")))"
}

func (f activeDirectory) isMember(ctx context.Context, udn, gdn string) (bool, error) {
	return f.c.inChain(ctx, udn, gdn)
}

func (activeDirectory) setPassword(req *goldap.ModifyRequest, password string) {
	req.Replace("unicodePwd", []string{unicodePwd(password)})
}

func (f activeDirectory) renameUser(req *goldap.ModifyRequest, login string) error {
	return f.c.renameADUser(req, login)
}

func (f activeDirectory) newUser(base string, spec connectors.EntrySpec, password string) (*goldap.AddRequest, error) {
	return f.c.newADUser(base, spec, password)
}

func (activeDirectory) newGroup(base, name string) *goldap.AddRequest { return newADGroup(base, name) }

func (f activeDirectory) createAccount(ctx context.Context, spec connectors.AccountSpec) (connectors.Account, error) {
	return f.c.createADAccount(ctx, spec)
}

func (f activeDirectory) setAccountEnabled(ctx context.Context, e *goldap.Entry, enabled bool) error {
	return f.c.setADAccountEnabled(ctx, e, enabled)
}

func (f activeDirectory) setAccountExpiry(ctx context.Context, e *goldap.Entry, until time.Time) error {
	return f.c.setADAccountExpiry(ctx, e, until)
}

func (f activeDirectory) changes(ctx context.Context, cur string, fn func(connectors.Change) error) (string, error) {
	return f.c.adChanges(ctx, cur, fn)
}

// schemaWrites is empty: AD marks a disabled user in userAccountControl,
// which every AD schema defines.
func (activeDirectory) schemaWrites() map[string]string    { return nil }
func (activeDirectory) schemaAdvice(string) (string, bool) { return "", false }

// flavorOf returns the flavour cfg names.
func flavorOf(c *Conn) flavor {
	if c.cfg.ad() {
		return activeDirectory{c}
	}
	return openLDAP{c}
}
