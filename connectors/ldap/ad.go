package ldap

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// Active Directory specifics (flavor: ad).

const (
	oidInChain = "1.2.840.113556.1.4.1941" // LDAP_MATCHING_RULE_IN_CHAIN

	uacDisabled     = 0x0002
	uacNormal       = 0x0200
	accountsNever   = 9223372036854775807 // accountExpires: never
	fileTimeToUnix  = 116444736000000000  // 100 ns intervals from 1601 to 1970
	maxSAMNameBytes = 20
)

var adUserAttrs = []string{"userAccountControl", "accountExpires", "userPrincipalName"}

func (c *Conn) binaryID() bool { return strings.EqualFold(c.cfg.IDAttr, "objectGUID") }

// guidString formats an objectGUID the way AD tools show it: the first three
// fields are little-endian.
func guidString(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16])
}

// guidBytes parses guidString's form back into the 16 bytes of objectGUID.
func guidBytes(s string) ([]byte, bool) {
	if !uuidRE.MatchString(s) {
		return nil, false
	}
	raw, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil {
		return nil, false
	}
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[0:4], binary.BigEndian.Uint32(raw[0:4]))
	binary.LittleEndian.PutUint16(b[4:6], binary.BigEndian.Uint16(raw[4:6]))
	binary.LittleEndian.PutUint16(b[6:8], binary.BigEndian.Uint16(raw[6:8]))
	copy(b[8:], raw[8:])
	return b, true
}

// adEnabled reads userAccountControl and accountExpires: a disabled or
// expired account is not enabled.
func adEnabled(e *goldap.Entry, now time.Time) bool {
	if uac, err := strconv.ParseInt(e.GetAttributeValue("userAccountControl"), 10, 64); err == nil && uac&uacDisabled != 0 {
		return false
	}
	if t, ok := fromFileTime(e.GetAttributeValue("accountExpires")); ok && !now.Before(t) {
		return false
	}
	return true
}

// fromFileTime parses accountExpires; 0 and the maximum mean never.
func fromFileTime(v string) (time.Time, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n == 0 || n == accountsNever {
		return time.Time{}, false
	}
	return time.Unix(0, (n-fileTimeToUnix)*100).UTC(), true
}

func toFileTime(t time.Time) string {
	return strconv.FormatInt(t.UnixNano()/100+fileTimeToUnix, 10)
}

// memberValues returns the member values of an entry and, when the server
// sent only a range of them (member;range=0-1499), the attribute to ask for
// next; "" when the entry holds the last range or the whole attribute.
func (c *Conn) memberValues(e *goldap.Entry) (values []string, next string) {
	prefix := strings.ToLower(c.cfg.MemberAttr) + ";range="
	for _, a := range e.Attributes {
		name := strings.ToLower(a.Name)
		switch {
		case name == strings.ToLower(c.cfg.MemberAttr):
			values = append(values, a.Values...)
		case strings.HasPrefix(name, prefix):
			values = append(values, a.Values...)
			_, hi, ok := strings.Cut(name[len(prefix):], "-")
			if !ok || hi == "*" {
				continue
			}
			if n, err := strconv.Atoi(hi); err == nil {
				next = fmt.Sprintf("%s;range=%d-*", c.cfg.MemberAttr, n+1)
			}
		}
	}
	return values, next
}

// entryMembers returns every member of a group entry read by a search,
// fetching the remaining ranges when the server cut the attribute short.
func (c *Conn) entryMembers(ctx context.Context, e *goldap.Entry) ([]string, error) {
	values, next := c.memberValues(e)
	if next == "" {
		return values, nil
	}
	return c.members(ctx, e.DN)
}

// inChain reports whether userDN is a member of groupDN directly or through
// nested groups, with the server's transitive matching rule.
func (c *Conn) inChain(ctx context.Context, userDN, groupDN string) (bool, error) {
	var found bool
	err := c.with(ctx, func(l *goldap.Conn) error {
		filter := "(memberOf:" + oidInChain + ":=" + goldap.EscapeFilter(groupDN) + ")"
		res, err := l.Search(goldap.NewSearchRequest(userDN, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false, filter, []string{"1.1"}, nil))
		if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
			return nil
		}
		if err != nil {
			return mapErr("nested membership of "+userDN, err)
		}
		found = len(res.Entries) == 1
		return nil
	})
	return found, err
}
