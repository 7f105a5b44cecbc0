package store

import (
	"context"
	"time"
)

// SignIns is the store's part for sign-in sessions and single-use links.
type SignIns interface {
	// SessionsEndedAt returns when login last signed out (zero: never):
	// their browser sessions issued before then are void.
	SessionsEndedAt(ctx context.Context, login string) (time.Time, error)
}

// SignInsTx is the write transaction's part for sign-in sessions and single-use links.
type SignInsTx interface {
	// EndSessions voids login's browser sessions issued up to at.
	EndSessions(login string, at time.Time) error
	// UseLink records a single-use link's key until expires, forgetting
	// links expired by now; false means it was used already.
	UseLink(key string, expires, now time.Time) (bool, error)
	// ForgetLink makes a link usable again (its use failed).
	ForgetLink(key string) error
}
