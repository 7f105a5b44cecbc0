package request

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/work"
)

// Pending requests nobody decided on expire: one loop sleeps until the
// earliest one is due, or until woken by a new request.

// Wake makes the loop look again now. It never blocks.
func (m *Manager) Wake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// ExpireDue expires the pending requests whose time is up and returns how many.
func (m *Manager) ExpireDue(ctx context.Context) (int, error) {
	now := m.clock.Now()
	n := 0
	err := m.store.Update(ctx, func(tx store.Tx) error {
		due, err := tx.ExpiredRequests(now, 1000)
		if err != nil {
			return err
		}
		for _, r := range due {
			r.State, r.UpdatedAt, r.DecidedAt, r.DecidedBy = store.RequestExpired, now, now, "jitd"
			r.Detail = "nobody decided by " + r.ExpiresAt.UTC().Format(time.RFC3339)
			if err := tx.UpdateRequest(r); err != nil {
				return err
			}
			if err := appendEvent(tx, r, now, "jitd", ActionExpired, r.Detail); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("request: expire: %w", err)
	}
	return n, nil
}

// StartDue makes the grants of approved requests whose start has come and
// returns how many it made. What is due is read from the store, so a start
// that came while jitd was down is made at the next run.
func (m *Manager) StartDue(ctx context.Context) (int, error) {
	due, err := m.store.StartingRequests(ctx, m.clock.Now(), 1000)
	if err != nil {
		return 0, fmt.Errorf("request: start: %w", err)
	}
	n := 0
	for _, r := range due {
		started := r
		started.UpdatedAt, started.Detail = m.clock.Now(), ""
		// The grant and the request's link to it are recorded together,
		// and only while the request still waits for its grant.
		check := func(tx store.Tx) error {
			cur, err := tx.Request(r.ID)
			if err != nil {
				return err
			}
			if cur.State != store.RequestApproved || cur.GrantID != "" {
				return fmt.Errorf("%w: request %s is %s (grant %q)", ErrConflict, r.ID, cur.State, cur.GrantID)
			}
			return nil
		}
		if _, err := m.grantFor(ctx, r, started, r.DecidedBy, ActionStarted, check); err != nil {
			if errors.Is(err, ErrConflict) {
				continue // cancelled or started meanwhile
			}
			m.log.Error("request: the grant of a request whose start came was not made", "request_id", r.ID, "err", err)
			continue
		}
		n++
	}
	return n, nil
}

// Run expires requests and starts approved ones on time until ctx is
// cancelled.
func (m *Manager) Run(ctx context.Context) error {
	work.Loop(ctx, m.clock, m.wake, func(ctx context.Context) (time.Time, bool, error) {
		if _, err := m.ExpireDue(ctx); err != nil {
			return time.Time{}, false, err
		}
		if _, err := m.StartDue(ctx); err != nil {
			return time.Time{}, false, err
		}
		return m.store.NextRequestDue(ctx)
	}, func(int) time.Duration { return time.Minute }, func(err error, wait time.Duration) {
		m.log.Error("requests: expiring failed; retrying", "err", err, "retry_in", wait)
	})
	return nil
}
