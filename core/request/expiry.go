package request

import (
	"context"
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

// Run expires requests on time until ctx is cancelled.
func (m *Manager) Run(ctx context.Context) error {
	work.Loop(ctx, m.clock, m.wake, func(ctx context.Context) (time.Time, bool, error) {
		if _, err := m.ExpireDue(ctx); err != nil {
			return time.Time{}, false, err
		}
		return m.store.NextRequestExpiry(ctx)
	}, func(int) time.Duration { return time.Minute }, func(err error, wait time.Duration) {
		m.log.Error("requests: expiring failed; retrying", "err", err, "retry_in", wait)
	})
	return nil
}
