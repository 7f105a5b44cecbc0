package store

import (
	"context"
	"slices"
	"time"
)

// AccountState is an ephemeral account's place in its lifecycle:
//
//	creating ─▶ active ─▶ disabling ─▶ disabled ─▶ deleting ─▶ deleted
//	    │                    │                        │
//	    ▼                    ▼                        ▼
//	create_failed      disable_failed (alerted,   (retried)
//	                   still retried)
type AccountState string

// Account states.
const (
	AccountCreating      AccountState = "creating"
	AccountCreateFailed  AccountState = "create_failed"
	AccountActive        AccountState = "active"
	AccountDisabling     AccountState = "disabling"
	AccountDisableFailed AccountState = "disable_failed"
	AccountDisabled      AccountState = "disabled"
	AccountDeleting      AccountState = "deleting"
	AccountDeleted       AccountState = "deleted"
)

// AccountStates lists every account state, in lifecycle order.
var AccountStates = []AccountState{AccountCreating, AccountCreateFailed, AccountActive, AccountDisabling, AccountDisableFailed, AccountDisabled, AccountDeleting, AccountDeleted}

// Valid reports whether s is a known state.
func (s AccountState) Valid() bool { return slices.Contains(AccountStates, s) }

// Account is an ephemeral account jitd created: enabled until EndsAt,
// disabled then, deleted at DeleteAt.
type Account struct {
	ID         string // jitd's id (acct_...)
	Directory  string
	ExternalID string // the directory's id; empty until created
	Login      string
	Email      string
	GivenName  string
	Surname    string
	Sponsor    string // login of the employee responsible for the account
	CreatedBy  string
	Reason     string
	State      AccountState
	EndsAt     time.Time
	DeleteAt   time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	DisabledAt time.Time
	DeletedAt  time.Time
	EndReason  string
	// PasswordDelivered: the initial password was handed over once. False
	// when the directory chose none, or a crash lost it before delivery.
	PasswordDelivered bool
	Attempts          int
	NextAttempt       time.Time
	LastError         string
}

// AccountFilter selects accounts; zero fields match everything.
type AccountFilter struct {
	States    []AccountState
	Directory string
	Sponsor   string
	Login     string
	Limit     int
	Offset    int // skip this many of the newest first (a page)
}

// Accounts is the store's part for contractor accounts.
type Accounts interface {
	Account(ctx context.Context, id string) (Account, error)
	// Accounts lists accounts, newest first.
	Accounts(ctx context.Context, f AccountFilter) ([]Account, error)
	// NextAccountDue returns the earliest time at which DueAccounts may
	// return an account.
	NextAccountDue(ctx context.Context) (time.Time, bool, error)
}

// AccountsTx is the write transaction's part for contractor accounts.
type AccountsTx interface {
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
}
