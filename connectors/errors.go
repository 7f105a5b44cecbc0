package connectors

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Connectors wrap one of them so callers can decide what to do
// with errors.Is; the plugin layer carries each across the process boundary.
var (
	// ErrNotFound: the user, group or account does not exist. Do not retry.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the directory could not be reached or failed. Retry.
	ErrUnavailable = errors.New("directory unavailable")
	// ErrRateLimited: the directory asked us to slow down. Retry after RetryAfter.
	ErrRateLimited = errors.New("rate limited")
	// ErrPermission: the credentials lack a right. Do not retry until fixed.
	ErrPermission = errors.New("permission denied")
	// ErrInvalid: the request can never succeed as made. Do not retry.
	ErrInvalid = errors.New("invalid request")
	// ErrCursorExpired: a change cursor is no longer accepted; run a full sync.
	ErrCursorExpired = errors.New("cursor expired")
	// ErrConflict: an object with that name already exists. Do not retry.
	ErrConflict = errors.New("already exists")
)

// Sentinels lists every sentinel error, for tables that must cover them all.
var Sentinels = []error{ErrNotFound, ErrUnavailable, ErrRateLimited, ErrPermission, ErrInvalid, ErrCursorExpired, ErrConflict}

// RateLimitError is an ErrRateLimited that says how long to wait.
type RateLimitError struct {
	Wait time.Duration
	Msg  string
}

func (e *RateLimitError) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("rate limited: retry after %s", e.Wait)
	}
	return fmt.Sprintf("%s: rate limited: retry after %s", e.Msg, e.Wait)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// RetryAfter returns the wait a rate-limited error asks for.
func RetryAfter(err error) (time.Duration, bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl.Wait, true
	}
	return 0, false
}

// Retryable reports whether an operation that failed with err may succeed later.
// Unknown errors are retried: giving up on a revocation is never the safe side.
func Retryable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrInvalid), errors.Is(err, ErrPermission), errors.Is(err, ErrConflict):
		return false
	}
	return true
}
