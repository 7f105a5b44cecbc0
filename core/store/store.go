// Package store declares jitd's durable state behind interfaces: grants, the
// audit log and API tokens. Implementations live in sub-packages and all pass
// the conformance suite in store/storetest.
package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
)

// Errors returned by every implementation.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// State is a grant's place in its state machine (see DESIGN.md).
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
	Limit     int // 0: no limit
}

// AuditFilter selects audit events, newest first.
type AuditFilter struct {
	GrantID string
	Limit   int
}

// Token kinds.
const (
	// TokenPerson stands for the person whose login is its name: it stops
	// working once no directory has them as an enabled user.
	TokenPerson = "person"
	// TokenSystem stands for a system (a SCIM client, automation); its
	// principal is "system:<name>", never a login.
	TokenSystem = "system"
)

// Token is an API token; only a hash of its secret is stored.
type Token struct {
	ID         string
	Name       string
	Role       string
	Kind       string // TokenPerson or TokenSystem
	SecretHash string
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	RevokedAt  time.Time // zero: not revoked
}

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

// Drift is a member of a JIT-managed group that nobody granted.
type Drift struct {
	Directory, GroupID, UserID, GroupName, UserName string
	FirstSeen, LastSeen                             time.Time
}

// MirrorCounts is the size of one directory's mirror.
type MirrorCounts struct {
	Users, Groups, Members int
}

// Store is jitd's durable state.
type Store interface {
	SessionEnds
	// Update runs fn in one write transaction; fn's error rolls it back.
	Update(ctx context.Context, fn func(Tx) error) error

	Grant(ctx context.Context, id string) (Grant, error)
	Grants(ctx context.Context, f GrantFilter) ([]Grant, error)
	CountGrants(ctx context.Context) (map[State]int, error)
	// NextDue returns the earliest time at which DueGrants may return a grant.
	NextDue(ctx context.Context) (time.Time, bool, error)

	AuditEvents(ctx context.Context, f AuditFilter) ([]audit.Event, error)
	// WalkAudit calls fn for every event in sequence order.
	WalkAudit(ctx context.Context, fn func(audit.Event) error) error
	// AuditHead returns the last sequence number and hash written.
	AuditHead(ctx context.Context) (int64, string, error)

	Account(ctx context.Context, id string) (Account, error)
	// Accounts lists accounts, newest first.
	Accounts(ctx context.Context, f AccountFilter) ([]Account, error)
	// NextAccountDue returns the earliest time at which DueAccounts may
	// return an account.
	NextAccountDue(ctx context.Context) (time.Time, bool, error)

	Request(ctx context.Context, id string) (Request, error)
	// Requests lists requests, newest first.
	Requests(ctx context.Context, f RequestFilter) ([]Request, error)
	// Approvals lists a request's decisions, oldest first.
	Approvals(ctx context.Context, requestID string) ([]Approval, error)
	// NextRequestExpiry returns when the earliest pending request expires.
	NextRequestExpiry(ctx context.Context) (time.Time, bool, error)

	// Reviews lists break-glass reviews in state ("" for all), newest first.
	Reviews(ctx context.Context, state ReviewState) ([]Review, error)

	// SessionsEndedAt returns when login last signed out (zero: never):
	// their browser sessions issued before then are void.
	SessionsEndedAt(ctx context.Context, login string) (time.Time, error)

	Invite(ctx context.Context, id string) (Invite, error)
	// Invites lists invites, newest first; sponsor "" lists all.
	Invites(ctx context.Context, sponsor string) ([]Invite, error)

	// Notifications lists deliveries, newest first.
	Notifications(ctx context.Context, f NotificationFilter) ([]Notification, error)
	// NextNotificationDue returns when the earliest pending delivery is due.
	NextNotificationDue(ctx context.Context) (time.Time, bool, error)
	// AuditAfter lists up to limit audit events with Seq > seq, oldest first.
	AuditAfter(ctx context.Context, seq int64, limit int) ([]audit.Event, error)

	Token(ctx context.Context, id string) (Token, error)
	// Tokens lists every token (with its hash), oldest first.
	Tokens(ctx context.Context) ([]Token, error)
	CountTokens(ctx context.Context) (int, error)

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

	// Baseline returns the baseline members of a group, and whether one was recorded.
	Baseline(ctx context.Context, directory, groupID string) ([]string, bool, error)
	// Drift lists open drift, by directory ("" for all).
	Drift(ctx context.Context, directory string) ([]Drift, error)

	// SCIMResources returns what jitd keeps of each of ids that has anything.
	SCIMResources(ctx context.Context, directory, kind string, ids []string) (map[string]SCIMResource, error)
	// SCIMByExternalID returns the ids whose externalId is externalID.
	SCIMByExternalID(ctx context.Context, directory, kind, externalID string) ([]string, error)
	Close() error
}

// Tx is a write transaction.
type Tx interface {
	SessionEndsTx
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
	// ReleaseLeases clears the leases held by owner (used at start-up).
	ReleaseLeases(owner string) (int, error)
	// RetryGrantsNow makes the removals of a directory that wait out a
	// backoff (revoking, revoke_failed, next attempt after now) due at now;
	// leased ones are in flight and left alone. It returns how many.
	RetryGrantsNow(directory string, now time.Time) (int, error)

	Account(id string) (Account, error)
	InsertAccount(a Account) error
	// UpdateAccount replaces every mutable field of the account with a's.
	UpdateAccount(a Account) error
	Accounts(f AccountFilter) ([]Account, error)
	// DueAccounts returns accounts with lifecycle work due at now: creating,
	// disabling, disable_failed or deleting whose next attempt is due, active
	// past EndsAt, disabled past DeleteAt. Oldest due first.
	DueAccounts(now time.Time, limit int) ([]Account, error)
	// RetryAccountsNow makes a directory's account steps that wait out a
	// backoff (creating, disabling, disable_failed, deleting) due at now.
	RetryAccountsNow(directory string, now time.Time) (int, error)

	Request(id string) (Request, error)
	InsertRequest(r Request) error
	// UpdateRequest replaces every mutable field of the request with r's.
	UpdateRequest(r Request) error
	// InsertApproval records a decision; a second one by the same person on
	// the same request is ErrConflict.
	InsertApproval(a Approval) error
	Approvals(requestID string) ([]Approval, error)
	Review(id string) (Review, error)
	InsertReview(v Review) error
	// UpdateReview stores a review's state, closing time, closer, outcome
	// and comment.
	UpdateReview(v Review) error
	// ExpiredRequests returns pending requests whose expires_at has passed.
	ExpiredRequests(now time.Time, limit int) ([]Request, error)

	// EndSessions voids login's browser sessions issued up to at.
	EndSessions(login string, at time.Time) error
	// UseLink records a single-use link's key until expires, forgetting
	// links expired by now; false means it was used already.
	UseLink(key string, expires, now time.Time) (bool, error)
	// ForgetLink makes a link usable again (its use failed).
	ForgetLink(key string) error

	Invite(id string) (Invite, error)
	InsertInvite(v Invite) error
	// UpdateInvite stores an invite's state, use, request, sealed password
	// and revoker.
	UpdateInvite(v Invite) error

	// AppendAudit chains e to the log (setting Seq, PrevHash, Hash) and returns it.
	AppendAudit(e audit.Event) (audit.Event, error)

	InsertToken(t Token) error

	// NotifyCursor returns the last audit sequence routed to notifications
	// (ok false: never set).
	NotifyCursor() (int64, bool, error)
	SetNotifyCursor(seq int64) error
	InsertNotification(n Notification) error
	// DueNotifications returns pending deliveries due at now, oldest first.
	DueNotifications(now time.Time, limit int) ([]Notification, error)
	// UpdateNotification stores a delivery's state, attempts, due time,
	// sent time and last error.
	UpdateNotification(n Notification) error

	// ClaimIdempotent records rec as started, unless the principal used the
	// key already: then it returns that record and true. Records created
	// before purgeBefore are removed first.
	ClaimIdempotent(rec Idempotent, purgeBefore time.Time) (Idempotent, bool, error)
	// FinishIdempotent stores the response of a claimed key.
	FinishIdempotent(principal, key string, status int, contentType string, body []byte) error
	// ReleaseIdempotent forgets a claimed key (the call failed in a way a
	// retry may fix).
	ReleaseIdempotent(principal, key string) error
	// RevokeToken marks a token revoked at at (idempotent; ErrNotFound if none).
	RevokeToken(id string, at time.Time) error

	// The mirror. Upserts stamp the row with gen.
	UpsertMirrorUser(directory string, u connectors.User, gen int64) error
	UpsertMirrorGroup(directory string, g connectors.Group, gen int64) error
	// ReplaceMirrorMembers sets a group's members to the users whose ref is in
	// refs (unknown refs are ignored) or, with byID, whose id is.
	ReplaceMirrorMembers(directory, groupID string, refsOrIDs []string, byID bool) error
	// DeleteMirrorUser and DeleteMirrorGroup remove one object and its memberships.
	DeleteMirrorUser(directory, id string) error
	DeleteMirrorGroup(directory, id string) error
	// SweepMirror removes what a full sync of generation gen did not see.
	SweepMirror(directory string, gen int64) (int, error)
	SyncState(directory string) (SyncState, error)
	PutSyncState(s SyncState) error

	// RecordBaseline marks a group's baseline as recorded (at most once) and
	// adds members to it.
	RecordBaseline(directory, groupID string, userIDs []string, at time.Time, by string) error
	// OpenDrift records drift (or refreshes LastSeen); it reports whether it is new.
	OpenDrift(d Drift) (bool, error)
	// CloseDrift removes a drift row; it reports whether there was one.
	CloseDrift(directory, groupID, userID string) (bool, error)

	// SetSCIMResource records what jitd keeps of a resource; with neither
	// externalId nor attributes, it forgets the resource.
	SetSCIMResource(r SCIMResource) error
}

// Append records one audit event in a transaction of its own and returns
// it as written.
func Append(ctx context.Context, s Store, e audit.Event) (audit.Event, error) {
	err := s.Update(ctx, func(tx Tx) (err error) {
		e, err = tx.AppendAudit(e)
		return err
	})
	return e, err
}
