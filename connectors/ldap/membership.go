package ldap

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
)

// AddMembers adds users to a group in one modify.
func (c *Conn) AddMembers(ctx context.Context, groupID string, userIDs []string) ([]connectors.MemberResult, error) {
	return c.changeMembers(ctx, groupID, userIDs, true)
}

// RemoveMembers removes users from a group in one modify.
func (c *Conn) RemoveMembers(ctx context.Context, groupID string, userIDs []string) ([]connectors.MemberResult, error) {
	return c.changeMembers(ctx, groupID, userIDs, false)
}

func (c *Conn) changeMembers(ctx context.Context, groupID string, userIDs []string, add bool) ([]connectors.MemberResult, error) {
	gdn, udns, err := c.resolve(ctx, groupID, userIDs)
	if err != nil {
		return nil, err
	}
	results, values := memberValues(userIDs, udns)
	if len(values) == 0 {
		return results, nil
	}
	if err := c.modifyMembers(ctx, gdn, values, add); err != nil {
		return nil, err
	}
	return results, nil
}

// resolve finds the current DNs of a group and of users by id. When the
// group and user bases lie under one entry, the group is found by the same
// search as the first hundred users: one round trip to the directory per
// call instead of two. Entries outside their base do not count.
func (c *Conn) resolve(ctx context.Context, groupID string, userIDs []string) (string, map[string]string, error) {
	base := c.base
	gItem, ok := c.idFilter(groupID)
	if base == "" || !ok || slices.ContainsFunc(userIDs, func(id string) bool { return strings.EqualFold(id, groupID) }) {
		gdn, err := c.groupDN(ctx, groupID)
		if err != nil {
			return "", nil, err
		}
		udns, err := c.dns(ctx, c.cfg.UserBase, c.cfg.UserFilter, userIDs)
		return gdn, udns, err
	}
	var first, rest []string
	var items strings.Builder
	for _, id := range userIDs {
		item, ok := c.idFilter(id)
		switch {
		case !ok:
		case len(first) < idsPerSearch:
			first = append(first, id)
			items.WriteString(item)
		default:
			rest = append(rest, id)
		}
	}
	filter := "(&" + c.cfg.GroupFilter + gItem + ")"
	if len(first) > 0 {
		filter = "(|" + filter + "(&" + c.cfg.UserFilter + "(|" + items.String() + ")))"
	}
	groupBase, userBase := ","+normDN(c.cfg.GroupBase), ","+normDN(c.cfg.UserBase)
	gdn, udns := "", map[string]string{}
	err := c.page(ctx, base, filter, []string{c.cfg.IDAttr}, func(e *goldap.Entry) error {
		id, dn := c.entryID(e), normDN(e.DN)
		switch {
		case strings.EqualFold(id, groupID):
			if strings.HasSuffix(dn, groupBase) {
				gdn = e.DN
			}
		case strings.HasSuffix(dn, userBase):
			udns[id] = e.DN
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	if gdn == "" {
		return "", nil, fmt.Errorf("ldap: group %s: %w", groupID, connectors.ErrNotFound)
	}
	more, err := c.dns(ctx, c.cfg.UserBase, c.cfg.UserFilter, rest)
	maps.Copy(udns, more)
	return gdn, udns, err
}

// commonBase returns the nearest entry that both DNs are under or are, or
// "" when they share none.
func commonBase(a, b string) string {
	da, errA := goldap.ParseDN(a)
	db, errB := goldap.ParseDN(b)
	if errA != nil || errB != nil {
		return ""
	}
	n := 0
	for n < len(da.RDNs) && n < len(db.RDNs) && da.RDNs[len(da.RDNs)-1-n].EqualFold(db.RDNs[len(db.RDNs)-1-n]) {
		n++
	}
	if n == 0 {
		return ""
	}
	return (&goldap.DN{RDNs: da.RDNs[len(da.RDNs)-n:]}).String()
}

// memberValues gives each user id a result (ErrNotFound for ids with no
// DN) and returns the distinct DNs to change.
func memberValues(userIDs []string, udns map[string]string) ([]connectors.MemberResult, []string) {
	results := make([]connectors.MemberResult, len(userIDs))
	var values []string
	seen := map[string]bool{}
	for i, id := range userIDs {
		results[i].UserID = id
		dn, ok := udns[id]
		if !ok {
			results[i].Err = fmt.Errorf("ldap: user %s: %w", id, connectors.ErrNotFound)
			continue
		}
		if key := normDN(dn); !seen[key] {
			seen[key] = true
			values = append(values, dn)
		}
	}
	return results, values
}

// alreadySo reports whether a modify failed because some values were already
// in the wanted state: slapd says 20/16, Samba 68/53 (see NOTES.md).
func alreadySo(err error, add bool) bool {
	if add {
		return goldap.IsErrorAnyOf(err, goldap.LDAPResultAttributeOrValueExists, goldap.LDAPResultEntryAlreadyExists, goldap.LDAPResultUnwillingToPerform)
	}
	return goldap.IsErrorAnyOf(err, goldap.LDAPResultNoSuchAttribute, goldap.LDAPResultUnwillingToPerform)
}

// modifyMembers adds or deletes member values in one modify. When the server
// refuses because some values are already in the wanted state, it re-reads the
// group and retries with the values that still need changing.
func (c *Conn) modifyMembers(ctx context.Context, gdn string, values []string, add bool) error {
	op := "remove members from " + gdn
	if add {
		op = "add members to " + gdn
	}
	const attempts = 4 // concurrent writers can move the group between read and write
	for range attempts {
		err := c.modify(ctx, gdn, values, add, false)
		switch {
		case err == nil:
			return nil
		case !add && goldap.IsErrorWithCode(err, goldap.LDAPResultObjectClassViolation):
			// The group's class requires a member and we removed the last one.
			if c.cfg.EmptyMember == "" {
				return fmt.Errorf("ldap: %s: removing the last members would leave the group empty, which its object class forbids; set empty_member to a placeholder DN: %w", op, connectors.ErrInvalid)
			}
			err = c.modify(ctx, gdn, values, add, true)
			if err == nil {
				return nil
			}
			if !alreadySo(err, add) && !goldap.IsErrorWithCode(err, goldap.LDAPResultAttributeOrValueExists) {
				return mapErr(op, err)
			}
		case !alreadySo(err, add):
			return mapErr(op, err)
		}
		current, err := c.members(ctx, gdn)
		if err != nil {
			return err
		}
		present := map[string]bool{}
		for _, m := range current {
			present[normDN(m)] = true
		}
		var still []string
		for _, v := range values {
			if present[normDN(v)] != add {
				still = append(still, v)
			}
		}
		if len(still) == 0 {
			return nil
		}
		values = still
	}
	return fmt.Errorf("ldap: %s: group kept changing under us: %w", op, connectors.ErrUnavailable)
}

// modify sends one modify of the member attribute. withPlaceholder also adds
// the placeholder member in the same operation, so the group is never empty.
func (c *Conn) modify(ctx context.Context, gdn string, values []string, add, withPlaceholder bool) error {
	c.mu.Lock()
	permissive := c.permissive
	c.mu.Unlock()
	var controls []goldap.Control
	if permissive {
		// Non-critical on purpose: servers that ignore it still apply the change.
		controls = append(controls, goldap.NewControlString(oidPermissiveModify, false, ""))
	}
	req := goldap.NewModifyRequest(gdn, controls)
	if withPlaceholder {
		req.Add(c.cfg.MemberAttr, []string{c.cfg.EmptyMember})
	}
	if add {
		req.Add(c.cfg.MemberAttr, values)
	} else {
		req.Delete(c.cfg.MemberAttr, values)
	}
	return c.with(ctx, func(l *goldap.Conn) error {
		err := l.Modify(req)
		if err != nil && goldap.IsErrorAnyOf(err, goldap.ErrorNetwork, goldap.LDAPResultServerDown, goldap.LDAPResultTimeout) {
			return mapErr("modify "+gdn, err)
		}
		return err
	})
}

// normDN returns a comparable form of a DN: attribute types and values
// lower-cased, escaping normalised by the parser.
func normDN(dn string) string {
	parsed, err := goldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(dn)
	}
	var b strings.Builder
	for i, rdn := range parsed.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, a := range rdn.Attributes {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(strings.ToLower(a.Type))
			b.WriteByte('=')
			b.WriteString(strings.ToLower(a.Value))
		}
	}
	return b.String()
}
