// Package grant turns decisions into temporary group memberships: it validates a
// grant, records the intent, makes the directory call, and records the outcome,
// each transition audited in the same transaction. Removal is the expiry
// package's job; this package decides which memberships are jitd's to remove.
package grant

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/conf"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/fault"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/work"
)

// Errors for callers to map to responses, each of a fault kind.
var (
	// ErrInvalid: the request is malformed or not allowed; nothing was changed.
	ErrInvalid = fault.New(fault.ErrInvalid, "invalid grant request")
	// ErrNotFound: no such grant.
	ErrNotFound = fault.New(fault.ErrNotFound, "grant not found").Answered("no such grant")
	// ErrConflict: the grant is not in a state that allows the operation.
	ErrConflict = fault.New(fault.ErrConflict, "grant state conflict")
	// ErrDirectory: the directory call failed; the grant records the failure.
	ErrDirectory = fault.New(fault.ErrDirectory, "directory call failed")
)

// LiveStates are the states in which a grant holds (or is about to hold) the
// membership. A grant ending while another live grant covers the same user
// and group leaves the membership in place.
var LiveStates = []store.State{store.StateApplying, store.StateActive}

// OwningStates are the states of grants whose membership jitd may have put in
// place and has not yet taken away.
var OwningStates = []store.State{store.StateApplying, store.StateActive, store.StateApplyFailed, store.StateRevoking, store.StateRevokeFailed}

// Store is the part of jitd's store grants use.
type Store interface {
	store.Updater
	store.Grants
}

// Config bounds grant durations and directory calls.
type Config struct {
	MinDuration time.Duration `yaml:"min_duration"`
	MaxDuration time.Duration `yaml:"max_duration"`
	// MaxText is the longest reason, ticket or comment a person may give,
	// in characters (default DefaultMaxText). Control characters are always
	// refused.
	MaxText int `yaml:"max_text"`
}

// DefaultConfig is what the grants section means when the file leaves it out.
func DefaultConfig() Config {
	return Config{MinDuration: time.Minute, MaxDuration: 30 * 24 * time.Hour, MaxText: DefaultMaxText}
}

// Validate returns every problem, at its key in the grants section.
func (c Config) Validate() conf.Problems {
	var p conf.Problems
	if c.MinDuration <= 0 {
		p.Addf("min_duration", "must be positive")
	}
	if c.MaxDuration < c.MinDuration {
		p.Addf("max_duration", "must not be shorter than min_duration (%s)", c.MinDuration)
	}
	if c.MaxText < 1 || c.MaxText > 100000 {
		p.Addf("max_text", "must be between 1 and 100000 characters (got %d)", c.MaxText)
	}
	return p
}

// DefaultMaxText is the longest reason or comment by default.
const DefaultMaxText = 1000

// CheckText refuses free text a person gives (a reason, a comment, a
// ticket) that is longer than max characters (0: DefaultMaxText) or holds
// control characters, which would let it pass for several lines of a log or
// a message.
func CheckText(field, s string, max int) error {
	if max <= 0 {
		max = DefaultMaxText
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid("%s is %d characters long; at most %d are allowed", field, n, max)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return invalid("%s holds a control character (%U at byte %d); give it on one line of plain text", field, []rune(s[i:])[0], i)
	}
	return nil
}

// Target checks that a directory is configured and that group is one of its
// JIT-managed groups, as Add does.
func (m *Manager) Target(directory, group string) error {
	dir, err := m.directory(directory)
	if err != nil {
		return err
	}
	if _, ok := dir.Group(group); !ok {
		return invalid("group %q is not JIT-managed in directory %q; add it to directories[].groups in the config", group, dir.Name)
	}
	return nil
}

// Manager creates, extends and revokes grants.
type Manager struct {
	cfg   Config
	store Store
	dirs  *directories.Registry
	clock clock.Clock
	log   *slog.Logger
	// Changed is called after a commit that may move the next expiry (wakes the scheduler).
	changed func()
	applies *work.Batches[[2]string, *pending] // grants waiting to be applied, per (directory, group)
}

// New returns a Manager. changed may be nil.
func New(cfg Config, st Store, dirs *directories.Registry, clk clock.Clock, log *slog.Logger, changed func()) *Manager {
	if changed == nil {
		changed = func() {}
	}
	m := &Manager{cfg: cfg, store: st, dirs: dirs, clock: clk, log: log, changed: changed}
	m.applies = newApplies(m)
	return m
}

// AddRequest asks for a temporary membership. Exactly one of Duration and Until is set.
type AddRequest struct {
	Directory string // may be empty when exactly one directory is configured
	User      string // login
	Group     string // group name
	Duration  time.Duration
	Until     time.Time
	Reason    string
	Actor     string
	// Within, when set, runs in the transaction that records the grant's
	// intent, before its audit event: what made the grant (a request)
	// is recorded with it, or neither is. An error aborts the grant.
	Within func(tx store.Tx, g store.Grant) error
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func (m *Manager) directory(name string) (*directories.Directory, error) {
	if name == "" {
		if len(m.dirs.Set) == 1 {
			for _, d := range m.dirs.Set {
				return d, nil
			}
		}
		return nil, invalid("directory is required when %d directories are configured (one of %s)", len(m.dirs.Set), m.dirNames())
	}
	d, ok := m.dirs.Set[name]
	if !ok {
		return nil, invalid("unknown directory %q (configured: %s)", name, m.dirNames())
	}
	return d, nil
}

func (m *Manager) dirNames() string {
	var names []string
	for n := range m.dirs.Set {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// Managed is a JIT-managed group and the longest grant on it.
type Managed struct {
	Directory   string
	Group       string
	MaxDuration time.Duration
}

// Managed lists every JIT-managed group, by directory and name.
func (m *Manager) Managed() []Managed {
	var out []Managed
	for _, dir := range strings.Split(m.dirNames(), ", ") {
		d, ok := m.dirs.Set[dir]
		if !ok {
			continue
		}
		for _, g := range d.GroupNames() {
			out = append(out, Managed{Directory: dir, Group: g, MaxDuration: m.MaxFor(dir, g)})
		}
	}
	return out
}

// MaxFor returns the longest grant allowed on a group of a directory (0: no
// limit), as Add enforces it.
func (m *Manager) MaxFor(directory, group string) time.Duration {
	maxDur := time.Duration(0)
	if d, ok := m.dirs.Set[directory]; ok {
		gp, _ := d.Group(group)
		maxDur = gp.MaxDuration
	}
	if maxDur == 0 || (m.cfg.MaxDuration > 0 && m.cfg.MaxDuration < maxDur) {
		maxDur = m.cfg.MaxDuration
	}
	return maxDur
}

// window checks a requested end time and returns it.
func (m *Manager) window(now time.Time, d time.Duration, until time.Time, maxDur time.Duration) (time.Time, error) {
	switch {
	case d != 0 && !until.IsZero():
		return time.Time{}, invalid("give a duration or an end time, not both")
	case d == 0 && until.IsZero():
		return time.Time{}, invalid("a duration (for) or an end time (until) is required")
	case d < 0:
		return time.Time{}, invalid("duration %s is negative", d)
	}
	end := until
	if d != 0 {
		end = now.Add(d)
	}
	if !end.After(now) {
		return time.Time{}, invalid("end time %s is not in the future", end.UTC().Format(time.RFC3339))
	}
	length := end.Sub(now)
	if length < m.cfg.MinDuration {
		return time.Time{}, invalid("duration %s is shorter than the minimum %s", length.Round(time.Second), m.cfg.MinDuration)
	}
	if maxDur == 0 || (m.cfg.MaxDuration > 0 && m.cfg.MaxDuration < maxDur) {
		maxDur = m.cfg.MaxDuration
	}
	if maxDur > 0 && length > maxDur {
		return time.Time{}, invalid("duration %s is longer than the maximum %s for this group", length.Round(time.Second), maxDur)
	}
	return end, nil
}

// Add validates the request, records the grant, adds the membership and
// returns the grant. On a directory failure the grant is recorded as
// apply_failed (and its expiry still cleans up) and the error wraps ErrDirectory.
func (m *Manager) Add(ctx context.Context, req AddRequest) (store.Grant, error) {
	if strings.TrimSpace(req.Reason) == "" {
		return store.Grant{}, invalid("a reason is required")
	}
	if err := CheckText("the reason", req.Reason, m.cfg.MaxText); err != nil {
		return store.Grant{}, err
	}
	if req.User == "" || req.Group == "" {
		return store.Grant{}, invalid("user and group are required")
	}
	dir, err := m.directory(req.Directory)
	if err != nil {
		return store.Grant{}, err
	}
	policy, ok := dir.Group(req.Group)
	if !ok {
		return store.Grant{}, invalid("group %q is not JIT-managed in directory %q; add it to directories[].groups in the config", req.Group, dir.Name)
	}
	now := m.clock.Now()
	expires, err := m.window(now, req.Duration, req.Until, policy.MaxDuration)
	if err != nil {
		return store.Grant{}, err
	}
	res, ok := connectors.AsResolver(dir.Conn)
	if !ok {
		return store.Grant{}, invalid("directory %q cannot look up users and groups", dir.Name)
	}
	mm, ok := connectors.AsMembershipManager(dir.Conn)
	if !ok {
		return store.Grant{}, invalid("directory %q cannot manage group membership", dir.Name)
	}
	cctx, cancel := m.dirs.Deadline(ctx) // a hung call must not hold the group's lock, which removals need too
	defer cancel()
	user, err := res.LookupUser(cctx, req.User)
	if err != nil {
		return store.Grant{}, lookupErr("user", req.User, dir.Name, err)
	}
	if !user.Enabled {
		return store.Grant{}, invalid("user %q is disabled in directory %q", req.User, dir.Name)
	}
	group, err := res.LookupGroup(cctx, req.Group)
	if err != nil {
		return store.Grant{}, lookupErr("group", req.Group, dir.Name, err)
	}

	return m.enqueue(&pending{ctx: ctx, req: req, dir: dir, mm: mm, user: user, group: group, starts: now, expires: expires})
}

// apply makes the directory call for a grant in state applying and records the outcome.
func (m *Manager) apply(ctx context.Context, mm connectors.MembershipManager, g store.Grant) (store.Grant, error) {
	gs, errs := m.applyAll(ctx, mm, []store.Grant{g})
	return gs[0], errs[0]
}

// applyAll makes the directory calls for grants of one (directory, group), all
// in state applying, and records their outcomes in one transaction. Without
// native TTL the members are added in one batched call.
func (m *Manager) applyAll(ctx context.Context, mm connectors.MembershipManager, gs []store.Grant) ([]store.Grant, []error) {
	callErrs := make([]error, len(gs))
	native := false
	if dir, ok := m.dirs.Set[gs[0].Directory]; ok {
		_, native = connectors.AsExpiringMembershipManager(dir.Conn)
	}
	var users []string
	for i, g := range gs {
		switch {
		case g.Preexisting:
		case native || len(gs) == 1:
			callErrs[i] = m.add(ctx, mm, g, g.ExpiresAt)
		case !slices.Contains(users, g.UserID):
			users = append(users, g.UserID)
		}
	}
	if len(users) > 0 {
		cctx, cancel := m.dirs.Deadline(ctx)
		results, err := mm.AddMembers(cctx, gs[0].GroupID, users)
		cancel()
		byUser := map[string]error{}
		for _, r := range results {
			byUser[r.UserID] = r.Err
		}
		for i, g := range gs {
			if !g.Preexisting {
				if err != nil {
					callErrs[i] = err
				} else if e, ok := byUser[g.UserID]; ok {
					callErrs[i] = e
				} else {
					callErrs[i] = fmt.Errorf("the directory gave no result for %s", g.UserName)
				}
			}
		}
	}
	now := m.clock.Now()
	// The outcomes are committed even if the caller went away. Each row is
	// read again: a revoke or extension may have landed during the call, and wins.
	out := slices.Clone(gs)
	err := m.store.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		for i, g := range gs {
			action, detail := audit.GrantActive, "member added"
			if g.Preexisting {
				detail = "already a member"
			}
			if callErrs[i] != nil {
				action, detail = audit.GrantApplyFailed, callErrs[i].Error()
			}
			cur, err := tx.Grant(g.ID)
			if err != nil {
				return err
			}
			if cur.State == store.StateApplying {
				cur.State, cur.LastError = store.StateActive, ""
				if callErrs[i] != nil {
					cur.State, cur.LastError = store.StateApplyFailed, callErrs[i].Error()
				}
				cur.UpdatedAt = now
				if err := tx.UpdateGrant(cur); err != nil {
					return err
				}
			} else {
				detail += fmt.Sprintf(" (grant is already %s)", cur.State)
			}
			out[i] = cur
			if err := AppendEvent(tx, cur, now, "jitd", action, detail); err != nil {
				return err
			}
		}
		return nil
	})
	errs := make([]error, len(gs))
	if err != nil {
		for i, g := range gs {
			errs[i] = fmt.Errorf("grant %s: record outcome: %w", g.ID, err)
		}
		return gs, errs
	}
	// Only now are the grants (active or apply_failed) visible to the queue.
	m.changed()
	for i, g := range out {
		if callErrs[i] != nil {
			m.log.Warn("grant apply failed", "grant_id", g.ID, "directory", g.Directory, "group", g.GroupName, "user", g.UserName, "err", callErrs[i])
			errs[i] = fmt.Errorf("%w: add %s to %s in %s: %w", ErrDirectory, g.UserName, g.GroupName, g.Directory, callErrs[i])
			continue
		}
		m.log.Info("grant active", "grant_id", g.ID, "directory", g.Directory, "group", g.GroupName, "user", g.UserName, "expires_at", g.ExpiresAt)
	}
	return out, errs
}

// add puts the grant's user in its group. Where the directory can expire a
// membership itself (native TTL), it is told the latest end among the live
// grants that cover the membership, end included, as a backstop for when
// jitd is gone.
func (m *Manager) add(ctx context.Context, mm connectors.MembershipManager, g store.Grant, end time.Time) error {
	var em connectors.ExpiringMembershipManager
	native := false
	if dir, ok := m.dirs.Set[g.Directory]; ok {
		em, native = connectors.AsExpiringMembershipManager(dir.Conn)
	}
	if !native {
		cctx, cancel := m.dirs.Deadline(ctx)
		defer cancel()
		results, err := mm.AddMembers(cctx, g.GroupID, []string{g.UserID})
		return firstErr(results, err)
	}
	live, err := m.store.Grants(ctx, store.GrantFilter{Directory: g.Directory, GroupID: g.GroupID, UserID: g.UserID, States: LiveStates})
	if err != nil {
		return err
	}
	for _, o := range live {
		if o.ID != g.ID && o.ExpiresAt.After(end) {
			end = o.ExpiresAt
		}
	}
	cctx, cancel := m.dirs.Deadline(ctx)
	defer cancel()
	results, err := em.AddMembersUntil(cctx, g.GroupID, []string{g.UserID}, end)
	return firstErr(results, err)
}

// preexisting decides whether the user's membership, if any, predates jitd.
// Another grant that jitd applied counts as jitd's, not as pre-existing.
func (m *Manager) preexisting(ctx context.Context, mm connectors.MembershipManager, dir, groupID, userID string) (bool, error) {
	others, err := m.store.Grants(ctx, store.GrantFilter{Directory: dir, GroupID: groupID, UserID: userID, States: OwningStates})
	if err != nil {
		return false, fmt.Errorf("grant: %w", err)
	}
	if len(others) > 0 {
		for _, o := range others {
			if !o.Preexisting {
				return false, nil
			}
		}
		return true, nil
	}
	cctx, cancel := m.dirs.Deadline(ctx)
	defer cancel()
	member, err := mm.IsMember(cctx, groupID, userID)
	if err != nil {
		return false, fmt.Errorf("%w: check membership in %s: %w", ErrDirectory, dir, err)
	}
	return member, nil
}

// Resume finishes grants whose directory call was interrupted by a crash: the
// intent was committed, the outcome was not. The add is idempotent, so it is
// simply made again; a grant that expired meanwhile is handed to expiry.
func (m *Manager) Resume(ctx context.Context) error {
	pending, err := m.store.Grants(ctx, store.GrantFilter{States: []store.State{store.StateApplying}})
	if err != nil {
		return fmt.Errorf("grant: resume: %w", err)
	}
	for _, g := range pending {
		dir, ok := m.dirs.Set[g.Directory]
		if !ok {
			m.log.Error("grant resume: directory no longer configured", "grant_id", g.ID, "directory", g.Directory)
			continue
		}
		mm, ok := connectors.AsMembershipManager(dir.Conn)
		if !ok {
			continue
		}
		if !m.clock.Now().Before(g.ExpiresAt) {
			// Let the expiry queue remove whatever the interrupted add may have done.
			g.State, g.LastError, g.UpdatedAt = store.StateApplyFailed, "expired before the interrupted apply was resumed", m.clock.Now()
			err := m.store.Update(ctx, func(tx store.Tx) error {
				if err := tx.UpdateGrant(g); err != nil {
					return err
				}
				return AppendEvent(tx, g, g.UpdatedAt, "jitd", audit.GrantApplyFailed, g.LastError)
			})
			if err != nil {
				return fmt.Errorf("grant: resume %s: %w", g.ID, err)
			}
			continue
		}
		unlock := m.dirs.Lock(g.Directory, g.GroupID)
		_, err := m.apply(ctx, mm, g)
		unlock()
		if err != nil && !errors.Is(err, ErrDirectory) {
			return err
		}
	}
	m.changed()
	return nil
}

// Extend moves a live grant's end to a later time, within the group's maximum
// counted from now. It never adds a second membership.
func (m *Manager) Extend(ctx context.Context, id string, d time.Duration, until time.Time, actor, reason string) (store.Grant, error) {
	if err := CheckText("the reason", reason, m.cfg.MaxText); err != nil {
		return store.Grant{}, err
	}
	g, err := m.get(ctx, id)
	if err != nil {
		return g, err
	}
	dir, err := m.directory(g.Directory)
	if err != nil {
		return g, err
	}
	now := m.clock.Now()
	if d != 0 {
		until, d = g.ExpiresAt.Add(d), 0
	}
	gp, _ := dir.Group(g.GroupName)
	end, err := m.window(now, d, until, gp.MaxDuration)
	if err != nil {
		return g, err
	}
	mm, ok := connectors.AsMembershipManager(dir.Conn)
	if _, native := connectors.AsExpiringMembershipManager(dir.Conn); native && ok && !g.Preexisting && g.State == store.StateActive && end.After(g.ExpiresAt) {
		// The directory's own end moves first; if it cannot, nothing changes.
		unlock := m.dirs.Lock(g.Directory, g.GroupID)
		err := m.add(ctx, mm, g, end)
		unlock()
		if err != nil {
			return g, fmt.Errorf("%w: move the membership's end in %s (nothing changed): %w", ErrDirectory, g.Directory, err)
		}
	}
	err = m.store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.Grant(id)
		if err != nil {
			return err
		}
		if cur.State != store.StateActive && cur.State != store.StateApplying {
			return fmt.Errorf("%w: grant %s is %s; only an active grant can be extended", ErrConflict, id, cur.State)
		}
		if !end.After(cur.ExpiresAt) {
			return invalid("new end %s is not after the current end %s; use revoke to end a grant early",
				end.UTC().Format(time.RFC3339), cur.ExpiresAt.UTC().Format(time.RFC3339))
		}
		old := cur.ExpiresAt
		cur.ExpiresAt, cur.UpdatedAt = end, now
		if err := tx.UpdateGrant(cur); err != nil {
			return err
		}
		g = cur
		return AppendEvent(tx, cur, now, actor, audit.GrantExtended,
			fmt.Sprintf("expires %s (was %s); reason: %s", end.UTC().Format(time.RFC3339), old.UTC().Format(time.RFC3339), reason))
	})
	if err != nil {
		return g, mapStoreErr(err)
	}
	m.changed()
	return g, nil
}

// Revoke ends a grant now. The removal goes through the expiry queue like any
// other, so it is batched, retried and audited the same way.
func (m *Manager) Revoke(ctx context.Context, id, actor, reason string) (store.Grant, error) {
	if strings.TrimSpace(reason) == "" {
		return store.Grant{}, invalid("a reason is required to revoke a grant")
	}
	if err := CheckText("the reason", reason, m.cfg.MaxText); err != nil {
		return store.Grant{}, err
	}
	var g store.Grant
	now := m.clock.Now()
	err := m.store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.Grant(id)
		if err != nil {
			return err
		}
		switch cur.State {
		case store.StateActive, store.StateApplyFailed, store.StateApplying:
		case store.StateRevoking, store.StateRevokeFailed:
			g = cur
			return nil // already on its way out
		default:
			return fmt.Errorf("%w: grant %s is already %s", ErrConflict, id, cur.State)
		}
		if now.Before(cur.ExpiresAt) {
			// The grant's access ends now; expires_at always says when it ended.
			cur.ExpiresAt = now
			if !cur.ExpiresAt.After(cur.StartsAt) {
				cur.ExpiresAt = cur.StartsAt.Add(time.Nanosecond)
			}
		}
		cur.State, cur.UpdatedAt, cur.NextAttempt = store.StateRevoking, now, time.Time{}
		cur.EndReason = fmt.Sprintf("revoked by %s: %s", actor, reason)
		if err := tx.UpdateGrant(cur); err != nil {
			return err
		}
		g = cur
		return AppendEvent(tx, cur, now, actor, audit.GrantRevoking, cur.EndReason)
	})
	if err != nil {
		return g, mapStoreErr(err)
	}
	m.changed()
	return g, nil
}

func (m *Manager) get(ctx context.Context, id string) (store.Grant, error) {
	g, err := m.store.Grant(ctx, id)
	return g, mapStoreErr(err)
}

func mapStoreErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

func lookupErr(what, name, dir string, err error) error {
	if errors.Is(err, connectors.ErrNotFound) {
		return invalid("no %s %q in directory %q", what, name, dir)
	}
	if errors.Is(err, connectors.ErrInvalid) {
		return invalid("%s %q: %v", what, name, err)
	}
	return fmt.Errorf("%w: look up %s %q in %s: %w", ErrDirectory, what, name, dir, err)
}

func firstErr(results []connectors.MemberResult, err error) error {
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// AppendEvent writes the audit event for a grant transition inside tx.
func AppendEvent(tx store.Tx, g store.Grant, at time.Time, actor, action, detail string) error {
	_, err := tx.AppendAudit(audit.Event{
		Time: at, Actor: actor, Action: action, GrantID: g.ID,
		Directory: g.Directory, Group: g.GroupName, User: g.UserName, Detail: detail,
	})
	return err
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random grant id such as "g-3xk2...".
func NewID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "g-" + idEncoding.EncodeToString(b)
}

// RemoveStanding takes away a membership that no grant covers (drift), through
// the expiry queue: it records a removal-only grant, already ending, so the
// removal is batched, retried and audited like every other. actor is who
// decided it ("jitd" when reconciliation does).
func (m *Manager) RemoveStanding(ctx context.Context, directory string, group connectors.Group, user connectors.User, actor, reason string) (store.Grant, error) {
	var g store.Grant
	err := m.store.Update(ctx, func(tx store.Tx) (err error) {
		g, err = RemoveStandingTx(tx, m.clock.Now(), directory, group, user, actor, reason)
		return err
	})
	if err != nil {
		return g, fmt.Errorf("grant: remove standing membership: %w", err)
	}
	m.changed()
	return g, nil
}

// RemoveStandingTx records, inside tx, the removal-only grant of
// RemoveStanding, for callers that record more in the same transaction;
// they call Changed after it commits.
func RemoveStandingTx(tx store.Tx, now time.Time, directory string, group connectors.Group, user connectors.User, actor, reason string) (store.Grant, error) {
	g := store.Grant{
		ID: NewID(), Directory: directory, GroupID: group.ID, GroupName: group.Name, UserID: user.ID, UserName: user.Login,
		State: store.StateRevoking, Reason: reason, CreatedBy: actor,
		StartsAt: now.Add(-time.Nanosecond), ExpiresAt: now, CreatedAt: now, UpdatedAt: now, EndReason: reason,
	}
	if err := tx.InsertGrant(g); err != nil {
		return g, err
	}
	return g, AppendEvent(tx, g, now, actor, audit.GrantRevoking, "membership nobody granted is removed: "+reason)
}

// Changed wakes the expiry queue after a caller recorded removals with
// RemoveStandingTx.
func (m *Manager) Changed() { m.changed() }

// MarkVanished records that an active grant's membership is gone from the
// directory (removed outside jitd). jitd does not add it back by itself.
func (m *Manager) MarkVanished(ctx context.Context, id string) error {
	now := m.clock.Now()
	return m.store.Update(ctx, func(tx store.Tx) error {
		g, err := tx.Grant(id)
		if err != nil || g.State != store.StateActive || !g.VanishedAt.IsZero() {
			return err
		}
		g.VanishedAt, g.UpdatedAt = now, now
		if err := tx.UpdateGrant(g); err != nil {
			return err
		}
		return AppendEvent(tx, g, now, "jitd", audit.GrantVanished, "the membership was removed outside jitd; it is not added back")
	})
}
