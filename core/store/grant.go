package store

import (
	"context"
	"slices"
	"time"
)

// State is a grant's place in its state machine (see docs/design.md).
type State string

// Grant states.
const (
	StatePending      State = "pending"
	StateApplying     State = "applying"
	StateActive       State = "active"
	StateApplyFailed  State = "apply_failed"
	StateRevoking     State = "revoking"
	StateRevokeFailed State = "revoke_failed"
	StateRevoked      State = "revoked"
	StateCancelled    State = "cancelled"
)

// States lists every state, in lifecycle order.
var States = []State{StatePending, StateApplying, StateActive, StateApplyFailed, StateRevoking, StateRevokeFailed, StateRevoked, StateCancelled}

// Valid reports whether s is a known state.
func (s State) Valid() bool { return slices.Contains(States, s) }

// Grant is "user U is a member of group G from StartsAt until ExpiresAt".
type Grant struct {
	ID        string
	Directory string
	GroupID   string
	GroupName string
	UserID    string
	UserName  string
	State     State
	Reason    string
	CreatedBy string
	// Preexisting: the user was a member before jitd acted and no jitd grant put
	// them there, so the end of this grant must not remove the membership.
	Preexisting bool
	StartsAt    time.Time
	ExpiresAt   time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
	EndedAt     time.Time // when the membership was removed or found not ours; zero while live
	EndReason   string    // expired, revoked by <actor>, ...
	Attempts    int       // failed removal attempts since claimed
	NextAttempt time.Time // earliest next removal attempt
	LastError   string
	LeaseOwner  string
	LeaseUntil  time.Time
	// VanishedAt is when reconciliation found the membership gone from the
	// directory although the grant is active (removed outside jitd).
	VanishedAt time.Time
}

// GrantFilter selects grants; zero fields match everything.
type GrantFilter struct {
	States    []State
	Directory string
	GroupID   string
	UserID    string
	UserIDs   []string // any of these users
	GroupName string
	UserName  string
	// EndedSince leaves out grants that ended before it (live ones have
	// not ended and stay in).
	EndedSince time.Time
	Limit      int // 0: no limit
	Offset     int // skip this many of the newest first (a page)
}

// Grants is the store's part for grants.
type Grants interface {
	Grant(ctx context.Context, id string) (Grant, error)
	Grants(ctx context.Context, f GrantFilter) ([]Grant, error)
	CountGrants(ctx context.Context) (map[State]int, error)
	// NextDue returns the earliest time at which DueGrants may return a grant.
	NextDue(ctx context.Context) (time.Time, bool, error)
	// GrantsOfDeparted returns the directory's grants in one of states,
	// created before createdBefore, whose user is not an enabled user of the
	// directory's mirror: gone from it or disabled. One query, however many
	// grants are live.
	GrantsOfDeparted(ctx context.Context, directory string, states []State, createdBefore time.Time) ([]Grant, error)
}

// GrantsTx is the write transaction's part for grants.
type GrantsTx interface {
	Grant(id string) (Grant, error)
	InsertGrant(g Grant) error
	// UpdateGrant replaces every mutable field of the grant with g's.
	UpdateGrant(g Grant) error
	// Grants selects grants inside the transaction.
	Grants(f GrantFilter) ([]Grant, error)
	// DueGrants returns grants that need a removal attempt at now: active or
	// apply_failed past expires_at, or revoking/revoke_failed whose next attempt
	// is due and whose lease has run out. Oldest first.
	DueGrants(now time.Time, limit int) ([]Grant, error)
	// ClaimExpired moves up to limit active or apply_failed grants past
	// expires_at to revoking under owner's lease until leaseUntil (their
	// end reason "expired" unless one is set), in one statement, and
	// returns them as they are now, oldest first.
	ClaimExpired(now time.Time, limit int, owner string, leaseUntil time.Time) ([]Grant, error)
	// ReleaseLeases clears the leases held by owner (used at start-up).
	ReleaseLeases(owner string) (int, error)
	// RetryGrantsNow makes the removals of a directory that wait out a
	// backoff (revoking, revoke_failed, next attempt after now) due at now;
	// leased ones are in flight and left alone. It returns how many.
	RetryGrantsNow(directory string, now time.Time) (int, error)
}
