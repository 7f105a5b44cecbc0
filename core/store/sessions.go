package store

import (
	"context"
	"time"
)

// Session-end states.
const (
	SessionsPending = "pending"
	SessionsFailed  = "failed" // alerted, still retried
	SessionsEnded   = "ended"
)

// SessionEnd is the ending of a user's sessions after their membership of
// a group with end_sessions went, keyed by the grant.
type SessionEnd struct {
	GrantID     string
	Directory   string
	UserID      string
	UserName    string
	GroupName   string
	State       string
	Attempts    int
	NextAttempt time.Time
	LastError   string
	CreatedAt   time.Time
	EndedAt     time.Time
}

// SessionEnds is the store's part for ending sessions.
type SessionEnds interface {
	// SessionEnd returns the session end of a grant.
	SessionEnd(ctx context.Context, grantID string) (SessionEnd, error)
	// NextSessionEndDue returns when the earliest unfinished one is due.
	NextSessionEndDue(ctx context.Context) (time.Time, bool, error)
}

// SessionEndsTx is the transaction's part for ending sessions.
type SessionEndsTx interface {
	// InsertSessionEnd records one (a second for the same grant is
	// ignored).
	InsertSessionEnd(e SessionEnd) error
	// UpdateSessionEnd stores its state, attempts, next attempt, error and
	// end.
	UpdateSessionEnd(e SessionEnd) error
	// DueSessionEnds returns unfinished ones due at now, oldest first.
	DueSessionEnds(now time.Time, limit int) ([]SessionEnd, error)
	// RetrySessionEndsNow makes a directory's ones waiting out a backoff
	// due at now.
	RetrySessionEndsNow(directory string, now time.Time) (int, error)
}
