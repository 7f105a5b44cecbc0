// Package invite runs contractor self-onboarding: a sponsor makes a
// single-use, expiring invite link; the contractor opens it, says who they
// are, until when and which groups they need; that becomes an onboarding
// request the sponsor (and whoever policy adds) approves; the approval makes
// the ephemeral account and its memberships, which all end together.
package invite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/jitd/jitd/core/account"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/fault"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/store"
)

// Errors for callers to map to responses, each of a fault kind.
var (
	// ErrInvalid: malformed or not allowed; nothing changed.
	ErrInvalid = fault.New(fault.ErrInvalid, "invalid invite")
	// ErrNotFound: no such invite, or the link is wrong. The two are not
	// told apart, so a guessed id learns nothing.
	ErrNotFound = fault.New(fault.ErrNotFound, "no such invite")
	// ErrGone: the invite was used, revoked or has expired.
	ErrGone = fault.New(fault.ErrGone, "invite no longer works")
)

// Limits.
const (
	DefaultValid = 7 * 24 * time.Hour
	MaxValid     = 30 * 24 * time.Hour
	maxGroups    = 20
	maxField     = 128
)

// Store is the part of jitd's store invites use.
type Store interface {
	store.Updater
	store.Mirror
	store.Accounts
	store.Grants
	store.Invites
	store.Requests
}

// Manager makes invites and turns them into onboarding requests and accounts.
type Manager struct {
	store    Store
	requests *request.Manager
	accounts *account.Manager
	grants   *grant.Manager
	dirs     directories.Set
	// maxAccount is the longest an account may live (accounts.max_duration).
	maxAccount time.Duration
	clock      clock.Clock
	log        *slog.Logger
}

// New returns a Manager. Make it the requests' Onboarder (as the daemon's
// wiring does) for approved onboarding requests to create accounts.
func New(st Store, reqs *request.Manager, accts *account.Manager, grants *grant.Manager, dirs directories.Set,
	maxAccount time.Duration, clk clock.Clock, log *slog.Logger) *Manager {
	return &Manager{store: st, requests: reqs, accounts: accts, grants: grants, dirs: dirs, maxAccount: maxAccount, clock: clk, log: log}
}

var _ request.Onboarder = (*Manager)(nil)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// CreateRequest is what a sponsor asks for.
type CreateRequest struct {
	Directory string // may be empty when one directory manages accounts
	Sponsor   string // a login in Directory, enabled
	Until     time.Time
	Groups    []string      // the groups the contractor may ask for
	Valid     time.Duration // how long the link works (default 7 days)
	Note      string
	Actor     string
}

// Created is a new invite and its link token, shown this once.
type Created struct {
	Invite store.Invite
	Token  string
}

// Create makes an invite. The token (id.secret) is returned once; only a
// hash of the secret is kept.
func (m *Manager) Create(ctx context.Context, req CreateRequest) (Created, error) {
	dir, err := m.accounts.Directory(req.Directory)
	if errors.Is(err, account.ErrInvalid) {
		return Created{}, invalid("%s", strings.TrimPrefix(err.Error(), account.ErrInvalid.Error()+": "))
	}
	if err != nil {
		return Created{}, err
	}
	d := m.dirs[dir]
	now := m.clock.Now()
	var problems []string
	req.Sponsor = strings.TrimSpace(req.Sponsor)
	if req.Sponsor == "" {
		problems = append(problems, "a sponsor is required (the employee responsible for the contractor)")
	} else if u, err := m.store.MirrorUser(ctx, dir, req.Sponsor); errors.Is(err, store.ErrNotFound) {
		problems = append(problems, fmt.Sprintf("no sponsor %q in the mirror of directory %q (run jitd sync run if they are new)", req.Sponsor, dir))
	} else if err != nil {
		return Created{}, err
	} else if !u.Enabled {
		problems = append(problems, fmt.Sprintf("sponsor %q is disabled in directory %q", req.Sponsor, dir))
	}
	switch {
	case req.Until.IsZero():
		problems = append(problems, "the latest end date (until) is required")
	case !req.Until.After(now):
		problems = append(problems, fmt.Sprintf("until %s is not in the future", req.Until.UTC().Format(time.RFC3339)))
	case req.Until.After(now.Add(m.maxAccount)):
		problems = append(problems, fmt.Sprintf("until is more than the maximum account lifetime (%s) away", m.maxAccount))
	}
	if req.Valid == 0 {
		req.Valid = DefaultValid
	}
	if req.Valid < time.Minute || req.Valid > MaxValid {
		problems = append(problems, fmt.Sprintf("the link must work for between 1m and %s (got %s)", MaxValid, req.Valid))
	}
	if len(req.Groups) > maxGroups {
		problems = append(problems, fmt.Sprintf("at most %d groups", maxGroups))
	}
	groups := []string{}
	for _, g := range req.Groups {
		g = strings.TrimSpace(g)
		switch {
		case slices.Contains(groups, g):
		case !managed(d, g):
			problems = append(problems, fmt.Sprintf("group %q is not JIT-managed in directory %q", g, dir))
		default:
			groups = append(groups, g)
		}
	}
	if len(req.Note) > 1000 {
		problems = append(problems, "the note is longer than 1000 characters")
	}
	if len(problems) > 0 {
		return Created{}, invalid("%s", strings.Join(problems, "; "))
	}
	secretB := make([]byte, 32)
	rand.Read(secretB)
	secret := base64.RawURLEncoding.EncodeToString(secretB)
	key, err := keyFor(secret)
	if err != nil {
		return Created{}, err
	}
	idB := make([]byte, 8)
	rand.Read(idB)
	v := store.Invite{ID: "i" + hex.EncodeToString(idB), SecretHash: hashSecret(secret), PublicKey: key.PublicKey().Bytes(), Directory: dir,
		Sponsor: req.Sponsor, CreatedBy: req.Actor, MaxUntil: req.Until, Groups: groups, Note: req.Note, State: store.InviteOpen,
		CreatedAt: now, ExpiresAt: now.Add(req.Valid)}
	err = m.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertInvite(v); err != nil {
			return err
		}
		return record(tx, v, now, req.Actor, audit.InviteCreated, fmt.Sprintf("sponsor %s, until at most %s, groups [%s], link works until %s",
			v.Sponsor, v.MaxUntil.UTC().Format(time.RFC3339), strings.Join(groups, ", "), v.ExpiresAt.UTC().Format(time.RFC3339)))
	})
	if err != nil {
		return Created{}, err
	}
	return Created{Invite: v, Token: v.ID + "." + secret}, nil
}

func managed(d *directories.Directory, group string) bool {
	_, ok := d.Group(group)
	return ok
}

// liveAccount are the states in which an account holds its login.
var liveAccount = []store.AccountState{store.AccountCreating, store.AccountActive, store.AccountDisabling, store.AccountDisableFailed,
	store.AccountDisabled, store.AccountDeleting}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func record(tx store.Tx, v store.Invite, at time.Time, actor, action, detail string) error {
	_, err := tx.AppendAudit(audit.Event{Time: at, Actor: actor, Action: action, GrantID: v.ID, Directory: v.Directory, User: v.Sponsor, Detail: detail})
	return err
}

// resolve finds the invite a link token names, checking its secret.
func (m *Manager) resolve(ctx context.Context, token string) (store.Invite, string, error) {
	id, secret, ok := strings.Cut(strings.TrimSpace(token), ".")
	if !ok || id == "" || secret == "" {
		return store.Invite{}, "", fmt.Errorf("%w: the link is incomplete; copy all of it", ErrNotFound)
	}
	v, err := m.store.Invite(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return v, "", fmt.Errorf("%w: check the link", ErrNotFound)
	}
	if err != nil {
		return v, "", err
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(v.SecretHash)) != 1 {
		return store.Invite{}, "", fmt.Errorf("%w: check the link", ErrNotFound)
	}
	return v, secret, nil
}

// State is where an invite stands for people: open, used, revoked or expired.
func (m *Manager) State(v store.Invite) string {
	if v.State == store.InviteOpen && !m.clock.Now().Before(v.ExpiresAt) {
		return "expired"
	}
	return string(v.State)
}

// View is what the holder of a link sees.
type View struct {
	Invite  store.Invite
	State   string
	Request *store.Request // once submitted
}

// Show returns what a link's holder may see: the invite and, once they
// submitted, their request.
func (m *Manager) Show(ctx context.Context, token string) (View, error) {
	v, _, err := m.resolve(ctx, token)
	if err != nil {
		return View{}, err
	}
	out := View{Invite: v, State: m.State(v)}
	if v.RequestID != "" {
		r, err := m.store.Request(ctx, v.RequestID)
		if err != nil {
			return out, err
		}
		out.Request = &r
	}
	return out, nil
}

// Submission is what the contractor fills in.
type Submission struct {
	GivenName string
	Surname   string
	Email     string
	Company   string
	Until     time.Time
	Groups    []string
	Reason    string
}

// Submit uses the invite up: it becomes an onboarding request, pending the
// sponsor's approval. Bad input changes nothing and leaves the invite open.
func (m *Manager) Submit(ctx context.Context, token string, s Submission) (store.Request, error) {
	v, _, err := m.resolve(ctx, token)
	if err != nil {
		return store.Request{}, err
	}
	if st := m.State(v); st != string(store.InviteOpen) {
		return store.Request{}, fmt.Errorf("%w: this invite is %s; ask %s for a new one", ErrGone, st, v.Sponsor)
	}
	now := m.clock.Now()
	var problems []string
	field := func(name, val string) string {
		val = strings.TrimSpace(val)
		switch {
		case val == "":
			problems = append(problems, name+" is required")
		case len(val) > maxField:
			problems = append(problems, fmt.Sprintf("%s is longer than %d characters", name, maxField))
		case strings.ContainsFunc(val, unicode.IsControl):
			problems = append(problems, name+" contains control characters")
		}
		return val
	}
	s.GivenName, s.Surname, s.Company = field("given_name", s.GivenName), field("surname", s.Surname), field("company", s.Company)
	s.Email = field("email", s.Email)
	if a, err := mail.ParseAddress(s.Email); s.Email != "" && (err != nil || a.Address != s.Email || a.Name != "") {
		problems = append(problems, fmt.Sprintf("email %q is not an address like ann@example.com", s.Email))
	}
	switch {
	case s.Until.IsZero():
		problems = append(problems, "until (the end of the contract) is required")
	case !s.Until.After(now):
		problems = append(problems, "until must be in the future")
	case s.Until.After(v.MaxUntil):
		problems = append(problems, fmt.Sprintf("until is after %s, the latest your sponsor allows", v.MaxUntil.UTC().Format(time.RFC3339)))
	case s.Until.After(now.Add(m.maxAccount)):
		problems = append(problems, fmt.Sprintf("until is more than the maximum account lifetime (%s) away", m.maxAccount))
	}
	var groups []string
	for _, g := range s.Groups {
		g = strings.TrimSpace(g)
		switch {
		case slices.Contains(groups, g):
		case !slices.Contains(v.Groups, g):
			problems = append(problems, fmt.Sprintf("group %q is not one this invite offers (%s)", g, strings.Join(v.Groups, ", ")))
		default:
			if max := m.grants.MaxFor(v.Directory, g); max > 0 && !s.Until.IsZero() && s.Until.Sub(now) > max {
				problems = append(problems, fmt.Sprintf("group %q is granted for at most %s; end sooner, or leave it out and request it later", g, max))
			}
			groups = append(groups, g)
		}
	}
	if len(strings.TrimSpace(s.Reason)) > 1000 {
		problems = append(problems, "the reason is longer than 1000 characters")
	}
	if len(problems) > 0 {
		return store.Request{}, invalid("%s", strings.Join(problems, "; "))
	}
	login, err := m.freeLogin(ctx, v.Directory, s.GivenName, s.Surname)
	if err != nil {
		return store.Request{}, err
	}
	if groups == nil {
		groups = []string{}
	}
	ob := store.Onboarding{InviteID: v.ID, Login: login, GivenName: s.GivenName, Surname: s.Surname, Email: s.Email, Company: s.Company,
		Sponsor: v.Sponsor, Until: s.Until, Groups: groups}
	reason := fmt.Sprintf("contractor %s %s of %s, invited by %s", s.GivenName, s.Surname, s.Company, v.Sponsor)
	if r := strings.TrimSpace(s.Reason); r != "" {
		reason += ": " + r
	}
	r, err := m.requests.CreateOnboarding(ctx, ob, v.Directory, reason, func(tx store.Tx, r store.Request) error {
		cur, err := tx.Invite(v.ID)
		if err != nil {
			return err
		}
		if cur.State != store.InviteOpen {
			return fmt.Errorf("%w: this invite is %s", ErrGone, cur.State)
		}
		cur.State, cur.UsedAt, cur.RequestID = store.InviteUsed, now, r.ID
		if err := tx.UpdateInvite(cur); err != nil {
			return err
		}
		return record(tx, cur, now, "invite:"+v.ID, audit.InviteUsed, fmt.Sprintf("%s %s (%s) submitted request %s as %s", s.GivenName, s.Surname, s.Email, r.ID, login))
	})
	if errors.Is(err, request.ErrInvalid) {
		return r, invalid("%s", strings.TrimPrefix(err.Error(), request.ErrInvalid.Error()+": "))
	}
	return r, err
}

// freeLogin makes a login from the contractor's name ("c-ann.lee", at most
// 20 characters, which AD's sAMAccountName allows) that no user of the
// directory and no live account has.
func (m *Manager) freeLogin(ctx context.Context, dir, given, surname string) (string, error) {
	base := "c-" + slug(given) + "." + slug(surname)
	if len(base) > 18 {
		base = strings.TrimRight(base[:18], ".-")
	}
	for n := 1; n < 100; n++ {
		login := base
		if n > 1 {
			login = fmt.Sprintf("%s%d", base, n)
		}
		_, err := m.store.MirrorUser(ctx, dir, login)
		if err == nil {
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		live, err := m.store.Accounts(ctx, store.AccountFilter{Directory: dir, Login: login, States: liveAccount})
		if err != nil {
			return "", err
		}
		if len(live) == 0 {
			return login, nil
		}
	}
	return "", invalid("no free login for %s %s", given, surname)
}

// slug keeps the ASCII letters and digits of a name, lower-cased, with
// accents dropped ("Zoë" → "zoe").
func slug(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(strings.ToLower(s)) {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}

// Onboard makes the account an approved onboarding request asks for, seals
// its initial password for the link's holder, and grants its groups until
// the account's end, so they all end together.
func (m *Manager) Onboard(ctx context.Context, r store.Request) (string, error) {
	ob := r.Onboarding
	actor := "request:" + r.ID
	// After a restart the account (and some grants) may exist already:
	// finish what is missing, never make a second account.
	var created account.Created
	var err error
	var errs []error
	live, lerr := m.store.Accounts(ctx, store.AccountFilter{Directory: r.Directory, Login: ob.Login, States: liveAccount})
	if lerr != nil {
		return "", lerr
	}
	for _, a := range live {
		if a.CreatedBy == actor {
			created.Account = a
		}
	}
	if created.Account.ID == "" {
		created, err = m.accounts.Create(ctx, account.CreateRequest{Directory: r.Directory, Login: ob.Login, Email: ob.Email, GivenName: ob.GivenName,
			Surname: ob.Surname, Sponsor: ob.Sponsor, Until: ob.Until, Reason: r.Reason, Actor: actor})
	} else if v, verr := m.store.Invite(ctx, ob.InviteID); verr == nil && len(v.SealedPassword) == 0 {
		errs = append(errs, errors.New("the initial password was lost when jitd stopped during onboarding: the sponsor must reset it"))
	}
	a := created.Account
	if a.ID == "" {
		return "", err
	}
	if a.State != store.AccountActive {
		return a.ID, fmt.Errorf("the account is %s (retried from the queue); its groups were not granted: %v", a.State, err)
	}
	if created.Password != "" {
		if err := m.keepPassword(ctx, ob.InviteID, created.Password); err != nil {
			errs = append(errs, fmt.Errorf("keep the initial password: %w (the sponsor must reset it)", err))
		}
	}
	held, err := m.store.Grants(ctx, store.GrantFilter{Directory: r.Directory, UserName: a.Login, States: grant.LiveStates})
	if err != nil {
		return a.ID, err
	}
	for _, g := range ob.Groups {
		if slices.ContainsFunc(held, func(h store.Grant) bool { return h.GroupName == g && h.CreatedBy == actor }) {
			continue
		}
		if _, err := m.grants.Add(ctx, grant.AddRequest{Directory: r.Directory, User: a.Login, Group: g, Until: a.EndsAt,
			Reason: r.Reason, Actor: actor}); err != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", g, err))
		}
	}
	return a.ID, errors.Join(errs...)
}

func (m *Manager) keepPassword(ctx context.Context, id, password string) error {
	return m.store.Update(ctx, func(tx store.Tx) error {
		v, err := tx.Invite(id)
		if err != nil {
			return err
		}
		if v.SealedPassword, err = seal(v.PublicKey, password); err != nil {
			return err
		}
		return tx.UpdateInvite(v)
	})
}

// Password hands the link's holder the initial password of their approved
// account, once: it is forgotten as it is read.
func (m *Manager) Password(ctx context.Context, token string) (login, password string, err error) {
	v, secret, err := m.resolve(ctx, token)
	if err != nil {
		return "", "", err
	}
	now := m.clock.Now()
	err = m.store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.Invite(v.ID)
		if err != nil {
			return err
		}
		if len(cur.SealedPassword) == 0 {
			if cur.RequestID == "" {
				return fmt.Errorf("%w: nothing to fetch yet: submit the form first", ErrGone)
			}
			return fmt.Errorf("%w: no password waits here: it was fetched already, or the request is not approved yet (see its state)", ErrGone)
		}
		if password, err = open(secret, cur.SealedPassword); err != nil {
			return fmt.Errorf("invite %s: open the sealed password: %w", v.ID, err)
		}
		r, err := tx.Request(cur.RequestID)
		if err != nil {
			return err
		}
		login = r.Requester
		cur.SealedPassword = nil
		if err := tx.UpdateInvite(cur); err != nil {
			return err
		}
		return record(tx, cur, now, "invite:"+v.ID, audit.InviteFetched, "the initial password of "+login+" was fetched through the link")
	})
	return login, password, err
}

// List returns invites, newest first; sponsor "" lists all.
func (m *Manager) List(ctx context.Context, sponsor string) ([]store.Invite, error) {
	return m.store.Invites(ctx, sponsor)
}

// Get returns one invite.
func (m *Manager) Get(ctx context.Context, id string) (store.Invite, error) {
	v, err := m.store.Invite(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return v, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return v, err
}

// Revoke withdraws an open invite. The caller checks who may.
func (m *Manager) Revoke(ctx context.Context, id, by, reason string) (store.Invite, error) {
	now := m.clock.Now()
	var out store.Invite
	err := m.store.Update(ctx, func(tx store.Tx) error {
		v, err := tx.Invite(id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		if v.State != store.InviteOpen {
			return fmt.Errorf("%w: invite %s is %s", ErrGone, id, v.State)
		}
		v.State, v.RevokedBy = store.InviteRevoked, by
		out = v
		if err := tx.UpdateInvite(v); err != nil {
			return err
		}
		return record(tx, v, now, by, audit.InviteRevoked, reason)
	})
	return out, err
}
