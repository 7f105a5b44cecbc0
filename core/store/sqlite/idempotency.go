package sqlite

import (
	"database/sql"
	"errors"
	"time"

	"github.com/jitd/jitd/core/store"
)

func (t *txn) ClaimIdempotent(rec store.Idempotent, purgeBefore time.Time) (store.Idempotent, bool, error) {
	if _, err := t.exec(`DELETE FROM idempotency WHERE created_at < ?`, nanos(purgeBefore)); err != nil {
		return rec, false, err
	}
	var old store.Idempotent
	var created int64
	err := t.QueryRowContext(t.ctx, `SELECT principal, key, fingerprint, status, content_type, body, created_at FROM idempotency WHERE principal = ? AND key = ?`,
		rec.Principal, rec.Key).Scan(&old.Principal, &old.Key, &old.Fingerprint, &old.Status, &old.ContentType, &old.Body, &created)
	if err == nil {
		old.CreatedAt = fromNanos(created)
		return old, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return rec, false, err
	}
	_, err = t.exec(`INSERT INTO idempotency (principal, key, fingerprint, created_at) VALUES (?, ?, ?, ?)`,
		rec.Principal, rec.Key, rec.Fingerprint, nanos(rec.CreatedAt))
	return rec, false, err
}

func (t *txn) FinishIdempotent(principal, key string, status int, contentType string, body []byte) error {
	_, err := t.exec(`UPDATE idempotency SET status = ?, content_type = ?, body = ? WHERE principal = ? AND key = ?`,
		status, contentType, body, principal, key)
	return err
}

func (t *txn) ReleaseIdempotent(principal, key string) error {
	_, err := t.exec(`DELETE FROM idempotency WHERE principal = ? AND key = ? AND status = 0`, principal, key)
	return err
}
