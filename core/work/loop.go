// Package work runs jitd's durable work: grant removals, the contractor
// account lifecycle, request expiry, session ends, the notification outbox
// and directory syncs. Each is a pass over what is due, run by one loop that
// sleeps until the next work falls due or something wakes it, and backs off
// after a failed pass; the work itself lives in the store, so nothing is
// lost when the process stops.
package work

import (
	"context"
	"time"

	"github.com/jitd/jitd/core/clock"
)

// Pass is one round of a due-work loop: it does what is due and says when
// the next work falls due (ok false: nothing is scheduled).
type Pass func(ctx context.Context) (next time.Time, ok bool, err error)

// Loop runs pass until ctx is cancelled, sleeping between passes until the
// next work falls due or wake delivers (no fixed polling period). After a
// failed pass it waits retry(n) for the n-th failure in a row and reports the
// error to failed.
func Loop(ctx context.Context, c clock.Clock, wake <-chan struct{}, pass Pass, retry func(n int) time.Duration, failed func(err error, wait time.Duration)) {
	failures := 0
	for ctx.Err() == nil {
		wait := time.Duration(-1)
		next, ok, err := pass(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			wait = retry(failures)
			failed(err, wait)
		case err != nil:
			return
		case ok:
			failures = 0
			wait = max(next.Sub(c.Now()), 0)
		default:
			failures = 0
		}
		if wait == 0 {
			continue
		}
		var timer clock.Timer
		var timerC <-chan time.Time
		if wait > 0 {
			timer = c.NewTimer(wait)
			timerC = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-timerC:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}
