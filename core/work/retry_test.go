package work_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/backoff"
	"github.com/jitd/jitd/core/work"
)

// A failed attempt is retried after a growing backoff, or when a rate limit
// says; the work fails (once) after MaxAttempts, at once for an error no
// retry can fix, after AlertAfter overdue, or when a rate limit holds it
// back past MaxThrottle; rate limiting alone is not a failed attempt.
func TestRetry_BacksOffAndFailsOnceForTheRightReasons(t *testing.T) {
	due := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	r := work.Retry{MaxAttempts: 3, AlertAfter: 20 * time.Second, MaxThrottle: 15 * time.Minute, Backoff: backoff.New(time.Second, time.Minute, 1)}
	down := fmt.Errorf("no answer: %w", connectors.ErrUnavailable)
	limited := &connectors.RateLimitError{Wait: 40 * time.Second}
	for _, tc := range []struct {
		name     string
		a        work.Attempt
		attempts int
		wait     time.Duration // exact, or the backoff's upper bound when backoff is set
		backoff  bool
		fail     bool
	}{
		{"first failure", work.Attempt{Due: due, Now: due.Add(time.Second), Err: down}, 1, time.Second, true, false},
		{"third failure in a row", work.Attempt{Attempts: 2, Due: due, Now: due.Add(5 * time.Second), Err: down}, 3, 4 * time.Second, true, true},
		{"already failed: no second alert", work.Attempt{Attempts: 5, Due: due, Now: due.Add(time.Minute), Err: down, Failed: true}, 6, 32 * time.Second, true, false},
		{"never retryable", work.Attempt{Due: due, Now: due, Err: fmt.Errorf("bad: %w", connectors.ErrPermission)}, 1, time.Second, true, true},
		{"overdue past AlertAfter", work.Attempt{Due: due, Now: due.Add(20 * time.Second), Err: down}, 1, time.Second, true, true},
		{"rate limited: not an attempt", work.Attempt{Attempts: 2, Due: due, Now: due.Add(time.Hour - 46*time.Minute), Err: limited}, 2, 40 * time.Second, false, false},
		{"rate limited past MaxThrottle", work.Attempt{Due: due, Now: due.Add(16 * time.Minute), Err: limited}, 0, 40 * time.Second, false, true},
	} {
		v := r.After(tc.a)
		wait := v.Next.Sub(tc.a.Now)
		okWait := wait == tc.wait
		if tc.backoff {
			okWait = wait >= tc.wait/2 && wait <= tc.wait
		}
		if v.Attempts != tc.attempts || !okWait || v.Fail != tc.fail || v.Limited != errors.Is(tc.a.Err, connectors.ErrRateLimited) {
			t.Errorf("%s: %+v (wait %s); want %d attempts, wait %s, fail %v", tc.name, v, wait, tc.attempts, tc.wait, tc.fail)
		}
	}
}
