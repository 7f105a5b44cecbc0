package store

import (
	"context"
	"time"

	"github.com/jitd/jitd/connectors"
)

// SyncState is where one directory's mirror stands.
type SyncState struct {
	Directory         string
	Cursor            string // the connector's opaque cursor; "" before the first full sync
	Gen               int64  // generation of the last full sync
	LastFullAt        time.Time
	LastIncrementalAt time.Time
	CursorAt          time.Time // when Cursor was committed
	LastError         string    // empty after a successful sync
	LastErrorAt       time.Time
	FullSyncs         int64
	IncrementalSyncs  int64
	CursorExpired     int64
}

// MirrorCounts is the size of one directory's mirror.
type MirrorCounts struct {
	Users, Groups, Members int
}

// Mirror is the store's part for the mirror of each directory and its sync state.
type Mirror interface {
	// SyncState returns a directory's sync state (zero with ErrNotFound if never synced).
	SyncState(ctx context.Context, directory string) (SyncState, error)
	MirrorCounts(ctx context.Context, directory string) (MirrorCounts, error)
	// Person says whether login is a user of any directory's mirror, and
	// an enabled one; synced says whether any directory was read yet.
	Person(ctx context.Context, login string) (found, enabled, synced bool, err error)
	// MirrorUser finds a user by login in the mirror.
	MirrorUser(ctx context.Context, directory, login string) (connectors.User, error)
	// MirrorMembers lists the mirrored direct members of a group.
	MirrorMembers(ctx context.Context, directory, groupID string) ([]connectors.User, error)
	// MirrorGroup finds a group by name in the mirror.
	MirrorGroup(ctx context.Context, directory, name string) (connectors.Group, error)
	// MirrorUserGroups lists the mirrored groups a user is a direct member of,
	// by name.
	MirrorUserGroups(ctx context.Context, directory, userID string) ([]string, error)
	// MirrorUserByID finds a user by id in the mirror.
	MirrorUserByID(ctx context.Context, directory, id string) (connectors.User, error)
	// MirrorManager finds u's manager (by u.Manager, a ref or an id).
	MirrorManager(ctx context.Context, directory string, u connectors.User) (connectors.User, error)
}

// MirrorTx is the write transaction's part for the mirror of each directory and its sync state.
type MirrorTx interface {
	// Upserts stamp the row with gen.
	UpsertMirrorUser(directory string, u connectors.User, gen int64) error
	UpsertMirrorGroup(directory string, g connectors.Group, gen int64) error
	// ReplaceMirrorMembers sets a group's members to the users whose ref is in
	// refs (unknown refs are ignored) or, with byID, whose id is.
	ReplaceMirrorMembers(directory, groupID string, refsOrIDs []string, byID bool) error
	// ChangeMirrorMembers takes the users whose ref is in removed out of a
	// group and puts those in added in; unknown refs are ignored, and so is
	// a group the mirror does not have.
	ChangeMirrorMembers(directory, groupID string, added, removed []string) error
	// DeleteMirrorUser and DeleteMirrorGroup remove one object and its memberships.
	DeleteMirrorUser(directory, id string) error
	DeleteMirrorGroup(directory, id string) error
	// SweepMirror removes what a full sync of generation gen did not see.
	SweepMirror(directory string, gen int64) (int, error)
	SyncState(directory string) (SyncState, error)
	PutSyncState(s SyncState) error
}
