package review

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/fault"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/work"
)

// Decider is who decides an item.
type Decider struct {
	Login string
	Admin bool // an admin may decide any item but their own
}

// chunk is how many items one transaction decides or applies.
const chunk = 500

// Decide records a reviewer's decision on one item and hands a revoke or
// jit to the removal path at once. A decision is final.
func (m *Manager) Decide(ctx context.Context, campaignID string, seq int, who Decider, decision, comment string) (store.CampaignItem, error) {
	switch decision {
	case store.DecisionKeep, store.DecisionRevoke, store.DecisionJIT:
	default:
		return store.CampaignItem{}, fmt.Errorf("%w: the decision must be keep, revoke or jit (got %q)", ErrInvalid, decision)
	}
	if err := grant.CheckText("the comment", comment, m.MaxText); err != nil {
		return store.CampaignItem{}, err
	}
	now := m.clock.Now()
	var c store.Campaign
	var it store.CampaignItem
	err := m.store.Update(ctx, func(tx store.Tx) (err error) {
		if c, err = tx.Campaign(campaignID); err != nil {
			return notFound(err)
		}
		if it, err = tx.CampaignItem(campaignID, seq); err != nil {
			return notFound(err)
		}
		switch {
		case strings.EqualFold(who.Login, it.UserName):
			return fmt.Errorf("%w: nobody reviews their own access", ErrForbidden)
		case !who.Admin && !reviews(it, who.Login):
			return fmt.Errorf("%w: %s is not a reviewer of item %d", ErrForbidden, who.Login, seq)
		case c.State != store.CampaignOpen || !now.Before(c.DueAt):
			return fmt.Errorf("%w: campaign %s is closed", ErrConflict, c.ID)
		case it.Decision != "":
			return fmt.Errorf("%w: item %d was decided already (%s by %s)", ErrConflict, seq, it.Decision, it.DecidedBy)
		case decision == store.DecisionJIT && !m.managed(it):
			return fmt.Errorf("%w: only a standing membership of a JIT-managed group can be made just-in-time (add %s to the directory's groups first)", ErrInvalid, orElse(it.GroupName, "the group"))
		}
		it.Decision, it.DecidedBy, it.DecidedAt, it.Comment = decision, strings.ToLower(who.Login), now, comment
		if err := tx.UpdateCampaignItem(it); err != nil {
			return err
		}
		if err := appendEvent(tx, c, it, now, who.Login, audit.ReviewDecided, describe(it)); err != nil {
			return err
		}
		if decision == store.DecisionKeep || it.Kind != store.ItemMembership {
			return nil
		}
		// jitd owns both the decision and a membership's removal: one
		// transaction records them together.
		it, err = m.applyMembership(tx, c, it, now)
		return err
	})
	if err != nil {
		return it, err
	}
	if it.Kind == store.ItemMembership {
		if !it.AppliedAt.IsZero() {
			m.grants.Changed()
		}
		return it, nil
	}
	if decision == store.DecisionKeep {
		return it, nil
	}
	if err := m.apply(ctx, c, it); err != nil {
		// Recorded, and retried by the review loop.
		m.log.Error("review: a decision's effect failed; retrying", "campaign", c.ID, "item", seq, "err", err)
		m.Wake()
	}
	// The item as apply left it.
	its, err := m.store.CampaignItems(ctx, store.CampaignItemFilter{CampaignID: campaignID, AfterSeq: seq - 1, Limit: 1})
	if err != nil || len(its) == 0 || its[0].Seq != seq {
		return it, err
	}
	return its[0], nil
}

func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}

func reviews(it store.CampaignItem, login string) bool {
	for _, r := range it.Reviewers {
		if strings.EqualFold(r, login) {
			return true
		}
	}
	return false
}

func (m *Manager) managed(it store.CampaignItem) bool {
	d, ok := m.dirs[it.Directory]
	if !ok || it.Kind != store.ItemMembership {
		return false
	}
	_, ok = d.Group(it.GroupName)
	return ok
}

func describe(it store.CampaignItem) string {
	what := map[string]string{store.DecisionKeep: "kept", store.DecisionRevoke: "revoked", store.DecisionJIT: "made just-in-time"}[it.Decision]
	s := fmt.Sprintf("item %d (%s %s) %s", it.Seq, it.Source, it.Kind, what)
	if it.Comment != "" {
		s += ": " + it.Comment
	}
	return s
}

// apply hands a revoke decision on a contractor account or a grant to the
// manager that ends it, then marks the item applied: re-running one that
// a crash cut short is harmless, as the account or grant has ended.
func (m *Manager) apply(ctx context.Context, c store.Campaign, it store.CampaignItem) error {
	actor := it.DecidedBy
	reason := reasonOf(c, it)
	switch it.Kind {
	case store.ItemAccount:
		if _, err := m.accounts.Disable(ctx, it.Ref, actor, reason); err != nil && !errors.Is(err, fault.ErrConflict) && !errors.Is(err, fault.ErrNotFound) {
			return err
		}
	case store.ItemGrant:
		if _, err := m.grants.Revoke(ctx, it.Ref, actor, reason); err != nil && !errors.Is(err, fault.ErrConflict) && !errors.Is(err, fault.ErrNotFound) {
			return err
		}
	}
	now := m.clock.Now()
	return m.store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.CampaignItem(it.CampaignID, it.Seq)
		if err != nil || !cur.AppliedAt.IsZero() {
			return err
		}
		cur.Effect, cur.AppliedAt = it.Ref, now
		if err := tx.UpdateCampaignItem(cur); err != nil {
			return err
		}
		return appendEvent(tx, c, cur, now, actor, audit.ReviewApplied, fmt.Sprintf("item %d: %s %s revoked", cur.Seq, cur.Kind, cur.Ref))
	})
}

// applyMembership hands a revoke or jit decision on a standing membership
// to the removal path, in the caller's transaction with the item's
// applied mark (the caller wakes the expiry queue after the commit).
func (m *Manager) applyMembership(tx store.Tx, c store.Campaign, it store.CampaignItem, now time.Time) (store.CampaignItem, error) {
	actor := it.DecidedBy
	effect, err := m.removeStanding(tx, now, it, actor, reasonOf(c, it))
	if err != nil {
		return it, err
	}
	detail := fmt.Sprintf("item %d: the standing membership leaves the directory through the expiry queue (%s)", it.Seq, effect)
	if it.Decision == store.DecisionJIT {
		if err := tx.AddJITGroup(it.Directory, it.GroupID, it.GroupName, it.UserID, now, actor); err != nil {
			return it, err
		}
		detail += "; from now on it is asked for by request (requester.jit_groups)"
	}
	it.Effect, it.AppliedAt = effect, now
	if err := tx.UpdateCampaignItem(it); err != nil {
		return it, err
	}
	return it, appendEvent(tx, c, it, now, actor, audit.ReviewApplied, detail)
}

func reasonOf(c store.Campaign, it store.CampaignItem) string {
	return fmt.Sprintf("access review %q (%s): %s", c.Name, c.ID, describe(it))
}

// removeStanding takes a standing membership out of the baseline and out of
// the directory: a removal-only grant, or, when the person holds a live
// grant on the group now, that grant's end (it owns the membership from
// now on, even one it found in place).
func (m *Manager) removeStanding(tx store.Tx, now time.Time, it store.CampaignItem, actor, reason string) (string, error) {
	if _, err := tx.RemoveBaselineMember(it.Directory, it.GroupID, it.UserID); err != nil {
		return "", err
	}
	live, err := tx.Grants(store.GrantFilter{Directory: it.Directory, GroupID: it.GroupID, UserID: it.UserID, States: grant.LiveStates})
	if err != nil {
		return "", err
	}
	if len(live) == 0 {
		g, err := grant.RemoveStandingTx(tx, now, it.Directory, connectors.Group{ID: it.GroupID, Name: it.GroupName},
			connectors.User{ID: it.UserID, Login: it.UserName}, actor, reason)
		return g.ID, err
	}
	for _, g := range live {
		if g.Preexisting {
			g.Preexisting, g.UpdatedAt = false, now
			if err := tx.UpdateGrant(g); err != nil {
				return "", err
			}
			if err := grant.AppendEvent(tx, g, now, actor, audit.GrantExtended, "the standing membership under this grant was revoked by a review: it now ends with the grant"); err != nil {
				return "", err
			}
		}
	}
	return live[0].ID, nil
}

// Close ends a campaign now: every item nobody decided becomes what the
// campaign says (keep or revoke), as at its due date.
func (m *Manager) Close(ctx context.Context, id, actor string) (store.Campaign, error) {
	now := m.clock.Now()
	// Bringing the due date forward first makes a close that a crash cut
	// short finish at the next run.
	err := m.store.Update(ctx, func(tx store.Tx) error {
		c, err := tx.Campaign(id)
		if err != nil {
			return notFound(err)
		}
		if c.State != store.CampaignOpen {
			return fmt.Errorf("%w: campaign %s is closed", ErrConflict, id)
		}
		if c.DueAt.After(now) {
			c.DueAt, c.NextAt, c.ClosedBy = now, now, actor
		}
		return tx.UpdateCampaign(c)
	})
	if err != nil {
		return store.Campaign{}, err
	}
	if err := m.finish(ctx, id); err != nil {
		return store.Campaign{}, err
	}
	if err := m.applyPending(ctx); err != nil {
		m.log.Error("review: effects of a closed campaign failed; retrying", "campaign", id, "err", err)
		m.Wake()
	}
	return m.store.Campaign(ctx, id)
}

// finish decides every undecided item of a due campaign as on_no_answer
// says, a chunk per transaction, and closes it.
func (m *Manager) finish(ctx context.Context, id string) error {
	for {
		done := false
		err := m.store.Update(ctx, func(tx store.Tx) error {
			c, err := tx.Campaign(id)
			if err != nil || c.State != store.CampaignOpen {
				done = true
				return err
			}
			now := m.clock.Now()
			pending, err := tx.CampaignItems(store.CampaignItemFilter{CampaignID: id, Pending: true, Limit: chunk})
			if err != nil {
				return err
			}
			closer := orElse(c.ClosedBy, "jitd")
			for _, it := range pending {
				it.Decision, it.DecidedBy, it.DecidedAt = c.OnNoAnswer, "jitd", now
				it.Comment = fmt.Sprintf("no answer by %s (on_no_answer: %s)", c.DueAt.UTC().Format(time.RFC3339), c.OnNoAnswer)
				if closer != "jitd" {
					it.Comment = fmt.Sprintf("no answer when %s closed the campaign (on_no_answer: %s)", closer, c.OnNoAnswer)
				}
				if err := tx.UpdateCampaignItem(it); err != nil {
					return err
				}
				if err := appendEvent(tx, c, it, now, "jitd", audit.ReviewDecided, describe(it)); err != nil {
					return err
				}
			}
			if len(pending) == chunk {
				return nil
			}
			done = true
			c.State, c.ClosedAt, c.ClosedBy, c.NextAt = store.CampaignClosed, now, closer, time.Time{}
			if err := tx.UpdateCampaign(c); err != nil {
				return err
			}
			return appendEvent(tx, c, store.CampaignItem{}, now, closer, audit.ReviewClosed, c.Name+" closed")
		})
		if err != nil {
			return fmt.Errorf("review: close campaign %s: %w", id, err)
		}
		if done {
			return nil
		}
	}
}

// applyPending hands on every revoke and jit decision whose effect is not
// handed on yet: after a crash, a directory's refusal, or a close.
// Memberships are applied a chunk per transaction.
func (m *Manager) applyPending(ctx context.Context) error {
	campaigns := map[string]store.Campaign{}
	var errs []error
	for {
		// What is handed on leaves the set, so each read starts over.
		items, err := m.store.CampaignItems(ctx, store.CampaignItemFilter{Unapplied: true, Limit: chunk})
		if err != nil {
			return err
		}
		var memberships []store.CampaignItem
		for _, it := range items {
			if _, ok := campaigns[it.CampaignID]; !ok {
				c, err := m.store.Campaign(ctx, it.CampaignID)
				if err != nil {
					return err
				}
				campaigns[it.CampaignID] = c
			}
			if it.Kind == store.ItemMembership {
				memberships = append(memberships, it)
			} else if err := m.apply(ctx, campaigns[it.CampaignID], it); err != nil {
				errs = append(errs, fmt.Errorf("campaign %s item %d: %w", it.CampaignID, it.Seq, err))
			}
		}
		if len(memberships) > 0 {
			now := m.clock.Now()
			err := m.store.Update(ctx, func(tx store.Tx) error {
				for _, it := range memberships {
					cur, err := tx.CampaignItem(it.CampaignID, it.Seq)
					if err != nil {
						return err
					}
					if !cur.AppliedAt.IsZero() {
						continue
					}
					if _, err := m.applyMembership(tx, campaigns[it.CampaignID], cur, now); err != nil {
						return fmt.Errorf("campaign %s item %d: %w", it.CampaignID, it.Seq, err)
					}
				}
				return nil
			})
			if err != nil {
				errs = append(errs, err)
			} else {
				m.grants.Changed()
			}
		}
		if len(items) < chunk || len(errs) > 0 {
			return errors.Join(errs...)
		}
	}
}

// RunOnce opens the recurring campaigns that are due, sends reminders,
// escalates, closes what is due and hands on pending effects. It returns
// when it must run next.
func (m *Manager) RunOnce(ctx context.Context) (time.Time, bool, error) {
	next, ok, err := m.openScheduled(ctx)
	if err != nil {
		return next, ok, err
	}
	open, err := m.store.Campaigns(ctx, store.CampaignFilter{State: store.CampaignOpen})
	if err != nil {
		return next, ok, err
	}
	now := m.clock.Now()
	for _, c := range open {
		if !c.NextAt.IsZero() && !now.Before(c.NextAt) {
			if err := m.act(ctx, c, now); err != nil {
				return next, ok, err
			}
		}
	}
	if err := m.applyPending(ctx); err != nil {
		return next, ok, err
	}
	due, found, err := m.store.NextCampaignDue(ctx)
	if err != nil {
		return next, ok, err
	}
	if found && (!ok || due.Before(next)) {
		next, ok = due, true
	}
	return next, ok, nil
}

// act does what is due on one open campaign.
func (m *Manager) act(ctx context.Context, c store.Campaign, now time.Time) error {
	if !now.Before(c.DueAt) {
		return m.finish(ctx, c.ID)
	}
	_, _, remind, escalate := Settings(c)
	if escalate > 0 && !c.Escalated && !now.Before(c.CreatedAt.Add(escalate)) {
		if err := m.escalate(ctx, c); err != nil {
			return err
		}
		c.Escalated = true
	}
	reminded := c.Reminders
	for c.Reminders < len(remind) && !now.Before(c.DueAt.Add(-remind[c.Reminders])) {
		c.Reminders++
	}
	c.NextAt = nextAction(c, remind, escalate)
	return m.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.UpdateCampaign(c); err != nil {
			return err
		}
		if c.Reminders == reminded {
			return nil
		}
		counts, err := m.store.CampaignCounts(ctx, c.ID)
		if err != nil || counts.Pending == 0 {
			return err
		}
		return appendEvent(tx, c, store.CampaignItem{}, now, "jitd", audit.ReviewReminder,
			fmt.Sprintf("%s: %d items still wait for a decision, due %s", c.Name, counts.Pending, c.DueAt.UTC().Format(time.RFC3339)))
	})
}

// escalate gives every undecided item its reviewers' managers too (the
// subject's manager when it had no reviewer), never the subject.
func (m *Manager) escalate(ctx context.Context, c store.Campaign) error {
	r := newResolver(ctx, m.store)
	moved := 0
	for after := 0; ; {
		pending, err := m.store.CampaignItems(ctx, store.CampaignItemFilter{CampaignID: c.ID, Pending: true, AfterSeq: after, Limit: chunk})
		if err != nil {
			return err
		}
		var changed []store.CampaignItem
		for _, it := range pending {
			after = it.Seq
			who := it.Reviewers
			if len(who) == 0 {
				who = []string{it.UserName}
			}
			add := []string{}
			for _, w := range who {
				boss, err := r.manager(it.Directory, w)
				if err != nil {
					return err
				}
				add = append(add, boss)
			}
			if grown := others(append(append([]string{}, it.Reviewers...), add...), it.UserName); len(grown) > len(it.Reviewers) {
				it.Reviewers = grown
				changed = append(changed, it)
			}
		}
		err = m.store.Update(ctx, func(tx store.Tx) error {
			for _, it := range changed {
				cur, err := tx.CampaignItem(it.CampaignID, it.Seq)
				if err != nil {
					return err
				}
				if cur.Decision != "" {
					continue // decided meanwhile
				}
				cur.Reviewers = it.Reviewers
				if err := tx.UpdateCampaignItem(cur); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		moved += len(changed)
		if len(pending) < chunk {
			break
		}
	}
	return m.store.Update(ctx, func(tx store.Tx) error {
		return appendEvent(tx, c, store.CampaignItem{}, m.clock.Now(), "jitd", audit.ReviewEscalated,
			fmt.Sprintf("%s: %d undecided items went to their reviewers' managers too", c.Name, moved))
	})
}

// openScheduled opens each recurring campaign whose time has come and
// returns when the next one is due.
func (m *Manager) openScheduled(ctx context.Context) (time.Time, bool, error) {
	var next time.Time
	ok := false
	now := m.clock.Now()
	for _, s := range m.config.Load().Campaigns {
		last, err := m.store.Campaigns(ctx, store.CampaignFilter{Schedule: s.Name, Limit: 1})
		if err != nil {
			return next, ok, err
		}
		at := now
		if len(last) > 0 {
			at = last[0].CreatedAt.Add(s.Every)
		}
		if !now.Before(at) {
			c, err := m.Create(ctx, s.Spec, "jitd", s.Name)
			if err != nil {
				m.log.Error("review: a recurring campaign did not open", "campaign", s.Name, "err", err)
				return next, ok, err
			}
			at = c.CreatedAt.Add(s.Every)
		}
		if !ok || at.Before(next) {
			next, ok = at, true
		}
	}
	return next, ok, nil
}

// Run runs the review loop until ctx is cancelled.
func (m *Manager) Run(ctx context.Context) error {
	work.Loop(ctx, m.clock, m.wake, m.RunOnce, func(n int) time.Duration { return min(time.Duration(n)*30*time.Second, 5*time.Minute) },
		func(err error, wait time.Duration) {
			m.log.Error("reviews: a pass failed; retrying", "err", err, "retry_in", wait)
		})
	return nil
}

func orElse(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
