package ldap

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
)

const oidSyncRequest = "1.3.6.1.4.1.4203.1.9.1.1" // RFC 4533 syncrepl

var _ connectors.ChangeFeed = (*Conn)(nil)

// cursor is the feed's position: one syncrepl cookie per search base, or,
// when polling, the server time to poll from and when the next deletion
// sweep (a full sync) is due.
type cursor struct {
	Users  []byte `json:"u,omitempty"`
	Groups []byte `json:"g,omitempty"`
	Since  string `json:"t,omitempty"` // generalizedTime, server clock
	Sweep  int64  `json:"s,omitempty"` // unix seconds, our clock: when the next full sync is due
	// Active Directory: a DirSync cookie, or a uSN on one domain controller.
	DirSync []byte `json:"d,omitempty"`
	USN     int64  `json:"n,omitempty"`
	Server  string `json:"dc,omitempty"`
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
// ErrCursorExpired. Without syncrepl the feed polls modifyTimestamp (see poll).
func (c *Conn) Changes(ctx context.Context, cur string, fn func(connectors.Change) error) (string, error) {
	return c.flavor.changes(ctx, cur, fn)
}

// syncChanges reads OpenLDAP's changes: RFC 4533 sync where the server
// offers it, else a poll of modifyTimestamp.
func (c *Conn) syncChanges(ctx context.Context, cur string, fn func(connectors.Change) error) (string, error) {
	if err := c.Check(ctx); err != nil {
		return "", err
	}
	c.mu.Lock()
	syncrepl := c.syncrepl
	c.mu.Unlock()
	var in cursor
	if cur != "" {
		var err error
		if in, err = decodeCursor(cur); err != nil {
			return "", err
		}
	}
	if !syncrepl {
		return c.poll(ctx, cur == "", in, fn)
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
	// Groups can carry hundreds of thousands of members each, and go-ldap
	// holds up to a dozen entries it has read ahead, at several hundred
	// bytes a member value: a full read streams the groups without their
	// members and reads each group's members on its own (one group in
	// memory at a time, not the next dozen largest). Changes, which are
	// few, come with their members.
	attrs, full := c.groupAttrs(), in.Groups == nil
	var side memberReader
	defer side.close()
	if full {
		attrs = slices.DeleteFunc(slices.Clone(attrs), func(a string) bool { return strings.EqualFold(a, c.cfg.MemberAttr) })
		side.c = c
	}
	groups, err := c.syncSearch(ctx, c.cfg.GroupBase, c.cfg.GroupFilter, attrs, in.Groups, 4, func(e *goldap.Entry) error {
		g := c.toGroup(e)
		refs := c.memberRefs(e)
		if full {
			var err error
			if refs, err = side.refs(ctx, e.DN); errors.Is(err, connectors.ErrNotFound) {
				return nil // deleted since: the full sync sweeps it
			} else if err != nil {
				return err
			}
		}
		return fn(connectors.Change{Op: connectors.Upsert, Group: &g, MemberRefs: refs})
	}, func(id string) error {
		return fn(connectors.Change{Op: connectors.Delete, Group: &connectors.Group{ID: id}})
	})
	if err != nil {
		return "", err
	}
	return cursor{Users: users, Groups: groups}.encode(), nil
}

// poll is the feed for servers without syncrepl: a snapshot, then entries
// whose modifyTimestamp is at or after the cursor. The cursor comes from the
// server's own timestamps, less the time a poll took, so neither clock skew
// nor a change made while a poll runs is missed; re-reading an entry is
// harmless. Polling cannot see deletions, so every poll_full_every the cursor
// expires and the caller takes a snapshot, which sweeps them.
func (c *Conn) poll(ctx context.Context, snapshot bool, in cursor, fn func(connectors.Change) error) (string, error) {
	now := time.Now()
	if !snapshot && in.Since == "" {
		return "", fmt.Errorf("ldap: a syncrepl cursor, but the server no longer offers syncrepl: %w", connectors.ErrCursorExpired)
	}
	if !snapshot && !now.Before(time.Unix(in.Sweep, 0)) {
		return "", fmt.Errorf("ldap: polling mode: time for the periodic full sync that detects deletions: %w", connectors.ErrCursorExpired)
	}
	userFilter, groupFilter := c.cfg.UserFilter, c.cfg.GroupFilter
	if !snapshot {
		since := "(modifyTimestamp>=" + goldap.EscapeFilter(in.Since) + ")"
		userFilter, groupFilter = "(&"+userFilter+since+")", "(&"+groupFilter+since+")"
	}
	var newest time.Time
	seen := func(e *goldap.Entry) {
		if t, err := time.Parse("20060102150405Z", e.GetAttributeValue("modifyTimestamp")); err == nil && t.After(newest) {
			newest = t
		}
	}
	err := c.page(ctx, c.cfg.UserBase, userFilter, append(c.userAttrs(), "modifyTimestamp"), func(e *goldap.Entry) error {
		seen(e)
		u := c.toUser(e)
		return fn(connectors.Change{Op: connectors.Upsert, User: &u})
	})
	if err != nil {
		return "", err
	}
	err = c.page(ctx, c.cfg.GroupBase, groupFilter, append(c.groupAttrs(), "modifyTimestamp"), func(e *goldap.Entry) error {
		seen(e)
		g := c.toGroup(e)
		return fn(connectors.Change{Op: connectors.Upsert, Group: &g, MemberRefs: c.memberRefs(e)})
	})
	if err != nil {
		return "", err
	}
	out := in
	if snapshot {
		out.Sweep = now.Add(c.cfg.PollFullEvery).Unix()
	}
	if !newest.IsZero() {
		took := time.Since(now)
		out.Since = newest.Add(-took - 2*time.Second).UTC().Format("20060102150405Z")
	} else if snapshot {
		out.Since = now.Add(-time.Minute).UTC().Format("20060102150405Z") // an empty directory
	}
	return out.encode(), nil
}

func (c *Conn) groupAttrs() []string {
	return []string{c.cfg.IDAttr, c.cfg.GroupAttr, c.cfg.MemberAttr}
}

// memberReader reads groups' members, as refs, on a connection of its own
// while a syncrepl stream holds another: taken at the first read and kept
// until close.
type memberReader struct {
	c     *Conn
	l     *goldap.Conn
	extra bool
	err   error
}

func (r *memberReader) refs(ctx context.Context, groupDN string) ([]string, error) {
	if r.l == nil {
		if r.l, r.extra, r.err = r.c.acquire(ctx); r.err != nil {
			r.l = nil
			return nil, r.err
		}
	}
	var members []string
	r.err = guard(ctx, r.l, func() (err error) { members, err = r.c.readMembers(r.l, groupDN); return err })
	if r.err != nil {
		err := r.err
		if !errors.Is(err, connectors.ErrNotFound) {
			r.close() // the next read takes a fresh connection
		}
		return nil, err
	}
	return r.c.refsOf(members), nil
}

func (r *memberReader) close() {
	if r.l != nil {
		r.c.release(r.l, r.extra, r.err)
		r.l, r.err = nil, nil
	}
}

func (c *Conn) memberRefs(e *goldap.Entry) []string {
	return c.refsOf(e.GetAttributeValues(c.cfg.MemberAttr))
}

// refsOf turns member values into refs, the placeholder left out.
func (c *Conn) refsOf(members []string) []string {
	var refs []string
	for _, m := range members {
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
	// The stream's callbacks may need a connection of their own (a full
	// read's member reads): counted like a paged search, it lets them dial
	// one beyond the bound when the stream holds the last.
	c.paging.Add(1)
	defer c.paging.Add(-1)
	err := c.with(ctx, func(l *goldap.Conn) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// The server streams a refresh as one operation, which takes minutes
		// on a large directory: the timeout bounds the wait for each entry,
		// not the whole (go-ldap's would end the search at timeout).
		l.SetTimeout(0)
		defer l.SetTimeout(c.cfg.Timeout)
		var stalled atomic.Bool
		idle := time.AfterFunc(c.cfg.Timeout, func() { stalled.Store(true); cancel() })
		defer idle.Stop()
		req := goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
		r := l.Syncrepl(ctx, req, ahead, goldap.SyncRequestModeRefreshOnly, cookie, false)
		for {
			idle.Reset(c.cfg.Timeout) // the time spent on an entry here is not the server's
			if !r.Next() {
				break
			}
			idle.Stop()
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
		idle.Stop()
		if stalled.Load() {
			l.Close() // the abandoned refresh may still be streaming
			return fmt.Errorf("ldap: syncrepl on %s: %w: the server sent nothing for %s", base, connectors.ErrUnavailable, c.cfg.Timeout)
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
