package ldap

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
)

const oidSyncRequest = "1.3.6.1.4.1.4203.1.9.1.1" // RFC 4533 syncrepl

var _ connectors.ChangeFeed = (*Conn)(nil)

// cursor is the feed's position: one syncrepl cookie per search base.
type cursor struct {
	Users  []byte `json:"u,omitempty"`
	Groups []byte `json:"g,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return c, fmt.Errorf("ldap: unreadable cursor: %w", connectors.ErrCursorExpired)
	}
	return c, nil
}

// Changes reports changes since cur with RFC 4533 syncrepl in refreshOnly
// mode: one search on the user base, then one on the group base, each with
// its own cookie. Deletions arrive as entryUUIDs (the server's session log).
// A server that would need the present phase, or refuses the cookie, gives
// ErrCursorExpired. Without syncrepl the feed can only take snapshots: every
// call reports everything and returns the empty cursor.
func (c *Conn) Changes(ctx context.Context, cur string, fn func(connectors.Change) error) (string, error) {
	if err := c.Check(ctx); err != nil {
		return "", err
	}
	c.mu.Lock()
	syncrepl := c.syncrepl
	c.mu.Unlock()
	if !syncrepl {
		return "", c.snapshot(ctx, fn)
	}
	var in cursor
	if cur != "" {
		var err error
		if in, err = decodeCursor(cur); err != nil {
			return "", err
		}
	}
	users, err := c.syncSearch(ctx, c.cfg.UserBase, c.cfg.UserFilter, c.userAttrs(), in.Users, 256, func(e *goldap.Entry) error {
		u := c.toUser(e)
		return fn(connectors.Change{Op: connectors.Upsert, User: &u})
	}, func(id string) error {
		return fn(connectors.Change{Op: connectors.Delete, User: &connectors.User{ID: id}})
	})
	if err != nil {
		return "", err
	}
	// Groups can carry tens of thousands of members each: read few ahead.
	groups, err := c.syncSearch(ctx, c.cfg.GroupBase, c.cfg.GroupFilter, c.groupAttrs(), in.Groups, 4, func(e *goldap.Entry) error {
		g := c.toGroup(e)
		return fn(connectors.Change{Op: connectors.Upsert, Group: &g, MemberRefs: c.memberRefs(e)})
	}, func(id string) error {
		return fn(connectors.Change{Op: connectors.Delete, Group: &connectors.Group{ID: id}})
	})
	if err != nil {
		return "", err
	}
	return cursor{Users: users, Groups: groups}.encode(), nil
}

// snapshot reports every user and group with paged searches.
func (c *Conn) snapshot(ctx context.Context, fn func(connectors.Change) error) error {
	err := c.page(ctx, c.cfg.UserBase, c.cfg.UserFilter, c.userAttrs(), func(e *goldap.Entry) error {
		u := c.toUser(e)
		return fn(connectors.Change{Op: connectors.Upsert, User: &u})
	})
	if err != nil {
		return err
	}
	return c.page(ctx, c.cfg.GroupBase, c.cfg.GroupFilter, c.groupAttrs(), func(e *goldap.Entry) error {
		g := c.toGroup(e)
		return fn(connectors.Change{Op: connectors.Upsert, Group: &g, MemberRefs: c.memberRefs(e)})
	})
}

func (c *Conn) groupAttrs() []string {
	return []string{c.cfg.IDAttr, c.cfg.GroupAttr, c.cfg.MemberAttr}
}

func (c *Conn) memberRefs(e *goldap.Entry) []string {
	var refs []string
	for _, m := range e.GetAttributeValues(c.cfg.MemberAttr) {
		if !c.isPlaceholder(m) {
			refs = append(refs, normDN(m))
		}
	}
	return refs
}

// syncSearch runs one refreshOnly syncrepl search and returns the new cookie
// (the old one when nothing changed). Deletions are relative to the search:
// an entry of the other kind that changed is reported as "deleted" here too,
// which is why each search may delete only its own kind of object.
func (c *Conn) syncSearch(ctx context.Context, base, filter string, attrs []string, cookie []byte, ahead int,
	upsert func(*goldap.Entry) error, del func(id string) error) ([]byte, error) {
	next := cookie
	// Deletions are reported after the search, less any entry the same
	// refresh also sent as present: slapd's session log records a renamed
	// entry as deleted although it is sent as changed too.
	var deleted []string
	sent := map[string]bool{}
	err := c.with(ctx, func(l *goldap.Conn) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		req := goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
		r := l.Syncrepl(ctx, req, ahead, goldap.SyncRequestModeRefreshOnly, cookie, false)
		for r.Next() {
			e := r.Entry()
			for _, ctl := range r.Controls() {
				switch x := ctl.(type) {
				case *goldap.ControlSyncState:
					switch x.State {
					case goldap.SyncStateAdd, goldap.SyncStateModify:
						if cookie != nil {
							sent[x.EntryUUID.String()] = true
						}
						if err := upsert(e); err != nil {
							return err
						}
					case goldap.SyncStateDelete:
						deleted = append(deleted, x.EntryUUID.String())
					case goldap.SyncStatePresent:
						if cookie != nil {
							return errPresentPhase
						}
					}
				case *goldap.ControlSyncInfo:
					if x.SyncIdSet != nil {
						if !x.SyncIdSet.RefreshDeletes {
							if cookie != nil {
								return errPresentPhase
							}
							continue
						}
						for _, id := range x.SyncIdSet.SyncUUIDs {
							deleted = append(deleted, id.String())
						}
					}
					if x.RefreshPresent != nil && cookie != nil {
						return errPresentPhase
					}
				case *goldap.ControlSyncDone:
					if cookie != nil && !x.RefreshDeletes {
						return errPresentPhase
					}
					if len(x.Cookie) > 0 {
						next = slices.Clone(x.Cookie)
					}
				}
			}
		}
		if err := r.Err(); err != nil {
			if goldap.IsErrorWithCode(err, goldap.LDAPResultSyncRefreshRequired) {
				return fmt.Errorf("ldap: syncrepl on %s: the server no longer knows the cookie: %w", base, connectors.ErrCursorExpired)
			}
			return mapErr("syncrepl on "+base, err)
		}
		for _, id := range deleted {
			if sent[id] {
				continue
			}
			if err := del(id); err != nil {
				return err
			}
		}
		return nil
	})
	return next, err
}

// errPresentPhase: the server answered a cookie with the present phase (it has
// no session log reaching back far enough). Reading it would mean holding every
// entry's id; a snapshot is as cheap and simpler.
var errPresentPhase = fmt.Errorf("ldap: syncrepl answered with the present phase (configure olcSpSessionlog on the server to sync incrementally): %w", connectors.ErrCursorExpired)
