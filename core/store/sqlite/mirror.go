package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/store"
)

func (t *txn) UpsertMirrorUser(dir string, u connectors.User, gen int64) error {
	attrs := ""
	if len(u.Attributes) > 0 {
		b, err := json.Marshal(u.Attributes)
		if err != nil {
			return err
		}
		attrs = string(b)
	}
	_, err := t.exec(`INSERT INTO mirror_users (directory, id, login, display_name, dn, ref, enabled, gen, manager, attributes) VALUES (?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (directory, id) DO UPDATE SET login = excluded.login, display_name = excluded.display_name, dn = excluded.dn,
		ref = excluded.ref, enabled = excluded.enabled, gen = excluded.gen, manager = excluded.manager, attributes = excluded.attributes`,
		dir, u.ID, u.Login, u.DisplayName, u.DN, u.Ref, u.Enabled, gen, u.Manager, attrs)
	return err
}

func (t *txn) UpsertMirrorGroup(dir string, g connectors.Group, gen int64) error {
	_, err := t.exec(`INSERT INTO mirror_groups (directory, id, name, dn, gen) VALUES (?,?,?,?,?)
		ON CONFLICT (directory, id) DO UPDATE SET name = excluded.name, dn = excluded.dn, gen = excluded.gen`,
		dir, g.ID, g.Name, g.DN, gen)
	return err
}

// ReplaceMirrorMembers writes only the difference between the group's stored
// members and the new ones, in two statements: a group of 10,000 that lost
// three costs three deletes, not 10,000 deletes and inserts (which held the
// write lock, and with it the expiry queue, for seconds).
func (t *txn) ReplaceMirrorMembers(dir, groupID string, refs []string, byID bool) error {
	col := "ref"
	if byID {
		col = "id"
	}
	list, err := json.Marshal(refs)
	if err != nil {
		return err
	}
	members := `SELECT id FROM mirror_users WHERE directory = ?1 AND ` + col + ` IN (SELECT value FROM json_each(?3))`
	if _, err := t.exec(`DELETE FROM mirror_members WHERE directory = ?1 AND group_id = ?2 AND user_id NOT IN (`+members+`)`, dir, groupID, string(list)); err != nil {
		return err
	}
	_, err = t.exec(`INSERT OR IGNORE INTO mirror_members (directory, group_id, user_id) SELECT ?1, ?2, id FROM (`+members+`)`, dir, groupID, string(list))
	return err
}

func (t *txn) ChangeMirrorMembers(dir, groupID string, added, removed []string) error {
	var known int
	err := t.QueryRowContext(t.ctx, `SELECT count(*) FROM mirror_groups WHERE directory = ? AND id = ?`, dir, groupID).Scan(&known)
	if err != nil || known == 0 {
		return err
	}
	users := `SELECT id FROM mirror_users WHERE directory = ?1 AND ref IN (SELECT value FROM json_each(?3))`
	if len(removed) > 0 {
		list, err := json.Marshal(removed)
		if err != nil {
			return err
		}
		if _, err := t.exec(`DELETE FROM mirror_members WHERE directory = ?1 AND group_id = ?2 AND user_id IN (`+users+`)`, dir, groupID, string(list)); err != nil {
			return err
		}
	}
	if len(added) > 0 {
		list, err := json.Marshal(added)
		if err != nil {
			return err
		}
		_, err = t.exec(`INSERT OR IGNORE INTO mirror_members (directory, group_id, user_id) SELECT ?1, ?2, id FROM (`+users+`)`, dir, groupID, string(list))
		return err
	}
	return nil
}

func (t *txn) DeleteMirrorUser(dir, id string) error {
	if _, err := t.exec(`DELETE FROM mirror_members WHERE directory = ? AND user_id = ?`, dir, id); err != nil {
		return err
	}
	_, err := t.exec(`DELETE FROM mirror_users WHERE directory = ? AND id = ?`, dir, id)
	return err
}

func (t *txn) DeleteMirrorGroup(dir, id string) error {
	if _, err := t.exec(`DELETE FROM mirror_members WHERE directory = ? AND group_id = ?`, dir, id); err != nil {
		return err
	}
	_, err := t.exec(`DELETE FROM mirror_groups WHERE directory = ? AND id = ?`, dir, id)
	return err
}

// SweepMirror returns how many users and groups it removed.
func (t *txn) SweepMirror(dir string, gen int64) (int, error) {
	if _, err := t.exec(`DELETE FROM mirror_members WHERE directory = ?1 AND (
		user_id IN (SELECT id FROM mirror_users WHERE directory = ?1 AND gen < ?2) OR
		group_id IN (SELECT id FROM mirror_groups WHERE directory = ?1 AND gen < ?2))`, dir, gen); err != nil {
		return 0, err
	}
	n := 0
	for _, q := range []string{
		`DELETE FROM mirror_users WHERE directory = ?1 AND gen < ?2`,
		`DELETE FROM mirror_groups WHERE directory = ?1 AND gen < ?2`,
	} {
		res, err := t.exec(q, dir, gen)
		if err != nil {
			return n, err
		}
		i, _ := res.RowsAffected()
		n += int(i)
	}
	return n, nil
}

const syncColumns = `directory, cursor, gen, last_full_at, last_incremental_at, cursor_at, last_error, last_error_at,
	full_syncs, incremental_syncs, cursor_expired`

func scanSync(r scanner) (store.SyncState, error) {
	var s store.SyncState
	var full, inc, cur, errAt int64
	err := r.Scan(&s.Directory, &s.Cursor, &s.Gen, &full, &inc, &cur, &s.LastError, &errAt, &s.FullSyncs, &s.IncrementalSyncs, &s.CursorExpired)
	s.LastFullAt, s.LastIncrementalAt, s.CursorAt, s.LastErrorAt = fromNanos(full), fromNanos(inc), fromNanos(cur), fromNanos(errAt)
	return s, err
}

func syncState(ctx context.Context, q querier, dir string) (store.SyncState, error) {
	s, err := scanSync(q.QueryRowContext(ctx, `SELECT `+syncColumns+` FROM sync_state WHERE directory = ?`, dir))
	if errors.Is(err, sql.ErrNoRows) {
		return store.SyncState{Directory: dir}, fmt.Errorf("sync state of %s: %w", dir, store.ErrNotFound)
	}
	return s, err
}

func (t *txn) SyncState(dir string) (store.SyncState, error) { return syncState(t.ctx, t, dir) }

func (t *txn) PutSyncState(s store.SyncState) error {
	_, err := t.exec(`INSERT INTO sync_state (`+syncColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (directory) DO UPDATE SET cursor = excluded.cursor, gen = excluded.gen, last_full_at = excluded.last_full_at,
		last_incremental_at = excluded.last_incremental_at, cursor_at = excluded.cursor_at, last_error = excluded.last_error,
		last_error_at = excluded.last_error_at, full_syncs = excluded.full_syncs, incremental_syncs = excluded.incremental_syncs,
		cursor_expired = excluded.cursor_expired`,
		s.Directory, s.Cursor, s.Gen, nanos(s.LastFullAt), nanos(s.LastIncrementalAt), nanos(s.CursorAt), s.LastError, nanos(s.LastErrorAt),
		s.FullSyncs, s.IncrementalSyncs, s.CursorExpired)
	return err
}

// SyncState returns a directory's sync state.
func (s *Store) SyncState(ctx context.Context, dir string) (store.SyncState, error) {
	return syncState(ctx, s.read, dir)
}

// MirrorCounts counts a directory's mirrored users, groups and memberships.
func (s *Store) MirrorCounts(ctx context.Context, dir string) (store.MirrorCounts, error) {
	var c store.MirrorCounts
	err := s.read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM mirror_users WHERE directory = ?1),
		(SELECT count(*) FROM mirror_groups WHERE directory = ?1),
		(SELECT count(*) FROM mirror_members WHERE directory = ?1)`, dir).Scan(&c.Users, &c.Groups, &c.Members)
	return c, err
}

const mirrorUserColumns = `id, login, display_name, dn, ref, enabled, manager, attributes`

func scanMirrorUser(r scanner) (connectors.User, error) {
	var u connectors.User
	var attrs string
	if err := r.Scan(&u.ID, &u.Login, &u.DisplayName, &u.DN, &u.Ref, &u.Enabled, &u.Manager, &attrs); err != nil {
		return u, err
	}
	if attrs != "" {
		if err := json.Unmarshal([]byte(attrs), &u.Attributes); err != nil {
			return u, fmt.Errorf("mirror user %s: attributes: %w", u.ID, err)
		}
	}
	return u, nil
}

// MirrorManager returns the mirrored manager of u (ErrNotFound when u has
// none, or it is not mirrored).
func (s *Store) MirrorManager(ctx context.Context, dir string, u connectors.User) (connectors.User, error) {
	if u.Manager == "" {
		return connectors.User{}, fmt.Errorf("manager of %s in %s: %w", u.Login, dir, store.ErrNotFound)
	}
	m, err := scanMirrorUser(s.read.QueryRowContext(ctx, `SELECT `+mirrorUserColumns+` FROM mirror_users
		WHERE directory = ?1 AND (ref = ?2 OR id = ?2) ORDER BY ref = ?2 DESC LIMIT 1`, dir, u.Manager))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("manager %q of %s in %s: %w", u.Manager, u.Login, dir, store.ErrNotFound)
	}
	return m, err
}

// MirrorUser finds a mirrored user by login.
func (s *Store) Person(ctx context.Context, login string) (found, enabled, synced bool, err error) {
	var n, on, dirs int
	err = s.read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM mirror_users WHERE login = ?),
		(SELECT count(*) FROM mirror_users WHERE login = ? AND enabled = 1),
		(SELECT count(*) FROM sync_state WHERE full_syncs > 0)`, login, login).Scan(&n, &on, &dirs)
	return n > 0, on > 0, dirs > 0, err
}

func (s *Store) MirrorUser(ctx context.Context, dir, login string) (connectors.User, error) {
	u, err := scanMirrorUser(s.read.QueryRowContext(ctx, `SELECT `+mirrorUserColumns+` FROM mirror_users WHERE directory = ? AND login = ?`, dir, login))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %q in %s: %w", login, dir, store.ErrNotFound)
	}
	return u, err
}

// MirrorMembers lists a group's mirrored members, by login.
func (s *Store) MirrorMembers(ctx context.Context, dir, groupID string) ([]connectors.User, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+mirrorUserColumns+` FROM mirror_users
		WHERE directory = ? AND id IN (SELECT user_id FROM mirror_members WHERE directory = ? AND group_id = ?) ORDER BY login`, dir, dir, groupID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []connectors.User
	for rows.Next() {
		u, err := scanMirrorUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// MirrorUserGroups lists the names of the mirrored groups a user is in.
func (s *Store) MirrorUserGroups(ctx context.Context, dir, userID string) ([]string, error) {
	return queryAll(ctx, s.read, `SELECT name FROM mirror_groups WHERE directory = ? AND id IN
		(SELECT group_id FROM mirror_members WHERE directory = ? AND user_id = ?) ORDER BY name`,
		func(r scanner) (string, error) { var n string; return n, r.Scan(&n) }, dir, dir, userID)
}

// MirrorGroup finds a mirrored group by name.
func (s *Store) MirrorGroup(ctx context.Context, dir, name string) (connectors.Group, error) {
	var g connectors.Group
	err := s.read.QueryRowContext(ctx, `SELECT id, name, dn FROM mirror_groups WHERE directory = ? AND name = ?`, dir, name).Scan(&g.ID, &g.Name, &g.DN)
	if errors.Is(err, sql.ErrNoRows) {
		return g, fmt.Errorf("group %q in %s: %w", name, dir, store.ErrNotFound)
	}
	return g, err
}

// MirrorUserByID finds a mirrored user by id.
func (s *Store) MirrorUserByID(ctx context.Context, dir, id string) (connectors.User, error) {
	u, err := scanMirrorUser(s.read.QueryRowContext(ctx, `SELECT `+mirrorUserColumns+` FROM mirror_users WHERE directory = ? AND id = ?`, dir, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %s in %s: %w", id, dir, store.ErrNotFound)
	}
	return u, err
}

// Baseline returns a group's baseline members and whether it was recorded.
func (s *Store) Baseline(ctx context.Context, dir, groupID string) ([]string, bool, error) {
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM baselines WHERE directory = ? AND group_id = ?`, dir, groupID).Scan(&n); err != nil || n == 0 {
		return nil, false, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT user_id FROM baseline_members WHERE directory = ? AND group_id = ? ORDER BY user_id`, dir, groupID)
	if err != nil {
		return nil, true, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, true, err
		}
		out = append(out, id)
	}
	return out, true, rows.Err()
}

// Drift lists open drift.
func (s *Store) Drift(ctx context.Context, dir string) ([]store.Drift, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT directory, group_id, user_id, group_name, user_name, first_seen, last_seen FROM drift
		WHERE ?1 = '' OR directory = ?1 ORDER BY directory, group_name, user_name`, dir)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Drift
	for rows.Next() {
		var d store.Drift
		var first, last int64
		if err := rows.Scan(&d.Directory, &d.GroupID, &d.UserID, &d.GroupName, &d.UserName, &first, &last); err != nil {
			return nil, err
		}
		d.FirstSeen, d.LastSeen = fromNanos(first), fromNanos(last)
		out = append(out, d)
	}
	return out, rows.Err()
}

func (t *txn) RecordBaseline(dir, groupID string, userIDs []string, at time.Time, by string) error {
	if _, err := t.exec(`INSERT OR IGNORE INTO baselines (directory, group_id, recorded_at) VALUES (?,?,?)`, dir, groupID, nanos(at)); err != nil {
		return err
	}
	for _, u := range userIDs {
		if _, err := t.exec(`INSERT OR IGNORE INTO baseline_members (directory, group_id, user_id, added_at, added_by) VALUES (?,?,?,?,?)`,
			dir, groupID, u, nanos(at), by); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) OpenDrift(d store.Drift) (bool, error) {
	res, err := t.exec(`INSERT OR IGNORE INTO drift (directory, group_id, user_id, group_name, user_name, first_seen, last_seen) VALUES (?,?,?,?,?,?,?)`,
		d.Directory, d.GroupID, d.UserID, d.GroupName, d.UserName, nanos(d.FirstSeen), nanos(d.LastSeen))
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, nil
	}
	_, err = t.exec(`UPDATE drift SET last_seen = ? WHERE directory = ? AND group_id = ? AND user_id = ?`, nanos(d.LastSeen), d.Directory, d.GroupID, d.UserID)
	return false, err
}

func (t *txn) CloseDrift(dir, groupID, userID string) (bool, error) {
	res, err := t.exec(`DELETE FROM drift WHERE directory = ? AND group_id = ? AND user_id = ?`, dir, groupID, userID)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
