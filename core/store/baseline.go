package store

import (
	"context"
	"time"
)

// Drift is a member of a JIT-managed group that nobody granted.
type Drift struct {
	Directory, GroupID, UserID, GroupName, UserName string
	FirstSeen, LastSeen                             time.Time
}

// BaselineMember is one standing member of a group's baseline.
type BaselineMember struct {
	UserID  string
	AddedAt time.Time
	AddedBy string // "jitd" when recorded at first sight; else who accepted it
}

// Baselines is the store's part for baselines and drift.
type Baselines interface {
	// BaselineMembers returns a group's baseline members with when and by
	// whom each was added, by user id.
	BaselineMembers(ctx context.Context, directory, groupID string) ([]BaselineMember, error)
	// Baseline returns the baseline members of a group, and whether one was recorded.
	Baseline(ctx context.Context, directory, groupID string) ([]string, bool, error)
	// Drift lists open drift, by directory ("" for all).
	Drift(ctx context.Context, directory string) ([]Drift, error)
}

// BaselinesTx is the write transaction's part for baselines and drift.
type BaselinesTx interface {
	// RecordBaseline marks a group's baseline as recorded (at most once) and
	// adds members to it.
	RecordBaseline(directory, groupID string, userIDs []string, at time.Time, by string) error
	// RemoveBaselineMember takes a member out of a group's baseline; it
	// reports whether they were in it.
	RemoveBaselineMember(directory, groupID, userID string) (bool, error)
	// OpenDrift records drift (or refreshes LastSeen); it reports whether it is new.
	OpenDrift(d Drift) (bool, error)
	// CloseDrift removes a drift row; it reports whether there was one.
	CloseDrift(directory, groupID, userID string) (bool, error)
}
