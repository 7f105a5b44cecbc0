package connectors

import (
	"context"
	"crypto/rand"
	"time"
)

// CapAccounts is the capability of AccountManager.
const CapAccounts Capability = "accounts"

// AccountSpec describes an ephemeral (contractor) account to create.
type AccountSpec struct {
	Login     string
	Email     string
	GivenName string
	Surname   string
	// Until is when the account ends; directories that can hold it (a
	// configured attribute, AD's accountExpires) record it as a backstop.
	Until time.Time
	// Activate creates the account enabled; otherwise it is created disabled
	// (staged) and enabled later.
	Activate bool
	// Password is the initial password, for directories that take one; it is
	// never stored or logged. Empty: the directory's own choice (a random
	// one, or an activation email).
	Password string
}

// Account is an account an AccountManager created.
type Account struct {
	ID      string
	Login   string
	Enabled bool
	// PasswordSet reports that the spec's password was set, so it can be
	// handed to the person.
	PasswordSet bool
}

// AccountManager creates and retires ephemeral accounts. Every account it
// creates carries jitd's marker, and it refuses (ErrPermission) to change or
// delete an account without it: jitd only ever touches accounts it made.
type AccountManager interface {
	CreateAccount(ctx context.Context, spec AccountSpec) (Account, error)
	// SetAccountEnabled enables or disables the account; idempotent.
	SetAccountEnabled(ctx context.Context, id string, enabled bool) error
	// DeleteAccount deletes the account; deleting a missing one succeeds.
	DeleteAccount(ctx context.Context, id string) error
	// SetAccountExpiry moves the end date the directory holds for the
	// account (AD accountExpires, a configured profile attribute), so an
	// extension is not undone by the directory's own backstop. Directories
	// that hold none succeed without doing anything. Zero clears it.
	SetAccountExpiry(ctx context.Context, id string, until time.Time) error
}

// AsAccountManager returns c as an AccountManager when it has that capability.
func AsAccountManager(c Connector) (AccountManager, bool) {
	a, ok := c.(AccountManager)
	return a, ok && Has(c, CapAccounts)
}

// RandomPassword returns a random password of 128 bits (crypto/rand.Text)
// with a lower-case letter, an upper-case letter, a digit and a symbol
// added, so that any directory's complexity rule accepts it.
func RandomPassword() string {
	return rand.Text() + "-aA7"
}
