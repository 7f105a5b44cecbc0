// Package auth authenticates API callers by bearer token and decides what each
// role may do. Tokens are "jitd_<id>_<secret>"; only a SHA-256 of the secret
// is stored, and it is compared in constant time.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/store"
)

// Role names.
const (
	RoleAdmin   = "admin"
	RoleAuditor = "auditor"
	// RoleRequester asks for access; the token's name is the login.
	RoleRequester = "requester"
	// RoleApprover also decides requests, where policy names them.
	RoleApprover = "approver"
	// RoleSCIM is a provisioning client (Okta, Entra ID) using /scim/v2,
	// and nothing else; the token's name is the client's.
	RoleSCIM = "scim"
)

// Store is the part of jitd's store that authentication uses: tokens,
// whether a person is still an enabled user, sign-in sessions.
type Store interface {
	store.Updater
	store.Tokens
	store.Mirror
	store.SignIns
}

// Permission names an action on the API.
type Permission string

// Permissions checked by the API.
const (
	// GrantRead is limited to one's own grants for requesters and
	// approvers.
	GrantRead  Permission = "grant.read"
	GrantWrite Permission = "grant.write"
	AuditRead  Permission = "audit.read"
	SyncRead   Permission = "sync.read"
	SyncWrite  Permission = "sync.write"
	// AccountRead is limited to the accounts one sponsors for approvers,
	// who may also extend and disable those.
	AccountRead  Permission = "account.read"
	AccountWrite Permission = "account.write"
	PolicyRead   Permission = "policy.read"
	// RequestRead is limited to one's own requests, and those one may
	// decide, for requesters and approvers.
	RequestRead   Permission = "request.read"
	RequestCreate Permission = "request.create"
	RequestDecide Permission = "request.decide"
	TokenWrite    Permission = "token.write"
	// ReviewRead and ReviewClose concern break-glass reviews; nobody
	// closes the review of their own use.
	ReviewRead  Permission = "review.read"
	ReviewClose Permission = "review.close"
	// InviteRead and InviteWrite concern contractor invites; approvers
	// sponsor (and see) only their own.
	// CampaignRead lists access review campaigns (people who review see
	// their own items); CampaignDecide decides an item one reviews;
	// CampaignWrite opens and closes campaigns.
	CampaignRead   Permission = "campaign.read"
	CampaignDecide Permission = "campaign.decide"
	CampaignWrite  Permission = "campaign.write"
	InviteRead     Permission = "invite.read"
	InviteWrite    Permission = "invite.write"
	// SCIMProvision is the use of /scim/v2.
	SCIMProvision Permission = "scim.provision"
)

// roles maps each role to what it may do.
var roles = map[string][]Permission{
	RoleAdmin: {GrantRead, GrantWrite, AuditRead, SyncRead, SyncWrite, AccountRead, AccountWrite, PolicyRead, RequestRead, RequestCreate, RequestDecide,
		TokenWrite, ReviewRead, ReviewClose, InviteRead, InviteWrite, CampaignRead, CampaignDecide, CampaignWrite},
	RoleAuditor:   {GrantRead, AuditRead, SyncRead, AccountRead, PolicyRead, RequestRead, ReviewRead, InviteRead, CampaignRead},
	RoleRequester: {GrantRead, RequestRead, RequestCreate, CampaignRead, CampaignDecide},
	RoleApprover:  {GrantRead, RequestRead, RequestCreate, RequestDecide, ReviewRead, ReviewClose, InviteRead, InviteWrite, AccountRead, CampaignRead, CampaignDecide},
	RoleSCIM:      {SCIMProvision},
}

// Allowed reports whether role may do p.
func Allowed(role string, p Permission) bool {
	for _, q := range roles[role] {
		if q == p {
			return true
		}
	}
	return false
}

// ErrInvalidToken: a token was asked for that cannot be (a system
// requester, a person scim client).
var ErrInvalidToken = errors.New("invalid token request")

// ErrUnknownRole: a token was asked for a role that does not exist.
var ErrUnknownRole = errors.New("unknown role")

// ErrUnauthenticated: no token, or not a valid one.
var ErrUnauthenticated = errors.New("missing or invalid API token")

// Principal is an authenticated caller.
type Principal struct {
	Name string
	Role string
	// MFA says the sign-in used more than one factor (OIDC amr); API
	// tokens never do.
	MFA bool
	// Via is how the caller signed in: token, oidc (bearer) or session.
	Via string
}

// Authenticate checks a bearer token against the store: known, not
// revoked, not expired at now, and its secret matching.
func Authenticate(ctx context.Context, st Store, token string, now time.Time) (Principal, error) {
	rest, ok := strings.CutPrefix(token, "jitd_")
	id, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || id == "" || secret == "" {
		return Principal{}, ErrUnauthenticated
	}
	t, err := st.Token(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("auth: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(t.SecretHash)) != 1 {
		return Principal{}, ErrUnauthenticated
	}
	if !t.RevokedAt.IsZero() || (!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) {
		return Principal{}, ErrUnauthenticated
	}
	if t.Kind == store.TokenSystem {
		return Principal{Name: SystemPrefix + t.Name, Role: t.Role, Via: "token"}, nil
	}
	found, enabled, synced, err := st.Person(ctx, t.Name)
	if err != nil {
		return Principal{}, fmt.Errorf("auth: %w", err)
	}
	if synced && !enabled {
		why := "is disabled in the directory"
		if !found {
			why = "is no user of any directory"
		}
		return Principal{Name: t.Name, Role: t.Role, Via: "token"}, &PersonGoneError{Login: t.Name, TokenID: t.ID, Why: why}
	}
	return Principal{Name: t.Name, Role: t.Role, Via: "token"}, nil
}

// SystemPrefix starts the name of every system token's principal, so that
// a system never passes for a person of the same name, nor a person for a
// system.
const SystemPrefix = "system:"

// PersonGoneError refuses a person's token once the directory disables or
// removes them. It is an ErrUnauthenticated.
type PersonGoneError struct {
	Login, TokenID, Why string
}

func (e *PersonGoneError) Error() string {
	return fmt.Sprintf("%v: %s %s; their tokens no longer work", ErrUnauthenticated, e.Login, e.Why)
}

func (e *PersonGoneError) Unwrap() error { return ErrUnauthenticated }

// KindFor returns the kind a token of role has by default: SCIM clients,
// administrators and auditors made without a person in mind are systems;
// requesters and approvers are people.
func KindFor(role string) string {
	switch role {
	case RoleRequester, RoleApprover:
		return store.TokenPerson
	}
	return store.TokenSystem
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewToken creates a token for name with role, stores its hash (audited) and
// returns the token text, which is never stored.
func NewToken(ctx context.Context, st Store, name, role string, now time.Time) (string, error) {
	tok, _, err := NewExpiringToken(ctx, st, "jitd", name, role, KindFor(role), now, time.Time{})
	return tok, err
}

// NewExpiringToken is NewToken for a token that stops working at expires
// (zero: never), made by actor (audited as such); it also returns the
// token's id.
func NewExpiringToken(ctx context.Context, st Store, actor, name, role, kind string, now, expires time.Time) (string, string, error) {
	if _, ok := roles[role]; !ok {
		return "", "", fmt.Errorf("%w %q (one of admin, auditor, approver, requester, scim)", ErrUnknownRole, role)
	}
	switch {
	case kind == store.TokenSystem && KindFor(role) == store.TokenPerson:
		return "", "", fmt.Errorf("%w: a %s token stands for a person (named by their login); a system cannot be one", ErrInvalidToken, role)
	case kind == store.TokenPerson && role == RoleSCIM:
		return "", "", fmt.Errorf("%w: a scim token stands for a system, not a person", ErrInvalidToken)
	case kind != store.TokenPerson && kind != store.TokenSystem:
		return "", "", fmt.Errorf("%w: kind %q (person or system)", ErrInvalidToken, kind)
	}
	idb := make([]byte, 8)
	secret := make([]byte, 32)
	rand.Read(idb)
	rand.Read(secret)
	id := hex.EncodeToString(idb)
	sec := base64.RawURLEncoding.EncodeToString(secret)
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertToken(store.Token{ID: id, Name: name, Role: role, Kind: kind, SecretHash: hashSecret(sec), CreatedAt: now, ExpiresAt: expires}); err != nil {
			return err
		}
		_, err := tx.AppendAudit(audit.Event{Time: now, Actor: actor, Action: audit.TokenCreated, Detail: fmt.Sprintf("token %s for %s %s, role %s", id, kind, name, role)})
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("auth: create token: %w", err)
	}
	return "jitd_" + id + "_" + sec, id, nil
}

// EnsureAdminToken creates the first admin token when the store has none and
// writes it to path (mode 0600, never overwriting a file). It returns whether
// it created one.
func EnsureAdminToken(ctx context.Context, st Store, path string, now time.Time) (bool, error) {
	n, err := st.CountTokens(ctx)
	if err != nil {
		return false, fmt.Errorf("auth: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	f, err := createSecretFile(path)
	if err != nil {
		return false, fmt.Errorf("auth: write the first admin token: %w (remove the stale file if the database is new)", err)
	}
	defer f.Close()
	tok, err := NewToken(ctx, st, "admin", RoleAdmin, now)
	if err != nil {
		os.Remove(path)
		return false, err
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		return false, fmt.Errorf("auth: %w", err)
	}
	return true, f.Sync()
}

// createSecretFile creates a file only its owner can read, in a directory
// only its owner can enter; it fails if the file exists.
func createSecretFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

// LoadKey reads a 32-byte signing key (hex) at path, creating a random one
// with mode 0600 if there is none. Replacing the file voids what the old key
// signed.
func LoadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		rand.Read(key)
		f, err := createSecretFile(path)
		if err != nil {
			return nil, fmt.Errorf("auth: key %s: %w", path, err)
		}
		defer f.Close()
		if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
			return nil, fmt.Errorf("auth: key %s: %w", path, err)
		}
		return key, f.Sync()
	}
	if err != nil {
		return nil, fmt.Errorf("auth: key %s: %w", path, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("auth: key %s: not hex: %w", path, err)
	}
	return key, nil
}

// SeesAll reports whether a role reads every request, not only its own and
// those it may decide.
func SeesAll(role string) bool { return role == RoleAdmin || role == RoleAuditor }
