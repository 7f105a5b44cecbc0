// Package request turns access requests into grants: policy decides whether a
// request may be made, how long it may last and who must approve it; each
// approval step passes when enough of its approvers agree; the last one
// creates the grant, counted from that moment. Requesters never approve their
// own requests, and nobody decides twice on one request. Every transition is
// audited in the same transaction as the change it records.
package request

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/conf"
	"github.com/jitd/jitd/core/fault"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/store"
)

// Errors for callers to map to responses, each of a fault kind.
var (
	// ErrInvalid: malformed, or refused by policy; nothing was recorded but
	// the refusal.
	ErrInvalid = fault.New(fault.ErrInvalid, "invalid request")
	// ErrNotFound: no such request.
	ErrNotFound = fault.New(fault.ErrNotFound, "request not found").Answered("no such request")
	// ErrForbidden: the caller may not decide on, or cancel, this request.
	ErrForbidden = fault.New(fault.ErrForbidden, "not allowed")
	// ErrConflict: the request is no longer pending, or the caller decided already.
	ErrConflict = fault.New(fault.ErrConflict, "request state conflict")
)

// Audit actions.
const (
	ActionCreated   = "request.created"
	ActionRefused   = "request.refused" // policy said no
	ActionApproval  = "request.approval"
	ActionApproved  = "request.approved"
	ActionDenied    = "request.denied"
	ActionCancelled = "request.cancelled"
	ActionExpired   = "request.expired"
	ActionFailed    = "request.failed"  // approved, but the grant could not be made
	ActionStarted   = "request.started" // approved earlier; its start came and the grant is made
)

// Store is the part of jitd's store requests use.
type Store interface {
	store.Updater
	store.Requests
	store.Grants
	store.Mirror
	// JITGroups: the groups a review made just-in-time for a user.
	JITGroups(ctx context.Context, directory, userID string) ([]string, error)
}

// Config tunes requests.
type Config struct {
	// TTL is how long a request may wait for its decisions (default 24h).
	TTL time.Duration `yaml:"request_ttl"`
	// BreakGlass says who may grant themselves access without approval.
	BreakGlass BreakGlassConfig `yaml:"breakglass"`
	// ReportingLineDepth (0: off) keeps the requester's reports, down to
	// this many levels (1: direct reports), from approving their request.
	ReportingLineDepth int `yaml:"reporting_line_depth"`
	// MaxText is the longest reason, ticket or comment, in characters
	// (default grant.DefaultMaxText); it is grants.max_text.
	MaxText int `yaml:"-"`
}

// Validate returns every problem, at its key in the policy section.
func (c Config) Validate() conf.Problems {
	var p conf.Problems
	bg := c.BreakGlass
	if bg.MaxDuration < 0 || bg.MaxDuration > 24*time.Hour {
		p.Addf("breakglass.max_duration", "must be between 0 (default 1h) and 24h: break-glass is for emergencies")
	}
	if !bg.Enabled() && (len(bg.Targets) > 0 || bg.MaxDuration != 0) {
		p.Addf("breakglass", "name users or groups who may use it")
	}
	if c.ReportingLineDepth < 0 || c.ReportingLineDepth > 10 {
		p.Addf("reporting_line_depth", "must be between 0 (off) and 10")
	}
	if c.TTL < 0 {
		p.Addf("request_ttl", "must not be negative")
	}
	return p
}

// Manager runs access requests.
type Manager struct {
	cfg    atomic.Pointer[Config]
	store  Store
	policy atomic.Pointer[policy.Policy]
	grants *grant.Manager
	clock  clock.Clock
	log    *slog.Logger
	wake   chan struct{}
	// Onboarder makes accounts for approved onboarding requests.
	Onboarder Onboarder
	// Risk, when set, scores each requester for policy's context.risk.
	Risk RiskSource
	// FirstSync, when set, reads a directory into the mirror when a
	// request names one that was never synced, so the first requests after
	// jitd starts are decided on the directory's data, not refused.
	FirstSync func(ctx context.Context, directory string) error
}

// RiskSource scores a requester's risk in [0, 1]. On failure it returns the
// score to use anyway (its fallback) with the error.
type RiskSource interface {
	Score(ctx context.Context, directory, login string) (float64, error)
}

// New returns a Manager. A nil policy refuses every request.
func New(cfg Config, st Store, pol *policy.Policy, grants *grant.Manager, clk clock.Clock, log *slog.Logger) *Manager {
	m := &Manager{store: st, grants: grants, clock: clk, log: log, wake: make(chan struct{}, 1)}
	m.SetConfig(cfg)
	m.SetPolicy(pol)
	return m
}

// SetConfig makes cfg govern the requests made and decided from now on
// (a configuration reload).
func (m *Manager) SetConfig(cfg Config) {
	if cfg.TTL <= 0 {
		cfg.TTL = 24 * time.Hour
	}
	m.cfg.Store(&cfg)
}

func (m *Manager) config() *Config { return m.cfg.Load() }

// SetPolicy makes pol decide the requests made from now on (nil refuses
// every request). Requests already decided keep their steps.
func (m *Manager) SetPolicy(pol *policy.Policy) {
	if pol == nil {
		pol, _ = policy.Compile(nil, nil)
	}
	m.policy.Store(pol)
}

// Policy is the policy deciding requests now.
func (m *Manager) Policy() *policy.Policy { return m.policy.Load() }

// Input reads what policy knows of a requester in a directory: their groups
// from the mirror, and what they hold now (those groups and live grants).
func Input(ctx context.Context, st interface {
	store.Mirror
	store.Grants
	JITGroups(ctx context.Context, directory, userID string) ([]string, error)
}, now time.Time, dir, login string) (policy.Input, error) {
	u, err := st.MirrorUser(ctx, dir, login)
	if errors.Is(err, store.ErrNotFound) {
		return policy.Input{}, fmt.Errorf("%w: no user %q in the mirror of directory %q (run jitd sync run if it was just created)", ErrInvalid, login, dir)
	}
	if err != nil {
		return policy.Input{}, err
	}
	groups, err := st.MirrorUserGroups(ctx, dir, u.ID)
	if err != nil {
		return policy.Input{}, err
	}
	if groups == nil {
		groups = []string{}
	}
	held := slices.Clone(groups)
	live, err := st.Grants(ctx, store.GrantFilter{Directory: dir, UserID: u.ID, States: grant.LiveStates})
	if err != nil {
		return policy.Input{}, err
	}
	for _, g := range live {
		held = append(held, g.GroupName)
	}
	jit, err := st.JITGroups(ctx, dir, u.ID)
	if err != nil {
		return policy.Input{}, err
	}
	in := policy.Input{User: login, Directory: dir, Groups: groups, Held: held, Attributes: u.Attributes, Time: now, JITGroups: jit}
	if m, err := st.MirrorManager(ctx, dir, u); err == nil {
		in.Manager = m.Login
	} else if !errors.Is(err, store.ErrNotFound) {
		return policy.Input{}, err
	}
	return in, nil
}

// input is Input, after a first sync of a directory the mirror has never seen.
func (m *Manager) input(ctx context.Context, now time.Time, dir, login string) (policy.Input, error) {
	in, err := Input(ctx, m.store, now, dir, login)
	if !errors.Is(err, ErrInvalid) || m.FirstSync == nil {
		return in, err
	}
	if _, serr := m.store.SyncState(ctx, dir); !errors.Is(serr, store.ErrNotFound) {
		return in, err // synced: the user is not there
	}
	if serr := m.FirstSync(ctx, dir); serr != nil {
		return in, fmt.Errorf("request: directory %q has not been read yet, and reading it failed: %w", dir, serr)
	}
	return Input(ctx, m.store, now, dir, login)
}

// checkTarget checks what a request names before anything is read or
// recorded: a configured directory, a JIT-managed group, and free text of
// a sane length on one line. A bad name is the asker's mistake (ErrInvalid),
// found now rather than when an approver approves.
func (m *Manager) checkTarget(req CreateRequest) error {
	for _, t := range []struct{ field, text string }{{"the reason", req.Reason}, {"the ticket", req.Ticket}} {
		if err := grant.CheckText(t.field, t.text, m.config().MaxText); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if m.grants == nil {
		return nil
	}
	if err := m.grants.Target(req.Directory, req.Group); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// groupExists checks the group against the mirror (read once at least).
func (m *Manager) groupExists(ctx context.Context, dir, group string) error {
	_, err := m.store.MirrorGroup(ctx, dir, group)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no group %q in directory %q", ErrInvalid, group, dir)
	}
	return err
}

// CreateRequest is what a requester asks for.
type CreateRequest struct {
	Requester string // login in Directory
	Directory string
	Group     string
	Duration  time.Duration
	Reason    string
	Ticket    string
	MFA       bool
	Risk      float64
	// Extends, when set, is a live grant of the requester's to extend by
	// Duration; Directory and Group come from it.
	Extends string
	// StartsAt, when set, asks for the access from then on (within
	// MaxStartAhead); the grant is made at that time once approved.
	StartsAt time.Time
}

// MaxStartAhead is how far ahead a request may ask its access to start.
const MaxStartAhead = 30 * 24 * time.Hour

// Create records a request as policy decides it: refused (ErrInvalid, the
// refusal audited), approved at once (the grant made), or pending its steps.
func (m *Manager) Create(ctx context.Context, req CreateRequest) (store.Request, error) {
	if req.Extends != "" {
		g, err := m.store.Grant(ctx, req.Extends)
		if errors.Is(err, store.ErrNotFound) {
			return store.Request{}, fmt.Errorf("%w: no grant %q to extend", ErrInvalid, req.Extends)
		}
		if err != nil {
			return store.Request{}, err
		}
		if !strings.EqualFold(g.UserName, req.Requester) {
			return store.Request{}, fmt.Errorf("%w: grant %s is not yours to extend", ErrForbidden, g.ID)
		}
		if g.State != store.StateActive {
			return store.Request{}, fmt.Errorf("%w: grant %s is %s; only an active grant can be extended (ask for a new one)", ErrConflict, g.ID, g.State)
		}
		if (req.Directory != "" && req.Directory != g.Directory) || (req.Group != "" && req.Group != g.GroupName) {
			return store.Request{}, fmt.Errorf("%w: grant %s is for %s in %s", ErrInvalid, g.ID, g.GroupName, g.Directory)
		}
		req.Directory, req.Group = g.Directory, g.GroupName
	}
	var problems []string
	if req.Requester == "" || req.Directory == "" || req.Group == "" {
		problems = append(problems, "requester, directory and group are required")
	}
	if req.Duration <= 0 {
		problems = append(problems, "a positive duration is required")
	}
	if strings.TrimSpace(req.Reason) == "" {
		problems = append(problems, "a reason is required")
	}
	if !req.StartsAt.IsZero() {
		now := m.clock.Now()
		switch {
		case req.Extends != "":
			problems = append(problems, "an extension starts when the grant would end; it takes no start time")
		case !req.StartsAt.After(now):
			problems = append(problems, fmt.Sprintf("the start (%s) is not in the future; leave it out to start at approval", req.StartsAt.UTC().Format(time.RFC3339)))
		case req.StartsAt.Sub(now) > MaxStartAhead:
			problems = append(problems, fmt.Sprintf("the start may be at most %s ahead", MaxStartAhead))
		}
	}
	if len(problems) > 0 {
		return store.Request{}, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	if err := m.checkTarget(req); err != nil {
		return store.Request{}, err
	}
	now := m.clock.Now()
	in, err := m.input(ctx, now, req.Directory, req.Requester)
	if err != nil {
		return store.Request{}, err
	}
	if err := m.groupExists(ctx, req.Directory, req.Group); err != nil {
		return store.Request{}, err
	}
	in.Group, in.Duration, in.Reason, in.Ticket, in.MFA, in.Risk = req.Group, req.Duration, req.Reason, req.Ticket, req.MFA, req.Risk
	riskNote := ""
	var risk *float64
	if m.Risk != nil {
		score, err := m.Risk.Score(ctx, req.Directory, req.Requester)
		if err != nil {
			m.log.Warn("request: risk source failed", "user", req.Requester, "directory", req.Directory, "err", err)
			riskNote = fmt.Sprintf("; risk %.2f (the source failed: %v)", score, err)
		} else {
			riskNote = fmt.Sprintf("; risk %.2f", score)
		}
		in.Risk = score
		risk = &score
	}
	dec := m.policy.Load().Decide(in)
	r := store.Request{ID: newID(), Requester: req.Requester, Directory: req.Directory, Group: req.Group, Duration: req.Duration,
		Reason: req.Reason, Ticket: req.Ticket, State: store.RequestPending, Rule: dec.Rule, Extends: req.Extends, StartsAt: req.StartsAt, Risk: risk,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(m.config().TTL)}
	for _, s := range dec.Steps {
		r.Steps = append(r.Steps, store.ApprovalStep{Any: max(s.Any, 1), Users: nonNil(s.Users), Groups: nonNil(s.Groups)})
	}
	detail := fmt.Sprintf("%s on %s for %s: %s", r.Requester, r.Group, r.Duration, r.Reason)
	if r.Extends != "" {
		detail = fmt.Sprintf("%s asks to extend grant %s (%s) by %s: %s", r.Requester, r.Extends, r.Group, r.Duration, r.Reason)
	}
	if !r.StartsAt.IsZero() {
		detail += "; from " + r.StartsAt.UTC().Format(time.RFC3339)
	}
	detail += riskNote
	switch {
	case !dec.Allowed:
		r.State, r.DecidedAt, r.DecidedBy, r.Detail = store.RequestDenied, now, "policy", dec.Reason
		if err := m.insert(ctx, r, ActionRefused, detail+"; refused: "+dec.Reason); err != nil {
			return r, err
		}
		return r, fmt.Errorf("%w: %s", ErrInvalid, dec.Reason)
	case dec.Auto:
		return m.approve(ctx, r, "policy", func(tx store.Tx) error {
			if err := tx.InsertRequest(r); err != nil {
				return err
			}
			return appendEvent(tx, r, r.CreatedAt, r.Requester, ActionCreated, detail+"; auto-approved by rule "+dec.Rule)
		})
	}
	if err := m.insert(ctx, r, ActionCreated, fmt.Sprintf("%s; %d approval step(s) by rule %s", detail, len(r.Steps), dec.Rule)); err != nil {
		return r, err
	}
	m.Wake()
	return r, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (m *Manager) insert(ctx context.Context, r store.Request, action, detail string) error {
	return m.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertRequest(r); err != nil {
			return err
		}
		return appendEvent(tx, r, r.CreatedAt, r.Requester, action, detail)
	})
}

func appendEvent(tx store.Tx, r store.Request, at time.Time, actor, action, detail string) error {
	_, err := tx.AppendAudit(audit.Event{Time: at, Actor: actor, Action: action, GrantID: r.ID, Directory: r.Directory, Group: r.Group, User: r.Requester, Detail: detail})
	return err
}

// approve marks the request approved and makes its grant, which runs from
// now. The approval is recorded in the transaction that records the grant's
// intent, so neither exists without the other. record, when set, records the
// request's creation too, in that same transaction (a request approved as it
// is made costs no commit of its own).
func (m *Manager) approve(ctx context.Context, r store.Request, by string, record func(store.Tx) error) (store.Request, error) {
	if r.Onboarding != nil {
		return m.approveOnboarding(ctx, r, by, record)
	}
	now := m.clock.Now()
	approved := r
	approved.State, approved.UpdatedAt, approved.DecidedAt, approved.DecidedBy = store.RequestApproved, now, now, by
	if r.Extends == "" && r.StartsAt.After(now) {
		// Approved for later: the grant is made when the start comes
		// (StartDue), from what is recorded here.
		approved.Detail = "starts at " + r.StartsAt.UTC().Format(time.RFC3339)
		err := m.store.Update(ctx, func(tx store.Tx) error {
			if record != nil {
				if err := record(tx); err != nil {
					return err
				}
			}
			if err := tx.UpdateRequest(approved); err != nil {
				return err
			}
			return appendEvent(tx, approved, now, by, ActionApproved, "approved; the grant starts at "+r.StartsAt.UTC().Format(time.RFC3339))
		})
		if err != nil {
			return r, err
		}
		m.Wake()
		return approved, nil
	}
	return m.grantFor(ctx, r, approved, by, ActionApproved, record)
}

// grantFor makes the grant of an approved request (approved is the request
// as it is to be recorded), or records that it could not be made.
func (m *Manager) grantFor(ctx context.Context, r, approved store.Request, by, action string, record func(store.Tx) error) (store.Request, error) {
	now := m.clock.Now()
	reason := "request " + r.ID + ": " + r.Reason
	if r.Ticket != "" {
		reason += " (" + r.Ticket + ")"
	}
	recordApproval := func(tx store.Tx, grantID string) error {
		if record != nil {
			if err := record(tx); err != nil {
				return err
			}
		}
		approved.GrantID = grantID
		if err := tx.UpdateRequest(approved); err != nil {
			return err
		}
		what := "approved; grant "
		if action == ActionStarted {
			what = "its start came; grant "
		}
		return appendEvent(tx, approved, now, by, action, what+grantID)
	}
	var g store.Grant
	var gerr error
	if r.Extends != "" {
		// An extension that fails changes nothing: the request failed.
		if record != nil {
			if err := m.store.Update(ctx, record); err != nil {
				return r, err
			}
			record = nil
		}
		if g, gerr = m.grants.Extend(ctx, r.Extends, r.Duration, time.Time{}, "request:"+r.ID, reason); gerr == nil {
			if err := m.store.Update(context.WithoutCancel(ctx), func(tx store.Tx) error { return recordApproval(tx, g.ID) }); err != nil {
				return r, err
			}
			return approved, nil
		}
	} else {
		g, gerr = m.grants.Add(ctx, grant.AddRequest{Directory: r.Directory, User: r.Requester, Group: r.Group, Duration: r.Duration, Reason: reason,
			Actor: "request:" + r.ID, Within: func(tx store.Tx, g store.Grant) error { return recordApproval(tx, g.ID) }})
		if g.ID != "" {
			// A grant recorded as apply_failed is still the grant: expiry
			// cleans up, and the caller sees it on the grant.
			return approved, nil
		}
	}
	// Refused before a grant was recorded (a group no longer managed, a
	// disabled user): the request failed.
	failed := r
	failed.State, failed.UpdatedAt, failed.DecidedAt, failed.DecidedBy, failed.Detail = store.RequestFailed, now, now, by, gerr.Error()
	err := m.store.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		if record != nil {
			if err := record(tx); err != nil {
				return err
			}
		}
		if err := tx.UpdateRequest(failed); err != nil {
			return err
		}
		return appendEvent(tx, failed, now, by, ActionFailed, "approved, but no grant: "+gerr.Error())
	})
	if err != nil {
		return failed, err
	}
	return failed, fmt.Errorf("%w: approved, but the grant could not be made: %v", ErrInvalid, gerr)
}

// Get returns a request.
func (m *Manager) Get(ctx context.Context, id string) (store.Request, error) {
	r, err := m.store.Request(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return r, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return r, err
}

// CanDecide reports whether approver may decide the request's current step:
// never the requester, never someone who decided already, and only one of
// the step's users or a member of one of its groups.
func (m *Manager) CanDecide(ctx context.Context, r store.Request, approver string) error {
	return m.canDecide(ctx, r, approver, m.groupsOf)
}

// Decider returns CanDecide for one approver over many requests, reading the
// approver's groups once per directory.
func (m *Manager) Decider(approver string) func(context.Context, store.Request) error {
	cache := map[string][]string{}
	groups := func(ctx context.Context, dir, login string) ([]string, error) {
		if g, ok := cache[dir]; ok {
			return g, nil
		}
		g, err := m.groupsOf(ctx, dir, login)
		if err == nil {
			cache[dir] = g
		}
		return g, err
	}
	return func(ctx context.Context, r store.Request) error { return m.canDecide(ctx, r, approver, groups) }
}

// groupsOf lists a login's groups in a directory's mirror (none if unknown).
func (m *Manager) groupsOf(ctx context.Context, dir, login string) ([]string, error) {
	u, err := m.store.MirrorUser(ctx, dir, login)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return m.store.MirrorUserGroups(ctx, dir, u.ID)
}

func (m *Manager) canDecide(ctx context.Context, r store.Request, approver string, groupsOf func(context.Context, string, string) ([]string, error)) error {
	if r.State != store.RequestPending {
		return fmt.Errorf("%w: request %s is %s", ErrConflict, r.ID, r.State)
	}
	if strings.EqualFold(approver, r.Requester) {
		return fmt.Errorf("%w: nobody approves their own request", ErrForbidden)
	}
	decided, err := m.store.Approvals(ctx, r.ID)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(decided, func(a store.Approval) bool { return strings.EqualFold(a.Approver, approver) }) {
		return fmt.Errorf("%w: %s already decided on request %s (one person, one step)", ErrConflict, approver, r.ID)
	}
	if err := m.reportsTo(ctx, r.Directory, approver, r.Requester); err != nil {
		return err
	}
	step := r.Steps[r.Step]
	if slices.ContainsFunc(step.Users, func(u string) bool { return strings.EqualFold(u, approver) }) {
		return nil
	}
	if len(step.Groups) > 0 {
		groups, err := groupsOf(ctx, r.Directory, approver)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(step.Groups, func(g string) bool { return slices.Contains(groups, g) }) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not an approver of step %d of request %s (%s)", ErrForbidden, approver, r.Step+1, r.ID, describe(step))
}

// ReportingLine refuses an approver who reports to r's requester within
// ReportingLineDepth levels; it costs nothing when the rule is off.
func (m *Manager) ReportingLine(ctx context.Context, r store.Request, approver string) error {
	return m.reportsTo(ctx, r.Directory, approver, r.Requester)
}

// reportsTo refuses an approver who reports to the requester within
// ReportingLineDepth levels, by the managers in the mirror.
func (m *Manager) reportsTo(ctx context.Context, dir, approver, requester string) error {
	if m.config().ReportingLineDepth <= 0 {
		return nil
	}
	u, err := m.store.MirrorUser(ctx, dir, approver)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for level := 1; level <= m.config().ReportingLineDepth; level++ {
		mgr, err := m.store.MirrorManager(ctx, dir, u)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if strings.EqualFold(mgr.Login, requester) {
			return fmt.Errorf("%w: %s reports to %s (%d level(s) down; policy.reporting_line_depth is %d): nobody approves a request of someone they report to",
				ErrForbidden, approver, requester, level, m.config().ReportingLineDepth)
		}
		u = mgr
	}
	return nil
}

func describe(s store.ApprovalStep) string {
	who := slices.Clone(s.Users)
	for _, g := range s.Groups {
		who = append(who, "members of "+g)
	}
	return fmt.Sprintf("any %d of %s", s.Any, strings.Join(who, ", "))
}

// Approve records approver's approval of the current step; the last step's
// last approval makes the grant.
func (m *Manager) Approve(ctx context.Context, id, approver, comment string) (store.Request, error) {
	return m.decide(ctx, id, approver, comment, true)
}

// Deny ends the request; any approver of the current step may.
func (m *Manager) Deny(ctx context.Context, id, approver, reason string) (store.Request, error) {
	if strings.TrimSpace(reason) == "" {
		return store.Request{}, fmt.Errorf("%w: a reason is required to deny a request", ErrInvalid)
	}
	return m.decide(ctx, id, approver, reason, false)
}

func (m *Manager) decide(ctx context.Context, id, approver, comment string, approve bool) (store.Request, error) {
	if err := grant.CheckText("the comment", comment, m.config().MaxText); err != nil {
		return store.Request{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	r, err := m.Get(ctx, id)
	if err != nil {
		return r, err
	}
	now := m.clock.Now()
	if r.State == store.RequestPending && !now.Before(r.ExpiresAt) {
		return r, fmt.Errorf("%w: request %s expired at %s", ErrConflict, id, r.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if err := m.CanDecide(ctx, r, approver); err != nil {
		return r, err
	}
	done := false
	err = m.store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.Request(id)
		if err != nil {
			return err
		}
		if cur.State != store.RequestPending || cur.Step != r.Step {
			return fmt.Errorf("%w: request %s changed meanwhile (now %s, step %d)", ErrConflict, id, cur.State, cur.Step+1)
		}
		decision := "deny"
		if approve {
			decision = "approve"
		}
		if err := tx.InsertApproval(store.Approval{RequestID: id, Approver: approver, Step: cur.Step, Decision: decision, Comment: comment, At: now}); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("%w: %v", ErrConflict, err)
			}
			return err
		}
		cur.UpdatedAt = now
		if !approve {
			cur.State, cur.DecidedAt, cur.DecidedBy, cur.Detail = store.RequestDenied, now, approver, comment
			r = cur
			if err := tx.UpdateRequest(cur); err != nil {
				return err
			}
			return appendEvent(tx, cur, now, approver, ActionDenied, comment)
		}
		all, err := tx.Approvals(id)
		if err != nil {
			return err
		}
		n := 0
		for _, a := range all {
			if a.Step == cur.Step && a.Decision == "approve" {
				n++
			}
		}
		detail := fmt.Sprintf("step %d of %d: %d of %d", cur.Step+1, len(cur.Steps), n, cur.Steps[cur.Step].Any)
		if comment != "" {
			detail += "; " + comment
		}
		if n >= cur.Steps[cur.Step].Any {
			cur.Step++
			done = cur.Step == len(cur.Steps)
		}
		r = cur
		if err := tx.UpdateRequest(cur); err != nil {
			return err
		}
		return appendEvent(tx, cur, now, approver, ActionApproval, detail)
	})
	if err != nil {
		return r, err
	}
	if done {
		return m.approve(ctx, r, approver, nil)
	}
	return r, nil
}

// Cancel withdraws a pending request, or an approved one whose start has
// not come; only its requester may.
func (m *Manager) Cancel(ctx context.Context, id, by string) (store.Request, error) {
	r, err := m.Get(ctx, id)
	if err != nil {
		return r, err
	}
	if !strings.EqualFold(by, r.Requester) {
		return r, fmt.Errorf("%w: only the requester may cancel a request", ErrForbidden)
	}
	now := m.clock.Now()
	err = m.store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.Request(id)
		if err != nil {
			return err
		}
		waiting := cur.State == store.RequestApproved && cur.GrantID == "" && cur.StartsAt.After(now) && cur.Onboarding == nil
		if cur.State != store.RequestPending && !waiting {
			return fmt.Errorf("%w: request %s is %s", ErrConflict, id, cur.State)
		}
		cur.State, cur.UpdatedAt, cur.DecidedAt, cur.DecidedBy = store.RequestCancelled, now, now, by
		r = cur
		if err := tx.UpdateRequest(cur); err != nil {
			return err
		}
		return appendEvent(tx, cur, now, by, ActionCancelled, "cancelled by the requester")
	})
	return r, err
}

func newID() string { return "r" + strings.TrimPrefix(grant.NewID(), "g") }
