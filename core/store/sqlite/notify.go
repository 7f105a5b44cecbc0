package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/store"
)

const notificationColumns = `id, channel, event, audit_seq, subject, recipient, data, state, attempts, due_at, created_at, sent_at, last_error`

func scanNotification(r scanner) (store.Notification, error) {
	var n store.Notification
	var state string
	var due, created, sent int64
	err := r.Scan(&n.ID, &n.Channel, &n.Event, &n.AuditSeq, &n.Subject, &n.Recipient, &n.Data, &state, &n.Attempts, &due, &created, &sent, &n.LastError)
	n.State, n.DueAt, n.CreatedAt, n.SentAt = store.NotificationState(state), fromNanos(due), fromNanos(created), fromNanos(sent)
	return n, err
}

// Notifications lists deliveries, newest first.
func (s *Store) Notifications(ctx context.Context, f store.NotificationFilter) ([]store.Notification, error) {
	var w where
	in(&w, "state", f.States)
	w.eq("subject", f.Subject)
	return queryAll(ctx, s.read, `SELECT `+notificationColumns+` FROM notifications `+w.newestFirst(f.Limit), scanNotification, w.args...)
}

// NextNotificationDue returns when the earliest pending delivery is due.
func (s *Store) NextNotificationDue(ctx context.Context) (time.Time, bool, error) {
	var due sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT min(due_at) FROM notifications WHERE state = 'pending'`).Scan(&due)
	if err != nil || !due.Valid {
		return time.Time{}, false, err
	}
	return fromNanos(due.Int64), true, nil
}

// AuditAfter lists audit events after seq, oldest first.
func (s *Store) AuditAfter(ctx context.Context, seq int64, limit int) ([]audit.Event, error) {
	return queryAll(ctx, s.read, `SELECT `+auditColumns+` FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`,
		scanAudit, seq, limit)
}

func (t *txn) NotifyCursor() (int64, bool, error) {
	var seq int64
	err := t.QueryRowContext(t.ctx, `SELECT seq FROM notify_cursor WHERE id = 1`).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return seq, err == nil, err
}

func (t *txn) SetNotifyCursor(seq int64) error {
	_, err := t.exec(`INSERT INTO notify_cursor (id, seq) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq`, seq)
	return err
}

func (t *txn) InsertNotification(n store.Notification) error {
	_, err := t.exec(`INSERT INTO notifications (channel, event, audit_seq, subject, recipient, data, state, attempts, due_at, created_at, sent_at, last_error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.Channel, n.Event, n.AuditSeq, n.Subject, n.Recipient, n.Data, string(n.State), n.Attempts, nanos(n.DueAt), nanos(n.CreatedAt), nanos(n.SentAt), n.LastError)
	return err
}

func (t *txn) DueNotifications(now time.Time, limit int) ([]store.Notification, error) {
	return queryAll(t.ctx, t, `SELECT `+notificationColumns+` FROM notifications WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?`,
		scanNotification, nanos(now), limit)
}

func (t *txn) UpdateNotification(n store.Notification) error {
	_, err := t.exec(`UPDATE notifications SET state = ?, attempts = ?, due_at = ?, sent_at = ?, last_error = ? WHERE id = ?`,
		string(n.State), n.Attempts, nanos(n.DueAt), nanos(n.SentAt), n.LastError, n.ID)
	return err
}
