package work

import (
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/backoff"
)

// Retry is what becomes of work whose attempt failed: it is tried again
// after a backoff with jitter, or when the directory's rate limit says;
// and once it has failed too often, for too long, or for good, it enters
// its failed state — counted, alerted once, and still retried. Nothing is
// ever dropped.
type Retry struct {
	// MaxAttempts failed attempts in a row fail the work.
	MaxAttempts int
	// AlertAfter fails work still not done this long after it fell due,
	// however few its attempts (0: no such limit).
	AlertAfter time.Duration
	// MaxThrottle fails work a rate limit holds back this long after it
	// fell due (0: rate limiting never does; it is not failure).
	MaxThrottle time.Duration
	Backoff     *backoff.Backoff
}

// Attempt is a failed attempt at work that fell due at Due and had failed
// Attempts times in a row before.
type Attempt struct {
	Attempts int
	Due, Now time.Time
	Err      error
	// Failed says the work is in its failed state already: it is alerted
	// once, on the way in.
	Failed bool
}

// Verdict is what follows a failed attempt.
type Verdict struct {
	// Attempts counts this one too, unless the directory only asked to
	// wait (Limited).
	Attempts int
	Next     time.Time
	Limited  bool
	Overdue  time.Duration
	// Fail: the work has failed now and was not failed before; record its
	// failed state and alert.
	Fail bool
}

// After decides what follows a failed attempt.
func (r Retry) After(a Attempt) Verdict {
	wait, limited := connectors.RetryAfter(a.Err)
	v := Verdict{Attempts: a.Attempts, Limited: limited, Overdue: a.Now.Sub(a.Due)}
	if !limited {
		v.Attempts++
		wait = r.Backoff.Delay(v.Attempts)
	}
	v.Next = a.Now.Add(wait)
	tooLong := r.AlertAfter > 0 && !limited && v.Overdue >= r.AlertAfter
	throttled := r.MaxThrottle > 0 && limited && v.Overdue > r.MaxThrottle
	v.Fail = !a.Failed && (v.Attempts >= r.MaxAttempts || !connectors.Retryable(a.Err) || tooLong || throttled)
	return v
}
