// Package account runs the lifecycle of ephemeral (contractor) accounts in
// any directory that offers them: created and enabled at approval, disabled
// at their end date, deleted after the retention period. Every step commits
// its intent and audit event before the directory call and its outcome after,
// is idempotent, and is retried with backoff from a durable queue until it
// is done; a disable that keeps failing is alerted (disable_failed) and still
// retried.
package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/backoff"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/conf"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/fault"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/work"
)

// Errors for callers to map to responses, each of a fault kind.
var (
	// ErrInvalid: the request is malformed or not allowed; nothing was changed.
	ErrInvalid = fault.New(fault.ErrInvalid, "invalid account request")
	// ErrNotFound: no such account.
	ErrNotFound = fault.New(fault.ErrNotFound, "account not found").Answered("no such account")
	// ErrConflict: the account is not in a state that allows the operation.
	ErrConflict = fault.New(fault.ErrConflict, "account state conflict")
	// ErrDirectory: the directory call failed; the account records it and
	// the queue retries.
	ErrDirectory = fault.New(fault.ErrDirectory, "directory call failed")
)

// Sponsor offboarding rules: what happens to a contractor's accounts when
// their sponsor leaves.
const (
	SponsorDisable  = "disable"  // the accounts end now
	SponsorReassign = "reassign" // the accounts move to Config.ReassignTo
)

// Store is the part of jitd's store contractor accounts use.
type Store interface {
	store.Updater
	store.Accounts
	store.Grants
}

// Config tunes the lifecycle. Zero fields take defaults.
type Config struct {
	// Retention is how long a disabled account is kept before deletion
	// (default 30 days).
	Retention time.Duration `yaml:"retention"`
	// MaxDuration caps an account's lifetime from now (default 365 days).
	MaxDuration time.Duration `yaml:"max_duration"`
	// SponsorOffboarding is disable (default) or reassign.
	SponsorOffboarding string `yaml:"sponsor_offboarding"`
	// ReassignTo is the login that takes over the accounts of a sponsor who
	// left, with SponsorOffboarding: reassign.
	ReassignTo string `yaml:"reassign_to"`
	// MaxAttempts failed disables make an account disable_failed (alerted,
	// still retried). Default 6; the daemon uses expiry.max_attempts.
	MaxAttempts int `yaml:"-"`
	// MinBackoff and MaxBackoff bound the retry delay (1s, 5m).
	MinBackoff time.Duration `yaml:"-"`
	MaxBackoff time.Duration `yaml:"-"`
	// AlertAfter: a disable that has failed and is this far past the
	// account's end makes it disable_failed (alerted, still retried)
	// whatever its number of attempts (default 20s; the daemon uses
	// expiry.alert_after).
	AlertAfter time.Duration `yaml:"-"`
	// Concurrency caps the accounts worked on at once per directory
	// (default 4; the daemon uses expiry.concurrency).
	Concurrency int `yaml:"-"`
}

// DefaultConfig is what the accounts section means when the file leaves it
// out.
func DefaultConfig() Config { return Config{}.withDefaults() }

// Validate returns every problem, at its key in the accounts section.
func (c Config) Validate() conf.Problems {
	var p conf.Problems
	if c.Retention < 0 {
		p.Addf("retention", "must not be negative")
	}
	if c.MaxDuration <= 0 {
		p.Addf("max_duration", "must be positive")
	}
	switch c.SponsorOffboarding {
	case SponsorDisable:
		if c.ReassignTo != "" {
			p.Addf("reassign_to", "only used with sponsor_offboarding: reassign")
		}
	case SponsorReassign:
		if strings.TrimSpace(c.ReassignTo) == "" {
			p.Addf("reassign_to", "required with sponsor_offboarding: reassign (the login that takes the accounts over)")
		}
	default:
		p.Addf("sponsor_offboarding", "must be disable or reassign (got %q)", c.SponsorOffboarding)
	}
	return p
}

func (c Config) withDefaults() Config {
	if c.Retention <= 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	if c.MaxDuration <= 0 {
		c.MaxDuration = 365 * 24 * time.Hour
	}
	if c.SponsorOffboarding == "" {
		c.SponsorOffboarding = SponsorDisable
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 6
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(5*time.Minute, c.MinBackoff)
	}
	if c.AlertAfter <= 0 {
		c.AlertAfter = 20 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	return c
}

// Alerter is told when an account's disabling keeps failing.
type Alerter func(a store.Account, err error)

// Manager runs the account lifecycle.
type Manager struct {
	cfg    Config
	store  Store
	dirs   *directories.Registry
	grants *grant.Manager
	clock  clock.Clock
	log    *slog.Logger
	alert  Alerter
	wake   chan struct{}

	delays *backoff.Backoff
	retry  work.Retry
}

// New returns a Manager. grants (to revoke a disabled account's grants) and
// alert may be nil.
func New(cfg Config, st Store, dirs *directories.Registry, grants *grant.Manager, clk clock.Clock, log *slog.Logger, alert Alerter) *Manager {
	if alert == nil {
		alert = func(store.Account, error) {}
	}
	cfg = cfg.withDefaults()
	delays := backoff.New(cfg.MinBackoff, cfg.MaxBackoff, uint64(clk.Now().UnixNano()))
	return &Manager{
		cfg: cfg, store: st, dirs: dirs, grants: grants, clock: clk, log: log, alert: alert,
		wake: make(chan struct{}, 1), delays: delays,
		// Only a disable can fail: creating and deleting are retried alike,
		// but an account that cannot be disabled is access outliving its end.
		retry: work.Retry{MaxAttempts: cfg.MaxAttempts, AlertAfter: cfg.AlertAfter, Backoff: delays},
	}
}

// lock serialises work on one account: callers and the queue take turns.
func (m *Manager) lock(id string) func() { return m.dirs.Lock("account", id) }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// accounts returns the directory's account manager.
func (m *Manager) accounts(name string) (connectors.AccountManager, *directories.Directory, error) {
	d, ok := m.dirs.Set[name]
	if !ok {
		return nil, nil, invalid("no directory %q is configured", name)
	}
	am, ok := connectors.AsAccountManager(d.Conn)
	if !ok {
		return nil, nil, invalid("directory %q does not manage accounts (for LDAP, configure accounts:)", name)
	}
	return am, d, nil
}

// Directory names the directory accounts go to: name itself when it manages
// accounts, or, for "", the only directory that does.
func (m *Manager) Directory(name string) (string, error) {
	if name == "" {
		return m.defaultDirectory()
	}
	_, _, err := m.accounts(name)
	return name, err
}

// CreateRequest asks for an ephemeral account.
type CreateRequest struct {
	Directory string // may be empty when exactly one directory manages accounts
	Login     string
	Email     string
	GivenName string
	Surname   string
	Sponsor   string // the employee responsible, a login in the same directory
	Until     time.Time
	Reason    string
	Actor     string
}

// Created is a new account and, when the directory took one, its initial
// password. The password is returned this once and stored nowhere.
type Created struct {
	Account  store.Account
	Password string
}

func (m *Manager) defaultDirectory() (string, error) {
	var names []string
	for name, d := range m.dirs.Set {
		if _, ok := connectors.AsAccountManager(d.Conn); ok {
			names = append(names, name)
		}
	}
	if len(names) != 1 {
		return "", invalid("name the directory (one of the %d that manage accounts)", len(names))
	}
	return names[0], nil
}

// safeLogin is what a contractor login may be: plain lower-case ASCII, so
// that no look-alike from another script (a Cyrillic а) passes for an
// existing login, and every directory kind can hold it.
var safeLogin = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}(@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+)?$`)

// Create records the account, creates it enabled in the directory with a
// random initial password, and records the outcome.
func (m *Manager) Create(ctx context.Context, req CreateRequest) (Created, error) {
	if req.Directory == "" {
		d, err := m.defaultDirectory()
		if err != nil {
			return Created{}, err
		}
		req.Directory = d
	}
	am, d, err := m.accounts(req.Directory)
	if err != nil {
		return Created{}, err
	}
	now := m.clock.Now()
	var problems []string
	req.Login, req.Sponsor = strings.TrimSpace(req.Login), strings.TrimSpace(req.Sponsor)
	if req.Login == "" {
		problems = append(problems, "login is required")
	}
	if req.Sponsor == "" {
		problems = append(problems, "sponsor is required (the employee responsible for the account)")
	}
	if strings.TrimSpace(req.Reason) == "" {
		problems = append(problems, "a reason is required")
	}
	switch {
	case req.Until.IsZero():
		problems = append(problems, "an end date (until) is required")
	case !req.Until.After(now):
		problems = append(problems, fmt.Sprintf("until %s is not in the future", req.Until.UTC().Format(time.RFC3339)))
	case req.Until.After(now.Add(m.cfg.MaxDuration)):
		problems = append(problems, fmt.Sprintf("until is more than the maximum account lifetime (%s) away", m.cfg.MaxDuration))
	}
	if req.Login != "" && !safeLogin.MatchString(req.Login) {
		problems = append(problems, fmt.Sprintf("login %q: use 1 to 64 lower-case ASCII letters, digits, '.', '_' or '-' (and @domain where the directory's logins are addresses), starting with a letter or digit; look-alike letters from other scripts are refused", req.Login))
	}
	if err := grant.CheckText("the reason", req.Reason, 0); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return Created{}, invalid("%s", strings.Join(problems, "; "))
	}
	if res, ok := connectors.AsResolver(d.Conn); ok {
		// The login must be new to the whole directory, not only to the
		// contractors' container: a contractor alice would make the
		// employee alice ungrantable (and every lookup ambiguous).
		switch _, err := res.LookupUser(ctx, req.Login); {
		case err == nil:
			return Created{}, invalid("directory %q already has a user %q; logins must be unique in the whole directory", req.Directory, req.Login)
		case !errors.Is(err, connectors.ErrNotFound):
			return Created{}, fmt.Errorf("%w: look up login %q: %w", ErrDirectory, req.Login, err)
		}
		sp, err := res.LookupUser(ctx, req.Sponsor)
		switch {
		case errors.Is(err, connectors.ErrNotFound):
			return Created{}, invalid("no sponsor %q in directory %q", req.Sponsor, req.Directory)
		case err != nil:
			return Created{}, fmt.Errorf("%w: look up sponsor %q: %w", ErrDirectory, req.Sponsor, err)
		case !sp.Enabled:
			return Created{}, invalid("sponsor %q is disabled in directory %q", req.Sponsor, req.Directory)
		}
	}
	a := store.Account{
		ID: NewID(), Directory: req.Directory, Login: req.Login, Email: req.Email, GivenName: req.GivenName, Surname: req.Surname,
		Sponsor: req.Sponsor, CreatedBy: req.Actor, Reason: req.Reason, State: store.AccountCreating,
		EndsAt: req.Until, DeleteAt: req.Until.Add(m.cfg.Retention), CreatedAt: now, UpdatedAt: now,
		NextAttempt: now.Add(m.dirs.CallTimeout()), // the queue resumes it if this call never records an outcome
	}
	err = m.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertAccount(a); err != nil {
			return err
		}
		return appendEvent(tx, a, now, req.Actor, audit.AccountCreating, fmt.Sprintf("sponsor %s, until %s: %s", a.Sponsor, a.EndsAt.UTC().Format(time.RFC3339), a.Reason))
	})
	if errors.Is(err, store.ErrConflict) {
		return Created{}, invalid("directory %q already has a live account %q", req.Directory, req.Login)
	}
	if err != nil {
		return Created{}, err
	}
	unlock := m.lock(a.ID)
	defer unlock()
	password := connectors.RandomPassword()
	a, err = m.create(ctx, am, a, password)
	m.Wake() // the account's end (or retry) is now the queue's to watch
	out := Created{Account: a}
	if a.PasswordDelivered {
		out.Password = password
	}
	return out, err
}

// create makes the directory call for an account in state creating and
// records the outcome.
func (m *Manager) create(ctx context.Context, am connectors.AccountManager, a store.Account, password string) (store.Account, error) {
	spec := connectors.AccountSpec{Login: a.Login, Email: a.Email, GivenName: a.GivenName, Surname: a.Surname, Until: a.EndsAt, Activate: true, Password: password}
	callCtx, cancel := m.dirs.Deadline(ctx)
	acct, err := am.CreateAccount(callCtx, spec)
	cancel()
	adopted := false
	if errors.Is(err, connectors.ErrInvalid) && password == "" {
		// A retry after a crash: the first call may have created it.
		acct, err = m.adopt(ctx, am, a)
		adopted = err == nil
	}
	now := m.clock.Now()
	switch {
	case err == nil:
		a.State, a.ExternalID, a.PasswordDelivered = store.AccountActive, acct.ID, acct.PasswordSet && !adopted
		a.Attempts, a.NextAttempt, a.LastError, a.UpdatedAt = 0, time.Time{}, "", now
		detail := "created in " + a.Directory + " as " + acct.ID
		if adopted {
			detail += " (found after an interrupted create; its initial password was never delivered: reset it in the directory)"
		}
		return a, m.record(a, now, "jitd", audit.AccountCreated, detail)
	case errors.Is(err, connectors.ErrInvalid) || errors.Is(err, connectors.ErrPermission):
		a.State, a.LastError, a.UpdatedAt, a.NextAttempt = store.AccountCreateFailed, err.Error(), now, time.Time{}
		rerr := m.record(a, now, "jitd", audit.AccountCreateFailed, err.Error())
		return a, errors.Join(fmt.Errorf("%w: %w", ErrInvalid, err), rerr)
	default:
		m.retryLater(&a, now, err)
		rerr := m.record(a, now, "", "", "")
		return a, errors.Join(fmt.Errorf("%w: create %s in %s (retried from the queue): %w", ErrDirectory, a.Login, a.Directory, err), rerr)
	}
}

// adopt finds an account a crash left created but unrecorded. It must carry
// jitd's marker: enabling it is refused (ErrPermission) otherwise.
func (m *Manager) adopt(ctx context.Context, am connectors.AccountManager, a store.Account) (connectors.Account, error) {
	res, ok := connectors.AsResolver(m.dirs.Set[a.Directory].Conn)
	if !ok {
		return connectors.Account{}, fmt.Errorf("account %s exists and cannot be looked up: %w", a.Login, connectors.ErrInvalid)
	}
	u, err := res.LookupUser(ctx, a.Login)
	if err != nil {
		return connectors.Account{}, err
	}
	if err := am.SetAccountEnabled(ctx, u.ID, true); err != nil {
		return connectors.Account{}, err
	}
	return connectors.Account{ID: u.ID, Login: u.Login, Enabled: true}, nil
}

// retryLater counts a failed call and schedules the next attempt (see
// work.Retry); its verdict says whether a disable has now failed. A rate
// limit's wait is honoured and not counted as a failure.
func (m *Manager) retryLater(a *store.Account, now time.Time, err error) work.Verdict {
	v := m.retry.After(work.Attempt{Attempts: a.Attempts, Due: a.EndsAt, Now: now, Err: err, Failed: a.State == store.AccountDisableFailed})
	a.Attempts, a.NextAttempt = v.Attempts, v.Next
	a.LastError, a.UpdatedAt = err.Error(), now
	return v
}

// record writes the account and, when action is set, its audit event.
func (m *Manager) record(a store.Account, at time.Time, actor, action, detail string) error {
	return m.store.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.UpdateAccount(a); err != nil {
			return err
		}
		if action == "" {
			return nil
		}
		return appendEvent(tx, a, at, actor, action, detail)
	})
}

func appendEvent(tx store.Tx, a store.Account, at time.Time, actor, action, detail string) error {
	if actor == "" {
		actor = "jitd"
	}
	_, err := tx.AppendAudit(audit.Event{Time: at, Actor: actor, Action: action, GrantID: a.ID, Directory: a.Directory, User: a.Login, Detail: detail})
	return err
}

// NewID returns a random account id such as "a-3xk2...".
func NewID() string { return "a" + strings.TrimPrefix(grant.NewID(), "g") }

// Get returns one account.
func (m *Manager) Get(ctx context.Context, id string) (store.Account, error) {
	a, err := m.store.Account(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return a, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return a, err
}

// Extend moves a live account's end date. The directory's own end date
// (AD accountExpires) is moved first; if that fails nothing changes.
func (m *Manager) Extend(ctx context.Context, id string, until time.Time, actor, reason string) (store.Account, error) {
	if strings.TrimSpace(reason) == "" {
		return store.Account{}, invalid("a reason is required to extend an account")
	}
	unlock := m.lock(id)
	defer unlock()
	a, err := m.Get(ctx, id)
	if err != nil {
		return a, err
	}
	now := m.clock.Now()
	switch {
	case a.State != store.AccountActive:
		return a, fmt.Errorf("%w: account %s is %s; only an active account can be extended", ErrConflict, id, a.State)
	case !until.After(now):
		return a, invalid("until %s is not in the future", until.UTC().Format(time.RFC3339))
	case until.After(now.Add(m.cfg.MaxDuration)):
		return a, invalid("until is more than the maximum account lifetime (%s) away", m.cfg.MaxDuration)
	}
	am, _, err := m.accounts(a.Directory)
	if err != nil {
		return a, err
	}
	callCtx, cancel := m.dirs.Deadline(ctx)
	err = am.SetAccountExpiry(callCtx, a.ExternalID, until)
	cancel()
	if err != nil {
		return a, fmt.Errorf("%w: move the end date in %s (nothing changed): %w", ErrDirectory, a.Directory, err)
	}
	old := a.EndsAt
	a.EndsAt, a.DeleteAt, a.UpdatedAt = until, until.Add(m.cfg.Retention), now
	detail := fmt.Sprintf("until %s (was %s): %s", until.UTC().Format(time.RFC3339), old.UTC().Format(time.RFC3339), reason)
	if err := m.record(a, now, actor, audit.AccountExtended, detail); err != nil {
		return a, err
	}
	m.Wake()
	return a, nil
}

// Disable ends a live account now: it is disabled in the directory (here,
// and retried from the queue if the directory fails) and deleted after the
// retention period.
func (m *Manager) Disable(ctx context.Context, id, actor, reason string) (store.Account, error) {
	return m.end(ctx, id, actor, reason, false)
}

// Delete ends an account now and deletes it without waiting for retention.
func (m *Manager) Delete(ctx context.Context, id, actor, reason string) (store.Account, error) {
	return m.end(ctx, id, actor, reason, true)
}

func (m *Manager) end(ctx context.Context, id, actor, reason string, deleteNow bool) (store.Account, error) {
	if strings.TrimSpace(reason) == "" {
		return store.Account{}, invalid("a reason is required")
	}
	unlock := m.lock(id)
	defer unlock()
	a, err := m.Get(ctx, id)
	if err != nil {
		return a, err
	}
	now := m.clock.Now()
	why := fmt.Sprintf("by %s: %s", actor, reason)
	switch a.State {
	case store.AccountActive, store.AccountDisabling, store.AccountDisableFailed:
		if a.EndsAt.After(now) {
			a.EndsAt = now
		}
		if deleteNow || a.DeleteAt.After(now.Add(m.cfg.Retention)) {
			a.DeleteAt = now.Add(m.cfg.Retention)
		}
		if deleteNow {
			a.DeleteAt = now
		}
		if a.State == store.AccountActive {
			a.EndReason = "ended " + why
		}
		a.State, a.NextAttempt, a.UpdatedAt = store.AccountDisabling, time.Time{}, now
		if err := m.record(a, now, actor, audit.AccountDisabling, why); err != nil {
			return a, err
		}
	case store.AccountDisabled:
		if !deleteNow {
			return a, nil
		}
		a.DeleteAt, a.UpdatedAt = now, now
		if err := m.record(a, now, actor, audit.AccountDeleting, why); err != nil {
			return a, err
		}
	case store.AccountDeleting, store.AccountDeleted:
		return a, nil
	default:
		return a, fmt.Errorf("%w: account %s is %s", ErrConflict, id, a.State)
	}
	m.Wake()
	a, err = m.step(ctx, a)
	if err != nil {
		return a, fmt.Errorf("%w: %w (retried from the queue)", ErrDirectory, err)
	}
	return a, nil
}
