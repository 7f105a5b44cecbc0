package expiry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/work"
)

// claim marks the due grants revoking under this instance's lease, in one
// transaction, and returns them: grants past their end in one statement,
// then removals due for another attempt.
func (s *Scheduler) claim(ctx context.Context) ([]store.Grant, error) {
	now := s.clock.Now()
	var claimed []store.Grant
	err := s.store.Update(ctx, func(tx store.Tx) error {
		expired, err := tx.ClaimExpired(now, s.cfg.ClaimLimit, s.cfg.Owner, now.Add(s.cfg.Lease))
		if err != nil {
			return err
		}
		for _, g := range expired {
			if err := grant.AppendEvent(tx, g, now, "jitd", audit.GrantRevoking, "expired at "+g.ExpiresAt.UTC().Format(time.RFC3339Nano)); err != nil {
				return err
			}
		}
		claimed = expired
		if len(claimed) == s.cfg.ClaimLimit {
			return nil
		}
		retries, err := tx.DueGrants(now, s.cfg.ClaimLimit-len(claimed))
		if err != nil {
			return err
		}
		for _, g := range retries {
			if s.batches.InFlight(g.ID) {
				continue
			}
			g.LeaseOwner, g.LeaseUntil, g.UpdatedAt = s.cfg.Owner, now.Add(s.cfg.Lease), now
			if err := tx.UpdateGrant(g); err != nil {
				return err
			}
			claimed = append(claimed, g)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("expiry: claim: %w", err)
	}
	return claimed, nil
}

type groupKey struct{ directory, groupID string }

// ranBatch follows each batch, its grants no longer in flight.
func (s *Scheduler) ranBatch(k groupKey) {
	if s.afterBatch != nil {
		s.afterBatch(k.directory, k.groupID)
	}
	s.Wake() // outcomes may have moved the next due time
}

// removeBatch ends a batch of grants on one group: it decides which
// memberships are jitd's to remove, removes them in one call, gives the
// directory slot back, and records every outcome (with those of batches
// that finish meanwhile) in one transaction.
func (s *Scheduler) removeBatch(ctx context.Context, k groupKey, batch []store.Grant, release func()) {
	unlock := s.dirs.Lock(k.directory, k.groupID)
	defer unlock()

	toRemove, kept, err := s.partition(ctx, k, batch)
	if err != nil {
		s.log.Error("expiry: check overlapping grants", "directory", k.directory, "group_id", k.groupID, "err", err)
		return // leases run out and the batch is retried
	}
	o := &outcome{kept: kept, removed: toRemove}
	began := s.clock.Now()
	if len(toRemove) > 0 {
		o.results, o.callErr = s.remove(ctx, k, toRemove)
	}
	release()
	// A failure in a call begun before the directory came back is news
	// from the outage: retry it at once.
	o.stale = o.callErr != nil && s.Health != nil && s.Health.BackSince(k.directory, began)
	if err := s.record(ctx, o); err != nil {
		// The membership is gone (or not) in the directory but we could not say
		// so; the lease runs out, the removal is retried, and it is idempotent.
		s.log.Error("expiry: record outcome", "directory", k.directory, "group_id", k.groupID, "err", err)
	}
}

// keptGrant is a grant that ends without a directory call, and why.
type keptGrant struct {
	grant store.Grant
	note  string
}

// partition splits a batch into grants whose membership must be removed and
// grants that end without a directory call (pre-existing membership, or one
// still covered by another live grant). It only reads: the (directory, group)
// lock keeps new grants from going live meanwhile.
func (s *Scheduler) partition(ctx context.Context, k groupKey, batch []store.Grant) (toRemove []store.Grant, kept []keptGrant, err error) {
	users := make([]string, 0, len(batch))
	for _, g := range batch {
		users = append(users, g.UserID)
	}
	live, err := s.store.Grants(ctx, store.GrantFilter{Directory: k.directory, GroupID: k.groupID, UserIDs: users, States: grant.LiveStates})
	if err != nil {
		return nil, nil, err
	}
	coveredBy := map[string]string{}
	for _, l := range live {
		coveredBy[l.UserID] = l.ID
	}
	for _, g := range batch {
		other, covered := coveredBy[g.UserID]
		switch {
		case g.Preexisting:
			kept = append(kept, keptGrant{g, "membership predates jitd; left in place"})
		case covered:
			kept = append(kept, keptGrant{g, "membership kept: still granted by " + other})
		default:
			toRemove = append(toRemove, g)
		}
	}
	return toRemove, kept, nil
}

func (s *Scheduler) finish(tx store.Tx, g store.Grant, now time.Time, detail string) error {
	g.State, g.EndedAt, g.UpdatedAt, g.LastError = store.StateRevoked, now, now, ""
	g.LeaseOwner, g.LeaseUntil, g.NextAttempt = "", time.Time{}, time.Time{}
	if err := tx.UpdateGrant(g); err != nil {
		return err
	}
	s.metrics.observeRevoked(g, now)
	return grant.AppendEvent(tx, g, now, "jitd", audit.GrantRevoked, g.EndReason+"; "+detail)
}

// endsSessions says whether the grant's group asks for the user's sessions
// to be ended with the membership.
func (s *Scheduler) endsSessions(g store.Grant) bool {
	d, ok := s.dirs.Set[g.Directory]
	if !ok {
		return false
	}
	gp, _ := d.Group(g.GroupName)
	return gp.EndSessions
}

// remove makes the batched directory call.
func (s *Scheduler) remove(ctx context.Context, k groupKey, gs []store.Grant) ([]connectors.MemberResult, error) {
	dir, ok := s.dirs.Set[k.directory]
	if !ok {
		return nil, fmt.Errorf("%s: %w", k.directory, errNoDirectory)
	}
	mm, ok := connectors.AsMembershipManager(dir.Conn)
	if !ok {
		return nil, fmt.Errorf("%s: cannot manage membership: %w", k.directory, connectors.ErrInvalid)
	}
	var users []string
	seen := map[string]bool{}
	for _, g := range gs {
		if !seen[g.UserID] {
			seen[g.UserID] = true
			users = append(users, g.UserID)
		}
	}
	ctx, cancel := s.dirs.Deadline(ctx)
	defer cancel()
	return mm.RemoveMembers(ctx, k.groupID, users)
}

// outcome is what one batch's directory call came to, waiting to be
// recorded; the commit fills in what happened after it.
type outcome struct {
	kept    []keptGrant
	removed []store.Grant
	results []connectors.MemberResult
	callErr error
	stale   bool

	alerts, ended []store.Grant
	queued        bool
	done          chan error
}

// record commits the end of the kept grants and the outcome of the removal
// call for each removed one, then logs, alerts and wakes what follows.
func (s *Scheduler) record(ctx context.Context, o *outcome) error {
	if err := s.commits.commit(ctx, o, s.commitOutcomes); err != nil {
		return err
	}
	if o.queued && s.Sessions != nil {
		s.Sessions.Wake()
	}
	now := s.clock.Now()
	for _, g := range o.ended {
		s.log.Info("grant revoked", "grant_id", g.ID, "directory", g.Directory, "group", g.GroupName, "user", g.UserName,
			"reason", g.EndReason, "late", max(now.Sub(g.ExpiresAt), 0))
	}
	for _, g := range o.alerts {
		s.log.Error("ALERT: removal keeps failing; the grant is revoke_failed and still retried",
			"grant_id", g.ID, "directory", g.Directory, "group", g.GroupName, "user", g.UserName, "attempts", g.Attempts, "err", g.LastError)
		s.alert(g, errors.New(g.LastError))
	}
	return nil
}

// commitOutcomes records outcomes in one transaction.
func (s *Scheduler) commitOutcomes(ctx context.Context, os []*outcome) error {
	now := s.clock.Now()
	return s.store.Update(ctx, func(tx store.Tx) error {
		for _, o := range os {
			if err := s.recordTx(tx, o, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// recordTx writes one outcome in the caller's transaction.
func (s *Scheduler) recordTx(tx store.Tx, o *outcome, now time.Time) error {
	byUser := map[string]error{}
	for _, r := range o.results {
		byUser[r.UserID] = r.Err
	}
	o.alerts, o.ended, o.queued = o.alerts[:0], o.ended[:0], false
	for _, k := range o.kept {
		if err := s.finish(tx, k.grant, now, k.note); err != nil {
			return err
		}
		o.ended = append(o.ended, k.grant)
	}
	for _, g := range o.removed {
		err := o.callErr
		if err == nil {
			var ok bool
			if err, ok = byUser[g.UserID]; !ok {
				err = fmt.Errorf("connector returned no result for user %s: %w", g.UserID, connectors.ErrUnavailable)
			}
		}
		if err == nil || errors.Is(err, connectors.ErrNotFound) {
			detail := "member removed"
			if err != nil {
				detail = "user or group no longer exists: " + err.Error()
			}
			if err := s.finish(tx, g, now, detail); err != nil {
				return err
			}
			o.ended = append(o.ended, g)
			if s.endsSessions(g) {
				o.queued = true
				if err := tx.InsertSessionEnd(store.SessionEnd{GrantID: g.ID, Directory: g.Directory, UserID: g.UserID, UserName: g.UserName,
					GroupName: g.GroupName, State: store.SessionsPending, CreatedAt: now, NextAttempt: now}); err != nil {
					return err
				}
			}
			continue
		}
		g.LastError = err.Error()
		g.LeaseOwner, g.LeaseUntil, g.UpdatedAt = "", time.Time{}, now
		// Being rate limited is throttling, not failure: it does not count
		// towards revoke_failed, unless it holds the removal back too long.
		v := s.retry.After(work.Attempt{Attempts: g.Attempts, Due: g.ExpiresAt, Now: now, Err: err, Failed: g.State == store.StateRevokeFailed})
		g.Attempts, g.NextAttempt = v.Attempts, v.Next
		if o.stale && !v.Limited {
			g.NextAttempt = now // begun before the directory came back: retry at once
		}
		s.metrics.observeFailure()
		overdue, limited, escalate := v.Overdue, v.Limited, v.Fail
		if escalate {
			g.State = store.StateRevokeFailed
			o.alerts = append(o.alerts, g)
		}
		if err := tx.UpdateGrant(g); err != nil {
			return err
		}
		if escalate {
			detail := fmt.Sprintf("removal failed %d times and is %s overdue, still retrying: %v", g.Attempts, overdue.Round(time.Second), err)
			if limited {
				detail = fmt.Sprintf("removal held back by the directory's rate limit for %s, still retrying: %v", overdue.Round(time.Second), err)
			}
			if err := grant.AppendEvent(tx, g, now, "jitd", audit.GrantRevokeFailed, detail); err != nil {
				return err
			}
		}
	}
	return nil
}
