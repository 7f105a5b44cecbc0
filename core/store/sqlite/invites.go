package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/jitd/jitd/core/store"
)

const inviteColumns = `id, secret_hash, public_key, directory, sponsor, created_by, max_until, groups, note, state,
	created_at, expires_at, used_at, request_id, sealed_password, revoked_by`

func scanInvite(r scanner) (store.Invite, error) {
	var v store.Invite
	var state, groups string
	var maxUntil, created, expires, used int64
	err := r.Scan(&v.ID, &v.SecretHash, &v.PublicKey, &v.Directory, &v.Sponsor, &v.CreatedBy, &maxUntil, &groups, &v.Note, &state,
		&created, &expires, &used, &v.RequestID, &v.SealedPassword, &v.RevokedBy)
	if err != nil {
		return v, err
	}
	v.State, v.MaxUntil, v.CreatedAt, v.ExpiresAt, v.UsedAt = store.InviteState(state), fromNanos(maxUntil), fromNanos(created), fromNanos(expires), fromNanos(used)
	if err := json.Unmarshal([]byte(groups), &v.Groups); err != nil {
		return v, fmt.Errorf("invite %s: groups: %w", v.ID, err)
	}
	return v, nil
}

func getInvite(ctx context.Context, q querier, id string) (store.Invite, error) {
	v, err := scanInvite(q.QueryRowContext(ctx, `SELECT `+inviteColumns+` FROM invites WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("invite %q: %w", id, store.ErrNotFound)
	}
	return v, err
}

// Invite returns one invite.
func (s *Store) Invite(ctx context.Context, id string) (store.Invite, error) {
	return getInvite(ctx, s.read, id)
}

// Invites lists invites, newest first; sponsor "" lists all.
func (s *Store) Invites(ctx context.Context, sponsor string) ([]store.Invite, error) {
	var w where
	w.eq("sponsor", sponsor)
	return queryAll(ctx, s.read, `SELECT `+inviteColumns+` FROM invites `+w.newestFirst(0), scanInvite, w.args...)
}

func (t *txn) Invite(id string) (store.Invite, error) { return getInvite(t.ctx, t, id) }

func (t *txn) InsertInvite(v store.Invite) error {
	groups := v.Groups
	if groups == nil {
		groups = []string{}
	}
	g, _ := json.Marshal(groups)
	_, err := t.exec(`INSERT INTO invites (`+inviteColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		v.ID, v.SecretHash, v.PublicKey, v.Directory, v.Sponsor, v.CreatedBy, nanos(v.MaxUntil), string(g), v.Note, string(v.State),
		nanos(v.CreatedAt), nanos(v.ExpiresAt), nanos(v.UsedAt), v.RequestID, v.SealedPassword, v.RevokedBy)
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		return fmt.Errorf("invite %q: %w: %v", v.ID, store.ErrConflict, err)
	}
	return err
}

func (t *txn) UpdateInvite(v store.Invite) error {
	res, err := t.exec(`UPDATE invites SET state = ?, used_at = ?, request_id = ?, sealed_password = ?, revoked_by = ? WHERE id = ?`,
		string(v.State), nanos(v.UsedAt), v.RequestID, v.SealedPassword, v.RevokedBy, v.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("invite %q: %w", v.ID, store.ErrNotFound)
	}
	return nil
}

// SessionsEndedAt returns when login last signed out (zero: never).
func (s *Store) SessionsEndedAt(ctx context.Context, login string) (time.Time, error) {
	var at int64
	err := s.read.QueryRowContext(ctx, `SELECT at FROM session_logouts WHERE login = ?`, login).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return fromNanos(at), err
}

func (t *txn) EndSessions(login string, at time.Time) error {
	_, err := t.exec(`INSERT INTO session_logouts (login, at) VALUES (?, ?) ON CONFLICT (login) DO UPDATE SET at = max(at, excluded.at)`, login, nanos(at))
	return err
}

func (t *txn) UseLink(key string, expires, now time.Time) (bool, error) {
	if _, err := t.exec(`DELETE FROM used_links WHERE expires_at <= ?`, nanos(now)); err != nil {
		return false, err
	}
	res, err := t.exec(`INSERT INTO used_links (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, nanos(expires))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (t *txn) ForgetLink(key string) error {
	_, err := t.exec(`DELETE FROM used_links WHERE key = ?`, key)
	return err
}
