package request

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/store"
)

// Break-glass: people named in the configuration may grant themselves a
// group at once, without approval, for a short time. Every use is announced
// (the audit event the notifier sends to the security channel) and opens a
// review that only someone else can close.

// Audit actions of break-glass.
const (
	ActionBreakGlass   = "breakglass.used"
	ActionReviewClosed = "review.closed"
)

// BreakGlassConfig says who may use break-glass, on what, for how long.
type BreakGlassConfig struct {
	// Users and members of Groups (in the directory, from the mirror) may
	// use it.
	Users  []string `yaml:"users"`
	Groups []string `yaml:"groups"`
	// Targets are the groups it may grant (empty: every JIT-managed group).
	Targets []string `yaml:"targets"`
	// MaxDuration caps each use (default 1h).
	MaxDuration time.Duration `yaml:"max_duration"`
}

// Enabled reports whether anyone may use break-glass.
func (c BreakGlassConfig) Enabled() bool { return len(c.Users)+len(c.Groups) > 0 }

// Review outcomes.
const (
	OutcomeJustified   = "justified"
	OutcomeUnjustified = "unjustified"
)

// BreakGlass grants req.Group to req.Requester now: no rule, no approver,
// but separation of duties still holds. The grant, the announcement and the
// review are recorded with the request.
func (m *Manager) BreakGlass(ctx context.Context, req CreateRequest) (store.Request, store.Review, error) {
	bg := m.config().BreakGlass
	if !bg.Enabled() {
		return store.Request{}, store.Review{}, fmt.Errorf("%w: break-glass is not configured (policy.breakglass)", ErrForbidden)
	}
	maxDur := bg.MaxDuration
	if maxDur <= 0 {
		maxDur = time.Hour
	}
	var problems []string
	if req.Requester == "" || req.Directory == "" || req.Group == "" {
		problems = append(problems, "requester, directory and group are required")
	}
	if req.Duration <= 0 {
		problems = append(problems, "a positive duration is required")
	} else if req.Duration > maxDur {
		problems = append(problems, fmt.Sprintf("break-glass lasts at most %s (%s was asked for)", maxDur, req.Duration))
	}
	if strings.TrimSpace(req.Reason) == "" {
		problems = append(problems, "a reason (the incident) is required")
	}
	if len(bg.Targets) > 0 && !slices.Contains(bg.Targets, req.Group) {
		problems = append(problems, fmt.Sprintf("break-glass cannot grant %s (it can grant %s)", req.Group, strings.Join(bg.Targets, ", ")))
	}
	if len(problems) > 0 {
		return store.Request{}, store.Review{}, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	if err := m.checkTarget(req); err != nil {
		return store.Request{}, store.Review{}, err
	}
	now := m.clock.Now()
	in, err := m.input(ctx, now, req.Directory, req.Requester)
	if err != nil {
		return store.Request{}, store.Review{}, err
	}
	if err := m.groupExists(ctx, req.Directory, req.Group); err != nil {
		return store.Request{}, store.Review{}, err
	}
	allowed := slices.ContainsFunc(bg.Users, func(u string) bool { return strings.EqualFold(u, req.Requester) }) ||
		slices.ContainsFunc(bg.Groups, func(g string) bool { return slices.Contains(in.Groups, g) })
	if !allowed {
		return store.Request{}, store.Review{}, fmt.Errorf("%w: %s may not use break-glass (allowed: %s)", ErrForbidden, req.Requester, describe(store.ApprovalStep{Any: 1, Users: bg.Users, Groups: bg.Groups}))
	}
	in.Group, in.Duration, in.Reason, in.Ticket, in.BreakGlass = req.Group, req.Duration, req.Reason, req.Ticket, true
	if explain, refused := m.policy.Load().Separate(in); refused {
		return store.Request{}, store.Review{}, fmt.Errorf("%w: %s", ErrInvalid, explain[len(explain)-1])
	}
	r := store.Request{ID: newID(), Requester: req.Requester, Directory: req.Directory, Group: req.Group, Duration: req.Duration,
		Reason: req.Reason, Ticket: req.Ticket, State: store.RequestPending, Rule: "breakglass", BreakGlass: true, Steps: []store.ApprovalStep{},
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(m.config().TTL)}
	v := store.Review{ID: "v" + strings.TrimPrefix(newID(), "r"), RequestID: r.ID, Subject: r.Requester, Directory: r.Directory, Group: r.Group,
		Reason: r.Reason, State: store.ReviewOpen, CreatedAt: now}
	r, err = m.approve(ctx, r, r.Requester+" (break-glass)", func(tx store.Tx) error {
		if err := tx.InsertRequest(r); err != nil {
			return err
		}
		if err := tx.InsertReview(v); err != nil {
			return err
		}
		detail := fmt.Sprintf("%s for %s: %s", r.Group, r.Duration, r.Reason)
		if r.Ticket != "" {
			detail += " (" + r.Ticket + ")"
		}
		return appendEvent(tx, r, now, r.Requester, ActionBreakGlass, detail+"; review "+v.ID+" opened")
	})
	if err == nil {
		m.log.Warn("break-glass used", "user", r.Requester, "directory", r.Directory, "group", r.Group, "for", r.Duration,
			"reason", r.Reason, "request_id", r.ID, "review_id", v.ID)
	}
	return r, v, err
}

// Reviews lists break-glass reviews in state ("" for all).
func (m *Manager) Reviews(ctx context.Context, state store.ReviewState) ([]store.Review, error) {
	return m.store.Reviews(ctx, state)
}

// CloseReview records the outcome of a review. Nobody closes the review of
// their own break-glass use.
func (m *Manager) CloseReview(ctx context.Context, id, by, outcome, comment string) (store.Review, error) {
	if outcome != OutcomeJustified && outcome != OutcomeUnjustified {
		return store.Review{}, fmt.Errorf("%w: outcome must be %s or %s", ErrInvalid, OutcomeJustified, OutcomeUnjustified)
	}
	if strings.TrimSpace(comment) == "" {
		return store.Review{}, fmt.Errorf("%w: a comment is required to close a review", ErrInvalid)
	}
	if err := grant.CheckText("the comment", comment, m.config().MaxText); err != nil {
		return store.Review{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	now := m.clock.Now()
	var v store.Review
	err := m.store.Update(ctx, func(tx store.Tx) error {
		var err error
		if v, err = tx.Review(id); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%w: no review %s", ErrNotFound, id)
			}
			return err
		}
		if strings.EqualFold(v.Subject, by) {
			return fmt.Errorf("%w: nobody closes the review of their own break-glass use", ErrForbidden)
		}
		if v.State != store.ReviewOpen {
			return fmt.Errorf("%w: review %s was closed by %s", ErrConflict, id, v.ClosedBy)
		}
		v.State, v.ClosedAt, v.ClosedBy, v.Outcome, v.Comment = store.ReviewClosed, now, by, outcome, comment
		if err := tx.UpdateReview(v); err != nil {
			return err
		}
		r, err := tx.Request(v.RequestID)
		if err != nil {
			return err
		}
		return appendEvent(tx, r, now, by, ActionReviewClosed, fmt.Sprintf("review %s: %s: %s", v.ID, outcome, comment))
	})
	return v, err
}
