package account

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/work"
)

// The account queue: one loop sleeps on a timer until the next account has
// work due (an end date, a deletion date, a retry), or until woken. A pass
// steps every due account, up to Concurrency at once per directory (so one
// slow directory does not hold up another's contractors); every step is
// recorded before and after its directory call, so a crash anywhere re-runs
// an idempotent call.

// Wake makes the queue look again now. It never blocks.
func (m *Manager) Wake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// RetryNow makes a directory's account steps that wait out a backoff due
// now and wakes the queue: the directory answers again.
func (m *Manager) RetryNow(ctx context.Context, directory string) (int, error) {
	var n int
	err := m.store.Update(ctx, func(tx store.Tx) (err error) {
		n, err = tx.RetryAccountsNow(directory, m.clock.Now())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("accounts: retry %s now: %w", directory, err)
	}
	m.Wake()
	return n, nil
}

// Run works the queue until ctx is cancelled. Steps waiting out a backoff
// from before a restart are due at once: the directory may have come back
// while jitd was down.
func (m *Manager) Run(ctx context.Context) error {
	for name := range m.dirs.Set {
		if _, err := m.RetryNow(ctx, name); err != nil {
			return err
		}
	}
	work.Loop(ctx, m.clock, m.wake, func(ctx context.Context) (time.Time, bool, error) {
		if _, err := m.RunOnce(ctx); err != nil {
			return time.Time{}, false, err
		}
		return m.store.NextAccountDue(ctx)
	}, m.delays.Delay, func(err error, wait time.Duration) {
		m.log.Error("accounts: queue pass failed; retrying", "err", err, "retry_in", wait)
	})
	return nil
}

// RunOnce does the work due now and returns how many accounts it stepped.
// A directory failure is recorded on its account, not returned.
func (m *Manager) RunOnce(ctx context.Context) (int, error) {
	var due []store.Account
	err := m.store.Update(ctx, func(tx store.Tx) (err error) {
		due, err = tx.DueAccounts(m.clock.Now(), 1000)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("accounts: due work: %w", err)
	}
	dirOf := map[string]string{}
	for _, a := range due {
		dirOf[a.ID] = a.Directory
	}
	var mu sync.Mutex
	var failed error
	steps := &work.Batches[string, store.Account]{
		SlotsFor:  func(dir string) chan struct{} { return m.dirs.Slots(directories.PoolAccounts, dir, m.cfg.Concurrency) },
		Key:       func(a store.Account) string { return a.ID },
		Partition: func(id string) string { return dirOf[id] },
		Run: func(ctx context.Context, id string, _ []store.Account, _ func()) {
			if ctx.Err() != nil {
				return
			}
			unlock := m.lock(id)
			cur, err := m.store.Account(ctx, id) // a caller may have moved it meanwhile
			if err == nil {
				_, err = m.step(ctx, cur)
			}
			unlock()
			if err != nil && !errors.Is(err, errDirectoryCall) {
				mu.Lock()
				failed = cmp.Or(failed, err)
				mu.Unlock()
			}
		},
	}
	steps.Add(ctx, due...)
	steps.Wait()
	if failed != nil {
		return 0, failed
	}
	return len(due), nil
}

// errDirectoryCall marks a failure already recorded on the account.
var errDirectoryCall = errors.New("directory call failed")

// step advances one account as far as is due now. Callers hold its lock.
func (m *Manager) step(ctx context.Context, a store.Account) (store.Account, error) {
	now := m.clock.Now()
	am, _, err := m.accounts(a.Directory)
	if err != nil {
		// The directory left the configuration: keep the account and say so.
		m.retryLater(&a, now, err)
		return a, errors.Join(m.record(a, now, "", "", ""), fmt.Errorf("%w: %w", errDirectoryCall, err))
	}
	switch {
	case a.State == store.AccountCreating && !a.NextAttempt.After(now):
		a, err = m.create(ctx, am, a, "")
		if err != nil {
			return a, fmt.Errorf("%w: %w", errDirectoryCall, err)
		}
	case a.State == store.AccountActive && !a.EndsAt.After(now):
		a.State, a.EndReason, a.UpdatedAt = store.AccountDisabling, "ended at "+a.EndsAt.UTC().Format(time.RFC3339), now
		if err := m.record(a, now, "jitd", audit.AccountDisabling, a.EndReason); err != nil {
			return a, err
		}
	}
	if (a.State == store.AccountDisabling || a.State == store.AccountDisableFailed) && !a.NextAttempt.After(now) {
		if a, err = m.disable(ctx, am, a); err != nil {
			return a, err
		}
	}
	if a.State == store.AccountDisabled && !a.DeleteAt.After(now) {
		a.State, a.UpdatedAt, a.NextAttempt = store.AccountDeleting, now, time.Time{}
		if err := m.record(a, now, "jitd", audit.AccountDeleting, "retention over at "+a.DeleteAt.UTC().Format(time.RFC3339)); err != nil {
			return a, err
		}
	}
	if a.State == store.AccountDeleting && !a.NextAttempt.After(now) {
		return m.remove(ctx, am, a)
	}
	return a, nil
}

// disable disables the account in the directory and ends its grants.
func (m *Manager) disable(ctx context.Context, am connectors.AccountManager, a store.Account) (store.Account, error) {
	callCtx, cancel := m.dirs.Deadline(ctx)
	err := am.SetAccountEnabled(callCtx, a.ExternalID, false)
	cancel()
	if errors.Is(err, connectors.ErrNotFound) {
		err = nil // deleted in the directory already: nothing can sign in
	}
	now := m.clock.Now()
	if err != nil {
		v := m.retryLater(&a, now, err)
		action, detail := "", ""
		if a.State == store.AccountDisabling && v.Fail {
			a.State, action, detail = store.AccountDisableFailed, audit.AccountDisableFailed, err.Error()
			m.log.Error("ALERT: disabling an account keeps failing; still retried", "account_id", a.ID, "directory", a.Directory, "user", a.Login, "attempts", a.Attempts, "err", err)
			m.alert(a, err)
		}
		return a, errors.Join(m.record(a, now, "jitd", action, detail), fmt.Errorf("%w: disable %s in %s: %w", errDirectoryCall, a.Login, a.Directory, err))
	}
	a.State, a.DisabledAt, a.UpdatedAt, a.Attempts, a.NextAttempt, a.LastError = store.AccountDisabled, now, now, 0, time.Time{}, ""
	if err := m.record(a, now, "jitd", audit.AccountDisabled, "disabled in "+a.Directory+"; deleted after "+a.DeleteAt.UTC().Format(time.RFC3339)); err != nil {
		return a, err
	}
	m.log.Info("account disabled", "account_id", a.ID, "directory", a.Directory, "user", a.Login, "reason", a.EndReason, "deleted_after", a.DeleteAt)
	return a, m.endGrants(ctx, a)
}

// endGrants revokes the live grants of a disabled account's user.
func (m *Manager) endGrants(ctx context.Context, a store.Account) error {
	if m.grants == nil || a.ExternalID == "" {
		return nil
	}
	live, err := m.store.Grants(ctx, store.GrantFilter{Directory: a.Directory, UserID: a.ExternalID, States: grant.OwningStates})
	if err != nil {
		return err
	}
	for _, g := range live {
		if _, err := m.grants.Revoke(ctx, g.ID, "jitd", "the account "+a.ID+" was disabled"); err != nil && !errors.Is(err, grant.ErrConflict) {
			return err
		}
	}
	return nil
}

// remove deletes the account from the directory.
func (m *Manager) remove(ctx context.Context, am connectors.AccountManager, a store.Account) (store.Account, error) {
	callCtx, cancel := m.dirs.Deadline(ctx)
	err := am.DeleteAccount(callCtx, a.ExternalID)
	cancel()
	now := m.clock.Now()
	if err != nil {
		m.retryLater(&a, now, err)
		return a, errors.Join(m.record(a, now, "", "", ""), fmt.Errorf("%w: delete %s in %s: %w", errDirectoryCall, a.Login, a.Directory, err))
	}
	a.State, a.DeletedAt, a.UpdatedAt, a.Attempts, a.NextAttempt, a.LastError = store.AccountDeleted, now, now, 0, time.Time{}, ""
	return a, m.record(a, now, "jitd", audit.AccountDeleted, "deleted from "+a.Directory)
}

// SponsorGone applies the sponsor offboarding rule to the live accounts a
// departed sponsor is responsible for, and returns how many it changed.
func (m *Manager) SponsorGone(ctx context.Context, directory, sponsor, why string) (int, error) {
	live, err := m.store.Accounts(ctx, store.AccountFilter{Directory: directory, Sponsor: sponsor, States: []store.AccountState{store.AccountActive, store.AccountCreating}})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range live {
		if m.cfg.SponsorOffboarding == SponsorReassign && m.cfg.ReassignTo != "" && m.cfg.ReassignTo != sponsor {
			unlock := m.lock(a.ID)
			now := m.clock.Now()
			old := a.Sponsor
			a.Sponsor, a.UpdatedAt = m.cfg.ReassignTo, now
			err := m.record(a, now, "jitd", audit.AccountSponsorChanged, fmt.Sprintf("sponsor %s %s; now %s", old, why, a.Sponsor))
			unlock()
			if err != nil {
				return n, err
			}
			n++
			continue
		}
		if _, err := m.Disable(ctx, a.ID, "jitd", "sponsor "+sponsor+" "+why); err != nil && !errors.Is(err, ErrDirectory) && !errors.Is(err, ErrConflict) {
			return n, err
		}
		n++
	}
	return n, nil
}
