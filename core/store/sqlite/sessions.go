package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jitd/jitd/core/store"
)

const sessionEndColumns = `grant_id, directory, user_id, user_name, group_name, state, attempts, next_attempt_at, last_error, created_at, ended_at`

func scanSessionEnd(r scanner) (store.SessionEnd, error) {
	var e store.SessionEnd
	var next, created, ended int64
	err := r.Scan(&e.GrantID, &e.Directory, &e.UserID, &e.UserName, &e.GroupName, &e.State, &e.Attempts, &next, &e.LastError, &created, &ended)
	e.NextAttempt, e.CreatedAt, e.EndedAt = fromNanos(next), fromNanos(created), fromNanos(ended)
	return e, err
}

func (s *Store) SessionEnd(ctx context.Context, grantID string) (store.SessionEnd, error) {
	e, err := scanSessionEnd(s.read.QueryRowContext(ctx, `SELECT `+sessionEndColumns+` FROM session_ends WHERE grant_id = ?`, grantID))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("session end of %s: %w", grantID, store.ErrNotFound)
	}
	return e, err
}

func (s *Store) NextSessionEndDue(ctx context.Context) (time.Time, bool, error) {
	var n sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT min(next_attempt_at) FROM session_ends WHERE state IN ('pending','failed')`).Scan(&n)
	if err != nil || !n.Valid {
		return time.Time{}, false, err
	}
	return fromNanos(n.Int64), true, nil
}

func (t *txn) InsertSessionEnd(e store.SessionEnd) error {
	_, err := t.exec(`INSERT INTO session_ends (`+sessionEndColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (grant_id) DO NOTHING`,
		e.GrantID, e.Directory, e.UserID, e.UserName, e.GroupName, e.State, e.Attempts, nanos(e.NextAttempt), e.LastError, nanos(e.CreatedAt), nanos(e.EndedAt))
	return err
}

func (t *txn) UpdateSessionEnd(e store.SessionEnd) error {
	_, err := t.exec(`UPDATE session_ends SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, ended_at = ? WHERE grant_id = ?`,
		e.State, e.Attempts, nanos(e.NextAttempt), e.LastError, nanos(e.EndedAt), e.GrantID)
	return err
}

func (t *txn) DueSessionEnds(now time.Time, limit int) ([]store.SessionEnd, error) {
	return queryAll(t.ctx, t.tx, `SELECT `+sessionEndColumns+` FROM session_ends
		WHERE state IN ('pending','failed') AND next_attempt_at <= ? ORDER BY next_attempt_at, grant_id LIMIT ?`, scanSessionEnd, now.UnixNano(), limit)
}

func (t *txn) RetrySessionEndsNow(directory string, now time.Time) (int, error) {
	n := now.UnixNano()
	res, err := t.exec(`UPDATE session_ends SET next_attempt_at = ? WHERE directory = ? AND state IN ('pending','failed') AND next_attempt_at > ?`, n, directory, n)
	if err != nil {
		return 0, err
	}
	c, err := res.RowsAffected()
	return int(c), err
}
