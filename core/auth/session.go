package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/store"
)

// People turns a directory login into a principal: the person must be an
// enabled user of Directory's mirror, and their groups there give the role.
// Every way a person signs in (an ID token, a browser session, the demo
// sign-in) goes through it, so leaving a group takes effect with the next
// sync whatever the door.
type People struct {
	Store     Store
	Directory string
	Roles     RoleGroups
	// synced, when set (NewPeople), remembers that the first full sync
	// is done, so that sign-ins stop asking the store.
	synced *atomic.Bool
}

// NewPeople returns the people of directory, with roles from their groups.
func NewPeople(st Store, directory string, roles RoleGroups) People {
	return People{Store: st, Directory: directory, Roles: roles, synced: new(atomic.Bool)}
}

// Person returns login's principal.
func (pp People) Person(ctx context.Context, login string, mfa bool) (Principal, error) {
	if strings.HasPrefix(login, SystemPrefix) {
		return Principal{}, fmt.Errorf("%w: %q cannot be a person's login", ErrUnauthenticated, login)
	}
	// Until the first full sync is done, the mirror holds only part of the
	// directory: a role worked out from it could be too small, or a
	// person missing.
	if err := pp.firstSyncDone(ctx); err != nil {
		return Principal{}, err
	}
	u, err := pp.Store.MirrorUser(ctx, pp.Directory, login)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, fmt.Errorf("%w: %s is not a user of directory %s", ErrUnauthenticated, login, pp.Directory)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("auth: %w", err)
	}
	if !u.Enabled {
		return Principal{}, fmt.Errorf("%w: %s is disabled in directory %s", ErrUnauthenticated, login, pp.Directory)
	}
	groups, err := pp.Store.MirrorUserGroups(ctx, pp.Directory, u.ID)
	if err != nil {
		return Principal{}, fmt.Errorf("auth: %w", err)
	}
	role, ok := pp.Roles.roleOf(groups)
	if !ok {
		return Principal{}, fmt.Errorf("%w: %s is in none of the groups that give a jitd role", ErrUnauthenticated, login)
	}
	return Principal{Name: u.Login, Role: role, MFA: mfa, Via: "oidc"}, nil
}

// firstSyncDone says whether the directory was read whole once; once it
// was, it stays so.
func (pp People) firstSyncDone(ctx context.Context) error {
	if pp.synced != nil && pp.synced.Load() {
		return nil
	}
	st, err := pp.Store.SyncState(ctx, pp.Directory)
	if errors.Is(err, store.ErrNotFound) || (err == nil && st.FullSyncs == 0) {
		return fmt.Errorf("%w: jitd is still reading directory %s for the first time; sign in again in a moment", ErrUnauthenticated, pp.Directory)
	}
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if pp.synced != nil {
		pp.synced.Store(true)
	}
	return nil
}

// roleOf is the first role whose groups hold the person, in the order
// admin, auditor, approver, requester; with no requester groups, everyone
// else is a requester.
func (rg RoleGroups) roleOf(groups []string) (string, bool) {
	in := func(names []string) bool {
		return slices.ContainsFunc(names, func(g string) bool { return slices.Contains(groups, g) })
	}
	switch {
	case in(rg.Admin):
		return RoleAdmin, true
	case in(rg.Auditor):
		return RoleAuditor, true
	case in(rg.Approver):
		return RoleApprover, true
	case len(rg.Requester) == 0 || in(rg.Requester):
		return RoleRequester, true
	}
	return "", false
}

// DemoConfig is the demo sign-in: anyone picks a person of the demo
// directory and signs in as them, with the role their groups give. Only
// for trying jitd on the built-in demo directory.
type DemoConfig struct {
	Directory string     `yaml:"directory"`
	Roles     RoleGroups `yaml:"roles"`
}

// Cookie names.
const (
	SessionCookie = "jitd_session"
	stateCookie   = "jitd_oidc_state"
)

// Sessions are browser sessions: a cookie sealed with jitd's session key
// that carries the login, MFA and the session's end. The role is worked out
// again on every call. Signing out ends every session of that person, on
// every device, so a copied cookie stops working too.
type Sessions struct {
	key    []byte
	people People
	ttl    time.Duration
	secure bool
	now    func() time.Time
}

// NewSessions returns browser sessions sealed with key, lasting ttl;
// secure marks the cookie Secure (served over HTTPS).
func NewSessions(key []byte, people People, ttl time.Duration, secure bool, now func() time.Time) *Sessions {
	return &Sessions{key: key, people: people, ttl: ttl, secure: secure, now: now}
}

type session struct {
	Login   string    `json:"u"`
	MFA     bool      `json:"m"`
	Issued  time.Time `json:"i"`
	Expires time.Time `json:"x"`
}

// Start sets the session cookie for p.
func (s *Sessions) Start(w http.ResponseWriter, p Principal) {
	now := s.now()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: seal(s.key, "session", session{Login: p.Name, MFA: p.MFA, Issued: now, Expires: now.Add(s.ttl)}),
		Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode, MaxAge: int(s.ttl.Seconds())})
}

// Clear removes the session cookie from the browser.
func (s *Sessions) Clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode})
}

// Session authenticates a session cookie: sealed by this jitd, not expired,
// and issued after its holder last signed out.
func (s *Sessions) Session(ctx context.Context, value string) (Principal, error) {
	var v session
	if !open(s.key, "session", value, &v) || !s.now().Before(v.Expires) {
		return Principal{}, fmt.Errorf("%w: the session expired; sign in again", ErrUnauthenticated)
	}
	ended, err := s.people.Store.SessionsEndedAt(ctx, v.Login)
	if err != nil {
		return Principal{}, fmt.Errorf("auth: %w", err)
	}
	if !v.Issued.After(ended) {
		return Principal{}, fmt.Errorf("%w: this session was signed out; sign in again", ErrUnauthenticated)
	}
	p, err := s.people.Person(ctx, v.Login, v.MFA)
	p.Via = "session"
	return p, err
}

// Logout ends every browser session of the cookie's holder. An invalid
// cookie is ignored.
func (s *Sessions) Logout(ctx context.Context, value string) error {
	var v session
	if !open(s.key, "session", value, &v) {
		return nil
	}
	now := s.now()
	return s.people.Store.Update(ctx, func(tx store.Tx) error {
		if err := tx.EndSessions(v.Login, now); err != nil {
			return err
		}
		_, err := tx.AppendAudit(audit.Event{Time: now, Actor: v.Login, Action: audit.SignedOut, User: v.Login, Detail: "browser sessions ended"})
		return err
	})
}

// seal signs v for purpose with key; open checks and reads it back.
func seal(key []byte, purpose string, v any) string {
	body, _ := json.Marshal(v)
	p := base64.RawURLEncoding.EncodeToString(body)
	h := hmac.New(sha256.New, key)
	h.Write([]byte("jitd-" + purpose + "-v1\n" + p))
	return p + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func open(key []byte, purpose, s string, v any) bool {
	p, sig, ok := strings.Cut(s, ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	h := hmac.New(sha256.New, key)
	h.Write([]byte("jitd-" + purpose + "-v1\n" + p))
	if err != nil || !hmac.Equal(got, h.Sum(nil)) {
		return false
	}
	body, err := base64.RawURLEncoding.DecodeString(p)
	return err == nil && json.Unmarshal(body, v) == nil
}

func random() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
