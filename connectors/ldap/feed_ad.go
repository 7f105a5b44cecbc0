package ldap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
)

// The Active Directory change feed. With DirSync (the server offers it and
// the bind account holds "Replicating Directory Changes") the domain reports
// every object changed since a cookie, deletions included. Otherwise the
// feed polls uSNChanged, which is per domain controller, and finds deletions
// among the tombstones with the show-deleted control (the bind account must
// be able to list CN=Deleted Objects). Either way, a changed object is read
// afresh, in full, under the configured bases: DirSync sends only the
// attributes that changed, and an object that left the bases is reported as
// deleted.

const (
	oidDirSync     = goldap.ControlTypeDirSync
	oidShowDeleted = "1.2.840.113556.1.4.417"
)

// rootDSE is what the AD feed needs from the root DSE.
type rootDSE struct {
	nc      string // defaultNamingContext
	server  string // dsServiceName: which DC the uSNs belong to
	usn     int64  // highestCommittedUSN
	dirSync bool
}

func (c *Conn) readRootDSE(ctx context.Context) (rootDSE, error) {
	var r rootDSE
	err := c.with(ctx, func(l *goldap.Conn) error {
		res, err := l.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{"defaultNamingContext", "dsServiceName", "highestCommittedUSN", "supportedControl"}, nil))
		if err != nil {
			return mapErr("read root DSE", err)
		}
		if len(res.Entries) != 1 {
			return fmt.Errorf("ldap: root DSE unreadable: %w", connectors.ErrUnavailable)
		}
		e := res.Entries[0]
		r.nc, r.server = e.GetAttributeValue("defaultNamingContext"), e.GetAttributeValue("dsServiceName")
		r.usn, err = strconv.ParseInt(e.GetAttributeValue("highestCommittedUSN"), 10, 64)
		if err != nil || r.nc == "" {
			return fmt.Errorf("ldap: the server's root DSE has no defaultNamingContext or highestCommittedUSN; is it Active Directory? (flavor: ad): %w", connectors.ErrInvalid)
		}
		r.dirSync = slices.Contains(e.GetAttributeValues("supportedControl"), oidDirSync)
		return nil
	})
	return r, err
}

// adChanges is Changes for flavor: ad.
func (c *Conn) adChanges(ctx context.Context, cur string, fn func(connectors.Change) error) (string, error) {
	root, err := c.readRootDSE(ctx)
	if err != nil {
		return "", err
	}
	if cur == "" {
		return c.adSnapshot(ctx, root, fn)
	}
	in, err := decodeCursor(cur)
	if err != nil {
		return "", err
	}
	var changed, deleted []adObject
	switch {
	case in.DirSync != nil:
		if !root.dirSync {
			return "", fmt.Errorf("ldap: a DirSync cursor, but the server no longer offers DirSync: %w", connectors.ErrCursorExpired)
		}
		changed, deleted, in.DirSync, err = c.dirSync(ctx, root.nc, in.DirSync)
		if err != nil {
			return "", err
		}
	case in.Server != "":
		if in.Server != root.server {
			return "", fmt.Errorf("ldap: the cursor counts changes on %s, but this is %s (uSNs are per domain controller): %w", in.Server, root.server, connectors.ErrCursorExpired)
		}
		changed, deleted, err = c.usnChanges(ctx, root.nc, in.USN)
		if err != nil {
			return "", err
		}
		in.USN = root.usn
	default:
		return "", fmt.Errorf("ldap: not an Active Directory cursor: %w", connectors.ErrCursorExpired)
	}
	if err := c.emitChanged(ctx, root.nc, changed, fn); err != nil {
		return "", err
	}
	for _, o := range deleted {
		// A tombstone whose kind is unknown is reported as both: deleting an
		// id the mirror does not hold changes nothing.
		if o.kind != kindGroup {
			if err := fn(deleteChange(o.id, false)); err != nil {
				return "", err
			}
		}
		if o.kind != kindUser {
			if err := fn(deleteChange(o.id, true)); err != nil {
				return "", err
			}
		}
	}
	return in.encode(), nil
}

// adSnapshot lists everything, having first taken the position to continue
// from, so a change made during the listing is seen again, never missed.
func (c *Conn) adSnapshot(ctx context.Context, root rootDSE, fn func(connectors.Change) error) (string, error) {
	out := cursor{Server: root.server, USN: root.usn}
	if c.cfg.ADFeed == "dirsync" && !root.dirSync {
		return "", fmt.Errorf("ldap: ad_feed: dirsync, but the server does not offer DirSync; use ad_feed: usn: %w", connectors.ErrInvalid)
	}
	if root.dirSync && c.cfg.ADFeed != "usn" {
		cookie, err := c.dirSyncPosition(ctx, root.nc)
		switch {
		case err == nil:
			out = cursor{DirSync: cookie}
		case errors.Is(err, connectors.ErrPermission) && c.cfg.ADFeed != "dirsync":
			// The bind account may not replicate changes: poll uSNChanged.
		default:
			return "", err
		}
	}
	err := c.page(ctx, c.cfg.UserBase, c.cfg.UserFilter, c.userAttrs(), func(e *goldap.Entry) error {
		u := c.toUser(e)
		return fn(connectors.Change{Op: connectors.Upsert, User: &u})
	})
	if err != nil {
		return "", err
	}
	err = c.page(ctx, c.cfg.GroupBase, c.cfg.GroupFilter, c.groupAttrs(), func(e *goldap.Entry) error {
		return c.emitGroup(ctx, e, fn)
	})
	if err != nil {
		return "", err
	}
	return out.encode(), nil
}

func (c *Conn) emitGroup(ctx context.Context, e *goldap.Entry, fn func(connectors.Change) error) error {
	members, err := c.entryMembers(ctx, e)
	if err != nil {
		return err
	}
	g := c.toGroup(e)
	refs := make([]string, 0, len(members))
	for _, m := range members {
		if !c.isPlaceholder(m) {
			refs = append(refs, normDN(m))
		}
	}
	return fn(connectors.Change{Op: connectors.Upsert, Group: &g, MemberRefs: refs})
}

// adObject is a changed or deleted object: its id and, when known, whether
// it is a group. DirSync leaves objectClass out of a changed object's
// attributes when it did not change, so the kind may be unknown.
type adObject struct {
	id   string
	kind objectKind
}

type objectKind int

const (
	kindUnknown objectKind = iota
	kindUser
	kindGroup
)

// classify reads an entry's id and kind; false for objects that are neither
// users nor groups (computers, contacts).
func (c *Conn) classify(e *goldap.Entry) (adObject, bool) {
	o := adObject{id: c.entryID(e), kind: kindOf(e.GetAttributeValues("objectClass"))}
	if o.id == "" {
		return o, false
	}
	if len(e.GetAttributeValues("objectClass")) > 0 && o.kind == kindUnknown {
		return o, false
	}
	return o, true
}

func kindOf(classes []string) objectKind {
	has := func(name string) bool {
		return slices.ContainsFunc(classes, func(v string) bool { return strings.EqualFold(v, name) })
	}
	switch {
	case has("group"):
		return kindGroup
	case has("user") && !has("computer"):
		return kindUser
	}
	return kindUnknown
}

func deleteChange(id string, group bool) connectors.Change {
	if group {
		return connectors.Change{Op: connectors.Delete, Group: &connectors.Group{ID: id}}
	}
	return connectors.Change{Op: connectors.Delete, User: &connectors.User{ID: id}}
}

// emitChanged reads changed objects afresh under the configured bases: users
// first, so their groups' member references resolve. One that is no longer
// there (moved out, or no longer matching the filter) is reported deleted.
func (c *Conn) emitChanged(ctx context.Context, nc string, changed []adObject, fn func(connectors.Change) error) error {
	var users, groups []string
	for _, o := range changed {
		if o.kind != kindGroup {
			users = append(users, o.id)
		}
		if o.kind != kindUser {
			groups = append(groups, o.id)
		}
	}
	seen := map[string]bool{}
	err := c.byIDs(ctx, c.cfg.UserBase, c.cfg.UserFilter, users, c.userAttrs(), func(e *goldap.Entry) error {
		u := c.toUser(e)
		seen[u.ID] = true
		return fn(connectors.Change{Op: connectors.Upsert, User: &u})
	})
	if err != nil {
		return err
	}
	err = c.byIDs(ctx, c.cfg.GroupBase, c.cfg.GroupFilter, groups, c.groupAttrs(), func(e *goldap.Entry) error {
		seen[c.entryID(e)] = true
		return c.emitGroup(ctx, e, fn)
	})
	if err != nil {
		return err
	}
	var unknown []string
	for _, o := range changed {
		switch {
		case seen[o.id]:
		case o.kind == kindUnknown:
			unknown = append(unknown, o.id)
		default:
			if err := fn(deleteChange(o.id, o.kind == kindGroup)); err != nil {
				return err
			}
		}
	}
	// Out of scope now, and of unknown kind: ask what they are, and report
	// users and groups among them as deleted.
	return c.byIDs(ctx, nc, "(objectClass=*)", unknown, []string{c.cfg.IDAttr, "objectClass"}, func(e *goldap.Entry) error {
		if k := kindOf(e.GetAttributeValues("objectClass")); k != kindUnknown {
			return fn(deleteChange(c.entryID(e), k == kindGroup))
		}
		return nil
	})
}

// dirSyncFilter matches users and groups, tombstones included (a tombstone
// keeps objectClass but loses objectCategory).
const dirSyncFilter = "(|(objectClass=user)(objectClass=group))"

// dirSyncPosition pages through DirSync from the start, keeping only the
// final cookie: the position a snapshot continues from.
func (c *Conn) dirSyncPosition(ctx context.Context, nc string) ([]byte, error) {
	_, _, cookie, err := c.dirSyncRun(ctx, nc, nil, false)
	return cookie, err
}

func (c *Conn) dirSync(ctx context.Context, nc string, cookie []byte) (changed, deleted []adObject, next []byte, err error) {
	return c.dirSyncRun(ctx, nc, cookie, true)
}

// dirSyncRun reads DirSync pages from cookie until the server has no more.
func (c *Conn) dirSyncRun(ctx context.Context, nc string, cookie []byte, collect bool) (changed, deleted []adObject, next []byte, err error) {
	next = cookie
	seen := map[string]bool{}
	attrs := slices.Concat([]string{"objectClass", "isDeleted"}, c.userAttrs(), c.groupAttrs())
	slices.Sort(attrs)
	attrs = slices.Compact(attrs)
	err = c.with(ctx, func(l *goldap.Conn) error {
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			// An object is reported when an attribute asked for changed: ask
			// for every one the mirror holds.
			req := goldap.NewSearchRequest(nc, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, dirSyncFilter, attrs, nil)
			// Member changes are linked-value changes: they are reported only
			// when member is asked for, and with incremental values only the
			// changed values travel, not a 50,000-member list.
			res, err := l.DirSync(req, goldap.DirSyncIncrementalValues, 0, next)
			if err != nil {
				if goldap.IsErrorAnyOf(err, goldap.LDAPResultInsufficientAccessRights, goldap.LDAPResultUnwillingToPerform) && next == nil {
					return fmt.Errorf("ldap: DirSync on %s refused (grant the bind account \"Replicating Directory Changes\" to use it): %w: %v", nc, connectors.ErrPermission, err)
				}
				if goldap.IsErrorAnyOf(err, goldap.LDAPResultProtocolError, goldap.LDAPResultOther, goldap.LDAPResultUnwillingToPerform) && next != nil {
					return fmt.Errorf("ldap: DirSync refused the cookie: %w: %v", connectors.ErrCursorExpired, err)
				}
				return mapErr("dirsync on "+nc, err)
			}
			for _, e := range res.Entries {
				if !collect {
					continue
				}
				o, ok := c.classify(e)
				if !ok || seen[o.id] {
					continue
				}
				seen[o.id] = true
				if strings.EqualFold(e.GetAttributeValue("isDeleted"), "TRUE") {
					deleted = append(deleted, o)
				} else {
					changed = append(changed, o)
				}
			}
			ctl, _ := goldap.FindControl(res.Controls, oidDirSync).(*goldap.ControlDirSync)
			if ctl == nil {
				return fmt.Errorf("ldap: DirSync answer without its control: %w", connectors.ErrUnavailable)
			}
			if len(ctl.Cookie) > 0 {
				next = slices.Clone(ctl.Cookie)
			}
			if ctl.Flags == 0 { // no more data
				return nil
			}
		}
	})
	return changed, deleted, next, err
}

// usnChanges finds objects changed after usn: live ones under the bases, and
// tombstones anywhere in the domain.
func (c *Conn) usnChanges(ctx context.Context, nc string, usn int64) (changed, deleted []adObject, err error) {
	since := "(uSNChanged>=" + strconv.FormatInt(usn+1, 10) + ")"
	collect := func(e *goldap.Entry) error {
		if o, ok := c.classify(e); ok {
			changed = append(changed, o)
		}
		return nil
	}
	attrs := []string{c.cfg.IDAttr, "objectClass"}
	if err := c.page(ctx, c.cfg.UserBase, "(&"+c.cfg.UserFilter+since+")", attrs, collect); err != nil {
		return nil, nil, err
	}
	if err := c.page(ctx, c.cfg.GroupBase, "(&"+c.cfg.GroupFilter+since+")", attrs, collect); err != nil {
		return nil, nil, err
	}
	err = c.with(ctx, func(l *goldap.Conn) error {
		req := goldap.NewSearchRequest(nc, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
			"(&(isDeleted=TRUE)"+dirSyncFilter+since+")", attrs, []goldap.Control{goldap.NewControlString(oidShowDeleted, true, "")})
		res, err := l.SearchWithPaging(req, uint32(c.cfg.PageSize))
		if err != nil {
			return mapErr("search deleted objects", err)
		}
		for _, e := range res.Entries {
			if o, ok := c.classify(e); ok {
				deleted = append(deleted, o)
			}
		}
		return nil
	})
	return changed, deleted, err
}
