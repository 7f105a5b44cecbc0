package request

import (
	"context"
	"fmt"
	"time"

	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/store"
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
	for {
		if ctx.Err() != nil {
			return nil
		}
		wait := time.Duration(-1)
		if _, err := m.ExpireDue(ctx); err != nil {
			m.log.Error("requests: expiring failed; retrying", "err", err)
			wait = time.Minute
		} else if next, ok, err := m.store.NextRequestExpiry(ctx); err != nil {
			wait = time.Minute
		} else if ok {
			wait = max(next.Sub(m.clock.Now()), 0)
		}
		if wait == 0 {
			continue
		}
		var timer clock.Timer
		var timerC <-chan time.Time
		if wait > 0 {
			timer = m.clock.NewTimer(wait)
			timerC = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-m.wake:
		case <-timerC:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}
