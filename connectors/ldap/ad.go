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

	"github.com/jitd/jitd/connectors"
)

// Active Directory specifics (flavor: ad).

const (
	oidInChain = "1.2.840.113556.1.4.1941" // LDAP_MATCHING_RULE_IN_CHAIN
	oidLinkTTL = "1.2.840.113556.1.4.2309" // LDAP_SERVER_LINK_TTL_OID: the forest has time-bound links

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

var _ connectors.ExpiringMembershipManager = (*Conn)(nil)

// checkLinkTTL refuses native_ttl on DCs that cannot expire a link.
func (c *Conn) checkLinkTTL() error {
	c.mu.Lock()
	offered := c.linkTTL
	c.mu.Unlock()
	if c.cfg.NativeTTL && !offered {
		return fmt.Errorf("ldap: native_ttl: the server does not offer time-bound membership (control %s; Windows Server 2016+ forest functional level with the Privileged Access Management feature enabled); remove native_ttl, jitd removes memberships itself either way: %w", oidLinkTTL, connectors.ErrInvalid)
	}
	return nil
}

// ttlValue is a member value the DC removes by itself after ttl: AD's
// "<TTL=seconds>,DN" form.
func ttlValue(dn string, ttl time.Duration) string {
	secs := int64((ttl + time.Second - 1) / time.Second)
	return "<TTL=" + strconv.FormatInt(max(secs, 1), 10) + ">," + dn
}

// AddMembersUntil adds users to a group with a time to live ending at until.
// A user who is already a member gets the new end: their value is deleted
// and added back with its TTL in the same modify, so the membership never
// lapses in between.
func (c *Conn) AddMembersUntil(ctx context.Context, groupID string, userIDs []string, until time.Time) ([]connectors.MemberResult, error) {
	if !c.cfg.NativeTTL {
		return nil, fmt.Errorf("ldap: native_ttl is not configured: %w", connectors.ErrInvalid)
	}
	if err := c.Check(ctx); err != nil {
		return nil, err
	}
	ttl := time.Until(until)
	if ttl <= 0 {
		return nil, fmt.Errorf("ldap: membership end %s is in the past: %w", until.UTC().Format(time.RFC3339), connectors.ErrInvalid)
	}
	gdn, udns, err := c.resolve(ctx, groupID, userIDs)
	if err != nil {
		return nil, err
	}
	results, values := memberValues(userIDs, udns)
	if len(values) == 0 {
		return results, nil
	}
	op := "add time-bound members to " + gdn
	const attempts = 4 // concurrent writers can move the group between read and write
	for range attempts {
		current, err := c.members(ctx, gdn)
		if err != nil {
			return nil, err
		}
		present := map[string]bool{}
		for _, m := range current {
			present[normDN(m)] = true
		}
		req := goldap.NewModifyRequest(gdn, nil)
		var again, timed []string
		for _, v := range values {
			if present[normDN(v)] {
				again = append(again, v)
			}
			timed = append(timed, ttlValue(v, ttl))
		}
		if len(again) > 0 {
			req.Delete(c.cfg.MemberAttr, again)
		}
		req.Add(c.cfg.MemberAttr, timed)
		err = c.with(ctx, func(l *goldap.Conn) error { return l.Modify(req) })
		switch {
		case err == nil:
			return results, nil
		case !alreadySo(err, true) && !alreadySo(err, false):
			return nil, mapErr(op, err)
		}
	}
	return nil, fmt.Errorf("ldap: %s: group kept changing under us: %w", op, connectors.ErrUnavailable)
}
