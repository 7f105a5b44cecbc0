package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/jitd/jitd/core/store"
)

const accountColumns = `id, directory, external_id, login, email, given_name, surname, sponsor, created_by, reason, state,
	ends_at, delete_at, created_at, updated_at, disabled_at, deleted_at, end_reason, password_delivered,
	attempts, next_attempt_at, last_error`

func scanAccount(r scanner) (store.Account, error) {
	var a store.Account
	var state string
	var ends, del, created, updated, disabled, deleted, next int64
	err := r.Scan(&a.ID, &a.Directory, &a.ExternalID, &a.Login, &a.Email, &a.GivenName, &a.Surname, &a.Sponsor, &a.CreatedBy, &a.Reason, &state,
		&ends, &del, &created, &updated, &disabled, &deleted, &a.EndReason, &a.PasswordDelivered,
		&a.Attempts, &next, &a.LastError)
	if err != nil {
		return a, err
	}
	a.State = store.AccountState(state)
	a.EndsAt, a.DeleteAt, a.CreatedAt, a.UpdatedAt = fromNanos(ends), fromNanos(del), fromNanos(created), fromNanos(updated)
	a.DisabledAt, a.DeletedAt, a.NextAttempt = fromNanos(disabled), fromNanos(deleted), fromNanos(next)
	return a, nil
}

func getAccount(ctx context.Context, q querier, id string) (store.Account, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("account %q: %w", id, store.ErrNotFound)
	}
	return a, err
}

func queryAccounts(ctx context.Context, q querier, where string, args ...any) ([]store.Account, error) {
	return queryAll(ctx, q, `SELECT `+accountColumns+` FROM accounts `+where, scanAccount, args...)
}

func filterAccounts(ctx context.Context, q querier, f store.AccountFilter) ([]store.Account, error) {
	var w where
	in(&w, "state", f.States)
	for _, c := range []struct{ col, v string }{{"directory", f.Directory}, {"sponsor", f.Sponsor}, {"login", f.Login}} {
		w.eq(c.col, c.v)
	}
	return queryAccounts(ctx, q, w.newestFirst(f.Limit)+offset(f.Limit, f.Offset), w.args...)
}

// Account returns one account.
func (s *Store) Account(ctx context.Context, id string) (store.Account, error) {
	return getAccount(ctx, s.read, id)
}

// Accounts lists accounts, newest first.
func (s *Store) Accounts(ctx context.Context, f store.AccountFilter) ([]store.Account, error) {
	return filterAccounts(ctx, s.read, f)
}

// NextAccountDue returns the earliest time an account needs lifecycle work.
func (s *Store) NextAccountDue(ctx context.Context) (time.Time, bool, error) {
	var n sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT min(t) FROM (
		SELECT min(ends_at) AS t FROM accounts WHERE state = 'active'
		UNION ALL SELECT min(delete_at) FROM accounts WHERE state = 'disabled'
		UNION ALL SELECT min(next_attempt_at) FROM accounts WHERE state IN ('creating','disabling','disable_failed','deleting'))`).Scan(&n)
	if err != nil || !n.Valid {
		return time.Time{}, false, err
	}
	return fromNanos(n.Int64), true, nil
}

func (t *txn) Account(id string) (store.Account, error) { return getAccount(t.ctx, t, id) }

func (t *txn) Accounts(f store.AccountFilter) ([]store.Account, error) {
	return filterAccounts(t.ctx, t, f)
}

func (t *txn) InsertAccount(a store.Account) error {
	_, err := t.exec(`INSERT INTO accounts (`+accountColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		a.ID, a.Directory, a.ExternalID, a.Login, a.Email, a.GivenName, a.Surname, a.Sponsor, a.CreatedBy, a.Reason, string(a.State),
		nanos(a.EndsAt), nanos(a.DeleteAt), nanos(a.CreatedAt), nanos(a.UpdatedAt), nanos(a.DisabledAt), nanos(a.DeletedAt), a.EndReason, a.PasswordDelivered,
		a.Attempts, nanos(a.NextAttempt), a.LastError)
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		return fmt.Errorf("account %q (%s in %s): %w: %v", a.ID, a.Login, a.Directory, store.ErrConflict, err)
	}
	return err
}

func (t *txn) UpdateAccount(a store.Account) error {
	res, err := t.exec(`UPDATE accounts SET external_id = ?, state = ?, ends_at = ?, delete_at = ?, updated_at = ?, disabled_at = ?,
		deleted_at = ?, end_reason = ?, password_delivered = ?, attempts = ?, next_attempt_at = ?, last_error = ?, sponsor = ? WHERE id = ?`,
		a.ExternalID, string(a.State), nanos(a.EndsAt), nanos(a.DeleteAt), nanos(a.UpdatedAt), nanos(a.DisabledAt),
		nanos(a.DeletedAt), a.EndReason, a.PasswordDelivered, a.Attempts, nanos(a.NextAttempt), a.LastError, a.Sponsor, a.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("account %q: %w", a.ID, store.ErrNotFound)
	}
	return nil
}

func (t *txn) RetryAccountsNow(directory string, now time.Time) (int, error) {
	n := now.UnixNano()
	res, err := t.exec(`UPDATE accounts SET next_attempt_at = ?
		WHERE directory = ? AND state IN ('creating','disabling','disable_failed','deleting') AND next_attempt_at > ?`, n, directory, n)
	if err != nil {
		return 0, err
	}
	c, err := res.RowsAffected()
	return int(c), err
}

func (t *txn) DueAccounts(now time.Time, limit int) ([]store.Account, error) {
	n := now.UnixNano()
	return queryAccounts(t.ctx, t, `WHERE id IN (
		SELECT id FROM accounts WHERE state = 'active' AND ends_at <= ?
		UNION ALL SELECT id FROM accounts WHERE state = 'disabled' AND delete_at <= ?
		UNION ALL SELECT id FROM accounts WHERE state IN ('creating','disabling','disable_failed','deleting') AND next_attempt_at <= ?)
		ORDER BY ends_at, id LIMIT ?`, n, n, n, limit)
}
