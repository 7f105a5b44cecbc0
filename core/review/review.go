// Package review runs access review campaigns: a scope of access that is
// still standing (or the grants of a period), a reviewer for every item,
// a due date with reminders and escalation, and what an item nobody
// decided becomes. Decisions take effect through the same machinery as
// everything else: a revoked membership leaves the directory through the
// expiry queue (batched, retried, audited), an account is disabled by the
// account lifecycle, a grant is revoked like any other. Nobody reviews
// their own access.
package review

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/fault"
	"github.com/jitd/jitd/core/store"
)

// Errors, of the kinds in core/fault.
var (
	ErrInvalid   = fault.New(fault.ErrInvalid, "invalid review")
	ErrNotFound  = fault.New(fault.ErrNotFound, "no such campaign or item")
	ErrForbidden = fault.New(fault.ErrForbidden, "not a reviewer of this item")
	ErrConflict  = fault.New(fault.ErrConflict, "the campaign or item is not open")
)

// Store is what campaigns read and write.
type Store interface {
	store.Updater
	store.Campaigns
	store.Mirror
	store.Baselines
	store.Grants
	store.Accounts
	store.Requests
}

// Grants revokes grants and is told of removals recorded in a transaction.
type Grants interface {
	Revoke(ctx context.Context, id, actor, reason string) (store.Grant, error)
	Changed()
}

// Accounts disables contractor accounts.
type Accounts interface {
	Disable(ctx context.Context, id, actor, reason string) (store.Account, error)
}

// Manager opens, decides and closes campaigns.
type Manager struct {
	store    Store
	dirs     directories.Set
	grants   Grants
	accounts Accounts
	clock    clock.Clock
	log      *slog.Logger
	config   atomic.Pointer[Config]
	wake     chan struct{}
	// MaxText bounds a comment (characters).
	MaxText int
}

// New returns a Manager over the configured directories.
func New(cfg Config, st Store, dirs directories.Set, grants Grants, accounts Accounts, clk clock.Clock, log *slog.Logger) *Manager {
	m := &Manager{store: st, dirs: dirs, grants: grants, accounts: accounts, clock: clk, log: log, wake: make(chan struct{}, 1), MaxText: 1000}
	m.SetConfig(cfg)
	return m
}

// SetConfig replaces the recurring campaigns (a configuration reload).
func (m *Manager) SetConfig(cfg Config) {
	m.config.Store(&cfg)
	m.Wake()
}

// Wake makes the review loop look again now. It never blocks.
func (m *Manager) Wake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// settings is what a campaign keeps of its spec beyond its columns.
type settings struct {
	Scope         Scope           `json:"scope"`
	Reviewers     Reviewers       `json:"reviewers"`
	Remind        []time.Duration `json:"remind,omitempty"`
	EscalateAfter time.Duration   `json:"escalate_after,omitempty"`
}

// Settings decodes what a campaign was opened with.
func Settings(c store.Campaign) (Scope, Reviewers, []time.Duration, time.Duration) {
	var s settings
	_ = json.Unmarshal([]byte(c.Settings), &s)
	return s.Scope, s.Reviewers, s.Remind, s.EscalateAfter
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "c-" + idEncoding.EncodeToString(b)
}

// Create opens a campaign: it reads the scope, assigns every item its
// reviewers and records them all in one transaction. schedule names the
// recurring campaign that opens it ("" by hand).
func (m *Manager) Create(ctx context.Context, spec Spec, actor, schedule string) (store.Campaign, error) {
	spec.complete()
	if p := spec.Validate(); len(p) > 0 {
		return store.Campaign{}, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(p.Lines(), "; "))
	}
	if spec.Scope.Directory != "" {
		if _, ok := m.dirs[spec.Scope.Directory]; !ok {
			return store.Campaign{}, fmt.Errorf("%w: no directory %q", ErrInvalid, spec.Scope.Directory)
		}
	}
	now := m.clock.Now()
	if spec.Scope.Kind == ScopeGrants && spec.Scope.From.IsZero() {
		spec.Scope.From, spec.Scope.To = now.Add(-spec.Scope.Period), now
	}
	items, err := m.scope(ctx, spec.Scope)
	if err != nil {
		return store.Campaign{}, err
	}
	r := newResolver(ctx, m.store)
	for i := range items {
		it := &items[i]
		if it.Reviewers, err = r.reviewers(*it, spec.Reviewers, m.owners(it.Directory, it.GroupName)); err != nil {
			return store.Campaign{}, err
		}
	}
	raw, _ := json.Marshal(settings{Scope: spec.Scope, Reviewers: spec.Reviewers, Remind: spec.Remind, EscalateAfter: spec.EscalateAfter})
	c := store.Campaign{ID: newID(), Name: spec.Name, Schedule: schedule, Settings: string(raw), OnNoAnswer: spec.OnNoAnswer,
		State: store.CampaignOpen, CreatedBy: actor, CreatedAt: now, DueAt: now.Add(spec.Duration)}
	c.NextAt = nextAction(c, spec.Remind, spec.EscalateAfter)
	for i := range items {
		items[i].CampaignID, items[i].Seq = c.ID, i+1
	}
	unassigned := 0
	for _, it := range items {
		if len(it.Reviewers) == 0 {
			unassigned++
		}
	}
	err = m.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertCampaign(c); err != nil {
			return err
		}
		if err := tx.InsertCampaignItems(items); err != nil {
			return err
		}
		detail := fmt.Sprintf("%s: %d items (%s), due %s, no answer: %s", c.Name, len(items), spec.Scope.Kind, c.DueAt.UTC().Format(time.RFC3339), c.OnNoAnswer)
		if unassigned > 0 {
			detail += fmt.Sprintf("; %d items found no reviewer and wait for an admin", unassigned)
		}
		return appendEvent(tx, c, store.CampaignItem{}, now, actor, audit.ReviewOpened, detail)
	})
	if err != nil {
		return store.Campaign{}, fmt.Errorf("review: open campaign: %w", err)
	}
	m.log.Info("access review opened", "campaign", c.ID, "name", c.Name, "items", len(items), "due", c.DueAt)
	m.Wake()
	return c, nil
}

// nextAction is when the loop must act on c next: the next reminder, the
// escalation or the due date.
func nextAction(c store.Campaign, remind []time.Duration, escalate time.Duration) time.Time {
	next := c.DueAt
	if c.Reminders < len(remind) {
		if at := c.DueAt.Add(-remind[c.Reminders]); at.Before(next) {
			next = at
		}
	}
	if escalate > 0 && !c.Escalated {
		if at := c.CreatedAt.Add(escalate); at.Before(next) {
			next = at
		}
	}
	return next
}

func (m *Manager) owners(dir, group string) []string {
	d, ok := m.dirs[dir]
	if !ok || group == "" {
		return nil
	}
	g, ok := d.Group(group)
	if !ok {
		return nil
	}
	return g.Owners
}

// directories lists the directories a scope covers, sorted.
func (m *Manager) directories(scope Scope) []string {
	if scope.Directory != "" {
		return []string{scope.Directory}
	}
	var names []string
	for n := range m.dirs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// scope reads the items a scope covers.
func (m *Manager) scope(ctx context.Context, s Scope) ([]store.CampaignItem, error) {
	var items []store.CampaignItem
	switch s.Kind {
	case ScopeStanding, ScopeMembers:
		for _, dir := range m.directories(s) {
			groups, err := m.scopeGroups(dir, s)
			if err != nil {
				return nil, err
			}
			for _, name := range groups {
				got, err := m.members(ctx, dir, name, s.Kind == ScopeStanding)
				if err != nil {
					return nil, err
				}
				items = append(items, got...)
			}
		}
	case ScopeAccounts:
		as, err := m.store.Accounts(ctx, store.AccountFilter{States: []store.AccountState{store.AccountActive}, Directory: s.Directory})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(as, func(a, b store.Account) int { return strings.Compare(a.Login, b.Login) })
		for _, a := range as {
			items = append(items, store.CampaignItem{Kind: store.ItemAccount, Source: "contractor", Directory: a.Directory, UserID: a.ExternalID,
				UserName: a.Login, Ref: a.ID, Detail: fmt.Sprintf("sponsor %s; ends %s", a.Sponsor, a.EndsAt.UTC().Format(time.RFC3339))})
		}
	case ScopeGrants:
		return m.grantItems(ctx, s)
	}
	return items, nil
}

// scopeGroups lists the groups of one directory a membership scope covers.
func (m *Manager) scopeGroups(dir string, s Scope) ([]string, error) {
	d := m.dirs[dir]
	if s.Kind == ScopeStanding {
		if len(s.Groups) == 0 {
			return d.GroupNames(), nil
		}
		var out []string
		for _, g := range s.Groups {
			if _, ok := d.Group(g); ok {
				out = append(out, g)
			} else if s.Directory != "" {
				return nil, fmt.Errorf("%w: %s is not a JIT-managed group of %s (a standing review covers those; use scope members for others)", ErrInvalid, g, dir)
			}
		}
		return out, nil
	}
	for _, g := range s.Groups {
		if _, ok := d.Group(g); ok {
			return nil, fmt.Errorf("%w: %s is JIT-managed in %s: review its standing members with scope standing", ErrInvalid, g, dir)
		}
	}
	return s.Groups, nil
}

// members lists one group's items: its standing members (baseline and
// accepted drift) or, for a group jitd does not manage, every member.
func (m *Manager) members(ctx context.Context, dir, name string, standing bool) ([]store.CampaignItem, error) {
	g, err := m.store.MirrorGroup(ctx, dir, name)
	if errors.Is(err, store.ErrNotFound) {
		if standing {
			return nil, nil // not synced yet, or gone: nothing stands
		}
		return nil, fmt.Errorf("%w: no group %q in the mirror of %s", ErrInvalid, name, dir)
	}
	if err != nil {
		return nil, err
	}
	members, err := m.store.MirrorMembers(ctx, dir, g.ID)
	if err != nil {
		return nil, err
	}
	base := map[string]store.BaselineMember{}
	if standing {
		bm, err := m.store.BaselineMembers(ctx, dir, g.ID)
		if err != nil {
			return nil, err
		}
		for _, b := range bm {
			base[b.UserID] = b
		}
	}
	slices.SortFunc(members, func(a, b connectors.User) int { return strings.Compare(a.Login, b.Login) })
	var out []store.CampaignItem
	for _, u := range members {
		it := store.CampaignItem{Kind: store.ItemMembership, Source: "member", Directory: dir, GroupID: g.ID, GroupName: g.Name, UserID: u.ID, UserName: u.Login}
		if standing {
			b, ok := base[u.ID]
			if !ok {
				continue // granted, or drift: not standing access
			}
			it.Source, it.Detail = "baseline", "a member when jitd first saw the group ("+b.AddedAt.UTC().Format(time.DateOnly)+")"
			if b.AddedBy != "jitd" {
				it.Source, it.Detail = "accepted", "drift accepted into the baseline by "+b.AddedBy+" on "+b.AddedAt.UTC().Format(time.DateOnly)
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// grantItems lists the grants that were live during a period, break-glass
// uses marked.
func (m *Manager) grantItems(ctx context.Context, s Scope) ([]store.CampaignItem, error) {
	grants, err := m.store.Grants(ctx, store.GrantFilter{Directory: s.Directory})
	if err != nil {
		return nil, err
	}
	reqs, err := m.store.Requests(ctx, store.RequestFilter{Directory: s.Directory})
	if err != nil {
		return nil, err
	}
	byGrant := map[string]store.Request{}
	for _, r := range reqs {
		if r.GrantID != "" {
			byGrant[r.GrantID] = r
		}
	}
	var out []store.CampaignItem
	for i := len(grants) - 1; i >= 0; i-- { // oldest first
		g := grants[i]
		removalOnly := !g.ExpiresAt.After(g.StartsAt.Add(time.Nanosecond))
		ended := g.EndedAt
		if g.State == store.StatePending || g.State == store.StateCancelled || removalOnly ||
			!g.StartsAt.Before(s.To) || (!ended.IsZero() && !ended.After(s.From)) {
			continue
		}
		it := store.CampaignItem{Kind: store.ItemGrant, Source: "grant", Directory: g.Directory, GroupID: g.GroupID, GroupName: g.GroupName,
			UserID: g.UserID, UserName: g.UserName, Ref: g.ID,
			Detail: fmt.Sprintf("%s to %s, %s: %s", g.StartsAt.UTC().Format(time.RFC3339), g.ExpiresAt.UTC().Format(time.RFC3339), g.State, g.Reason)}
		if r, ok := byGrant[g.ID]; ok {
			if r.BreakGlass {
				it.Source = "breakglass"
			}
			it.Detail += " (request " + r.ID + ")"
		}
		out = append(out, it)
	}
	return out, nil
}

func appendEvent(tx store.Tx, c store.Campaign, it store.CampaignItem, at time.Time, actor, action, detail string) error {
	_, err := tx.AppendAudit(audit.Event{Time: at, Actor: actor, Action: action, GrantID: c.ID,
		Directory: it.Directory, Group: it.GroupName, User: it.UserName, Detail: detail})
	return err
}
