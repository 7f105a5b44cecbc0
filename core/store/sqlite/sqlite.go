// Package sqlite is the SQLite implementation of store.Store: one file in WAL
// mode, mode 0600, migrated on open, with a single writer connection.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/schema"
)

// Store is a store.Store in one SQLite file. Writes go through one
// connection (SQLite has one writer); plain reads use a small pool of their
// own, which WAL lets run beside the writer.
type Store struct {
	db        *sql.DB // the writer
	read      *sql.DB // reads outside transactions
	onAudit   atomic.Pointer[func()]
	auditKeys atomic.Pointer[audit.Keys]
}

// SetAuditKeys keys the audit chain from keys.Since on: events are chained
// with an HMAC under a key that does not live in the database.
func (s *Store) SetAuditKeys(k audit.Keys) { s.auditKeys.Store(&k) }

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed, with mode 0600) and migrates the database at path.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// Create the file ourselves so it never exists with a wider mode; SQLite
	// gives the -wal and -shm files the database file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	dsn := "file:" + path + "?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_synchronous=FULL"
	db, err := sql.Open("sqlite3", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// One writer connection: SQLite has one writer anyway, and a single
	// connection means no SQLITE_BUSY between our own transactions.
	db.SetMaxOpenConns(1)
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if s.read, err = sql.Open("sqlite3", dsn+"&_query_only=true"); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.read.SetMaxOpenConns(4)
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return errors.Join(s.read.Close(), s.db.Close()) }

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	names, err := fs.Glob(schema.Migrations, "sql/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	slices.Sort(names)
	// A database a newer jitd migrated is refused before anything changes:
	// this binary would read tables it does not know the meaning of.
	applied, err := appliedVersions(ctx, s.db)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if unknown := unknownVersions(applied, names); len(unknown) > 0 {
		return &NewerSchemaError{Unknown: unknown, Known: strings.TrimSuffix(filepath.Base(names[len(names)-1]), ".sql")}
	}
	for _, name := range names {
		version := strings.TrimSuffix(filepath.Base(name), ".sql")
		body, err := schema.Migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("sqlite: migrate %s: %w", version, err)
		}
		err = s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.Exec(string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: migrate %s: %w", version, err)
		}
	}
	return nil
}

// NewerSchemaError says the database was migrated by a newer jitd.
type NewerSchemaError struct {
	Unknown []string // the applied versions this binary does not have
	Known   string   // the newest version this binary has
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("sqlite: the database was migrated by a newer jitd (schema %s; this binary knows up to %s): run that version of jitd, or restore a backup taken before the upgrade (jitd migrate status shows where it stands)",
		strings.Join(e.Unknown, ", "), e.Known)
}

// Migration is one schema version: known to this binary, applied to the
// database, or both.
type Migration struct {
	Version string
	Known   bool      // this binary has it
	Applied time.Time // zero: not applied yet
}

// Migrations reports, without changing anything, the schema versions this
// binary knows and those applied to the database at path, in order.
func Migrations(ctx context.Context, path string) ([]Migration, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	defer db.Close()
	applied, err := appliedVersions(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	names, err := fs.Glob(schema.Migrations, "sql/*.sql")
	if err != nil {
		return nil, err
	}
	byVersion := map[string]*Migration{}
	for _, n := range names {
		v := strings.TrimSuffix(filepath.Base(n), ".sql")
		byVersion[v] = &Migration{Version: v, Known: true}
	}
	for v, at := range applied {
		m, ok := byVersion[v]
		if !ok {
			m = &Migration{Version: v}
			byVersion[v] = m
		}
		m.Applied = at
	}
	var out []Migration
	for _, v := range slices.Sorted(maps.Keys(byVersion)) {
		out = append(out, *byVersion[v])
	}
	return out, nil
}

// BackupFile copies the database at src to dest, a new file (mode 0600),
// with SQLite's online backup API: a consistent copy even while a daemon
// writes to src, which it never changes.
func BackupFile(ctx context.Context, src, dest string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	f, err := os.OpenFile(dest, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	f.Close()
	srcDB, err := sql.Open("sqlite3", "file:"+src+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	defer srcDB.Close()
	destDB, err := sql.Open("sqlite3", "file:"+dest+"?_busy_timeout=10000")
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	defer destDB.Close()
	sc, err := srcDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: backup: open %s: %w", src, err)
	}
	defer sc.Close()
	dc, err := destDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: backup: open %s: %w", dest, err)
	}
	defer dc.Close()
	err = dc.Raw(func(d any) error {
		return sc.Raw(func(s any) error {
			b, err := d.(*sqlite3.SQLiteConn).Backup("main", s.(*sqlite3.SQLiteConn), "main")
			if err != nil {
				return err
			}
			for {
				// Pages a few at a time, so a daemon writing meanwhile
				// waits for no more than one step.
				done, err := b.Step(256)
				if err != nil {
					b.Finish()
					return err
				}
				if done {
					return b.Finish()
				}
				if ctx.Err() != nil {
					b.Finish()
					return ctx.Err()
				}
			}
		})
	})
	if err != nil {
		return fmt.Errorf("sqlite: backup %s: %w", src, err)
	}
	return nil
}

// appliedVersions reads the applied schema versions (none in a new file).
func appliedVersions(ctx context.Context, db *sql.DB) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil || n == 0 {
		return out, err
	}
	rows, err := db.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		var at int64
		if err := rows.Scan(&v, &at); err != nil {
			return nil, err
		}
		out[v] = time.Unix(0, at)
	}
	return out, rows.Err()
}

func unknownVersions(applied map[string]time.Time, names []string) []string {
	known := map[string]bool{}
	for _, n := range names {
		known[strings.TrimSuffix(filepath.Base(n), ".sql")] = true
	}
	var out []string
	for v := range applied {
		if !known[v] {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Update runs fn in one immediate (write-locked) transaction.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	audited := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		t := &txn{ctx: ctx, tx: tx, stmts: map[string]*sql.Stmt{}, keys: s.auditKeys.Load()}
		if err := fn(t); err != nil {
			return err
		}
		audited = t.headDirty
		return t.flushHead()
	})
	if err == nil && audited {
		if f := s.onAudit.Load(); f != nil {
			(*f)()
		}
	}
	return err
}

// OnAudit sets fn to be called after every commit that appended to the audit
// log (the notifier's wake-up). fn must not block.
func (s *Store) OnAudit(fn func()) { s.onAudit.Store(&fn) }

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

type txn struct {
	ctx   context.Context
	tx    *sql.Tx
	stmts map[string]*sql.Stmt // prepared once per transaction, closed with it

	keys *audit.Keys // nil: the chain is not keyed
	// The audit head, read once per transaction and written back at the end.
	headRead, headDirty bool
	headSeq             int64
	headHash            string
}

func (t *txn) stmt(query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(t.ctx, query)
	if err != nil {
		return nil, err
	}
	t.stmts[query] = st
	return st, nil
}

func (t *txn) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	// Not cancellable: go-sqlite3 runs each statement under a cancellable
	// context on a goroutine of its own, which cost more CPU than the
	// statements. A cancelled context still ends the transaction: database/sql
	// rolls it back and the next statement fails.
	return st.ExecContext(context.WithoutCancel(t.ctx), args...)
}

// QueryContext and QueryRowContext make txn a querier with cached statements.
func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := t.stmt(query)
	if err != nil {
		return t.tx.QueryRowContext(ctx, query, args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.exec(query, args...)
}

const grantColumns = `id, directory, group_id, group_name, user_id, user_name, state, reason, created_by,
	preexisting, starts_at, expires_at, created_at, updated_at, ended_at, end_reason,
	attempts, next_attempt_at, last_error, lease_owner, lease_until, vanished_at`

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

type scanner interface{ Scan(dest ...any) error }

func scanGrant(r scanner) (store.Grant, error) {
	var g store.Grant
	var state string
	var starts, expires, created, updated, ended, next, lease, vanished int64
	err := r.Scan(&g.ID, &g.Directory, &g.GroupID, &g.GroupName, &g.UserID, &g.UserName, &state, &g.Reason, &g.CreatedBy,
		&g.Preexisting, &starts, &expires, &created, &updated, &ended, &g.EndReason,
		&g.Attempts, &next, &g.LastError, &g.LeaseOwner, &lease, &vanished)
	if err != nil {
		return g, err
	}
	g.State = store.State(state)
	g.StartsAt, g.ExpiresAt, g.CreatedAt, g.UpdatedAt = fromNanos(starts), fromNanos(expires), fromNanos(created), fromNanos(updated)
	g.EndedAt, g.NextAttempt, g.LeaseUntil, g.VanishedAt = fromNanos(ended), fromNanos(next), fromNanos(lease), fromNanos(vanished)
	return g, nil
}

func getGrant(ctx context.Context, q querier, id string) (store.Grant, error) {
	g, err := scanGrant(q.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return g, fmt.Errorf("grant %q: %w", id, store.ErrNotFound)
	}
	return g, err
}

func queryGrants(ctx context.Context, q querier, where string, args ...any) ([]store.Grant, error) {
	return queryAll(ctx, q, `SELECT `+grantColumns+` FROM grants `+where, scanGrant, args...)
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, query string, scan func(scanner) (T, error), args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func filterGrants(ctx context.Context, q querier, f store.GrantFilter) ([]store.Grant, error) {
	var w where
	in(&w, "state", f.States)
	in(&w, "user_id", f.UserIDs)
	if !f.EndedSince.IsZero() {
		w.conds = append(w.conds, `(ended_at = 0 OR ended_at >= ?)`)
		w.args = append(w.args, nanos(f.EndedSince))
	}
	for _, c := range []struct{ col, v string }{{"directory", f.Directory}, {"group_id", f.GroupID}, {"user_id", f.UserID}, {"group_name", f.GroupName}, {"user_name", f.UserName}} {
		w.eq(c.col, c.v)
	}
	return queryGrants(ctx, q, w.newestFirst(f.Limit)+offset(f.Limit, f.Offset), w.args...)
}

// where builds a WHERE clause from filter fields; empty fields match all.
type where struct {
	conds []string
	args  []any
}

func (w *where) eq(col, v string) {
	if v != "" {
		w.conds = append(w.conds, col+` = ?`)
		w.args = append(w.args, v)
	}
}

// in matches rows whose col is one of vals (all rows when vals is empty).
func in[S ~string](w *where, col string, vals []S) {
	if len(vals) == 0 {
		return
	}
	w.conds = append(w.conds, col+` IN (?`+strings.Repeat(`,?`, len(vals)-1)+`)`)
	for _, v := range vals {
		w.args = append(w.args, string(v))
	}
}

// offset skips the newest n rows (a page); it follows newestFirst(limit).
func offset(limit, n int) string {
	if n <= 0 {
		return ""
	}
	if limit <= 0 {
		return fmt.Sprintf(` LIMIT -1 OFFSET %d`, n)
	}
	return fmt.Sprintf(` OFFSET %d`, n)
}

// newestFirst is the clause, newest rows first, at most limit (0: all).
func (w *where) newestFirst(limit int) string {
	clause := ""
	if len(w.conds) > 0 {
		clause = `WHERE ` + strings.Join(w.conds, ` AND `)
	}
	clause += ` ORDER BY created_at DESC, id`
	if limit > 0 {
		clause += fmt.Sprintf(` LIMIT %d`, limit)
	}
	return clause
}

func (t *txn) Grant(id string) (store.Grant, error) { return getGrant(t.ctx, t, id) }

func (t *txn) Grants(f store.GrantFilter) ([]store.Grant, error) { return filterGrants(t.ctx, t, f) }

func (t *txn) InsertGrant(g store.Grant) error {
	_, err := t.exec(`INSERT INTO grants (`+grantColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		g.ID, g.Directory, g.GroupID, g.GroupName, g.UserID, g.UserName, string(g.State), g.Reason, g.CreatedBy,
		g.Preexisting, nanos(g.StartsAt), nanos(g.ExpiresAt), nanos(g.CreatedAt), nanos(g.UpdatedAt), nanos(g.EndedAt), g.EndReason,
		g.Attempts, nanos(g.NextAttempt), g.LastError, g.LeaseOwner, nanos(g.LeaseUntil), nanos(g.VanishedAt))
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		return fmt.Errorf("grant %q: %w: %v", g.ID, store.ErrConflict, err)
	}
	return err
}

func (t *txn) UpdateGrant(g store.Grant) error {
	res, err := t.exec(`UPDATE grants SET state = ?, reason = ?, preexisting = ?, starts_at = ?, expires_at = ?,
		updated_at = ?, ended_at = ?, end_reason = ?, attempts = ?, next_attempt_at = ?, last_error = ?, lease_owner = ?, lease_until = ?,
		vanished_at = ? WHERE id = ?`,
		string(g.State), g.Reason, g.Preexisting, nanos(g.StartsAt), nanos(g.ExpiresAt),
		nanos(g.UpdatedAt), nanos(g.EndedAt), g.EndReason, g.Attempts, nanos(g.NextAttempt), g.LastError, g.LeaseOwner, nanos(g.LeaseUntil),
		nanos(g.VanishedAt), g.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("grant %q: %w", g.ID, store.ErrNotFound)
	}
	return nil
}

func (t *txn) DueGrants(now time.Time, limit int) ([]store.Grant, error) {
	n := now.UnixNano()
	return queryGrants(t.ctx, t, `WHERE id IN (
		SELECT id FROM grants WHERE state IN ('active','apply_failed') AND expires_at <= ?
		UNION ALL
		SELECT id FROM grants WHERE state IN ('revoking','revoke_failed') AND next_attempt_at <= ? AND lease_until <= ?)
		ORDER BY expires_at, id LIMIT ?`, n, n, n, limit)
}

func (t *txn) ClaimExpired(now time.Time, limit int, owner string, leaseUntil time.Time) ([]store.Grant, error) {
	n := now.UnixNano()
	gs, err := queryAll(t.ctx, t, `UPDATE grants SET state = 'revoking', end_reason = CASE end_reason WHEN '' THEN 'expired' ELSE end_reason END,
		lease_owner = ?, lease_until = ?, updated_at = ?
		WHERE id IN (SELECT id FROM grants WHERE state IN ('active','apply_failed') AND expires_at <= ? ORDER BY expires_at, id LIMIT ?)
		RETURNING `+grantColumns, scanGrant, owner, leaseUntil.UnixNano(), n, n, limit)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(gs, func(a, b store.Grant) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return gs, nil
}

func (t *txn) ReleaseLeases(owner string) (int, error) {
	res, err := t.tx.ExecContext(context.WithoutCancel(t.ctx), `UPDATE grants SET lease_owner = '', lease_until = 0 WHERE lease_owner = ?`, owner)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (t *txn) RetryGrantsNow(directory string, now time.Time) (int, error) {
	n := now.UnixNano()
	res, err := t.tx.ExecContext(context.WithoutCancel(t.ctx), `UPDATE grants SET next_attempt_at = ?
		WHERE directory = ? AND state IN ('revoking','revoke_failed') AND next_attempt_at > ? AND lease_until <= ?`, n, directory, n, n)
	if err != nil {
		return 0, err
	}
	c, err := res.RowsAffected()
	return int(c), err
}

func (t *txn) AppendAudit(e audit.Event) (audit.Event, error) {
	if !t.headRead {
		err := t.tx.QueryRowContext(t.ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&t.headSeq, &t.headHash)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			t.headSeq, t.headHash = 0, audit.GenesisHash
		case err != nil:
			return e, err
		}
		t.headRead = true
	}
	e.Seq = t.headSeq + 1
	e.PrevHash = t.headHash
	e.Time = fromNanos(e.Time.UnixNano()) // the precision and zone we store
	audit.Seal(&e)
	e.Hash = t.keys.Hash(e)
	if _, err := t.exec(`INSERT INTO audit_events (seq, time, actor, action, grant_id, directory, group_name, user_name, detail, prev_hash, hash, pii_commit, pii_salt)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`, e.Seq, e.Time.UnixNano(), e.Actor, e.Action, e.GrantID, e.Directory, e.Group, e.User, e.Detail, e.PrevHash, e.Hash, e.Commit, e.Salt); err != nil {
		return e, err
	}
	t.headSeq, t.headHash, t.headDirty = e.Seq, e.Hash, true
	return e, nil
}

func (t *txn) ErasePersonalData(before time.Time, limit int) (first, last int64, n int, err error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT `+auditColumns+` FROM audit_events
		WHERE time < ? AND pii_commit != '' AND pii_salt != '' ORDER BY seq LIMIT ?`, before.UnixNano(), limit)
	if err != nil {
		return 0, 0, 0, err
	}
	var evs []audit.Event
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			rows.Close()
			return 0, 0, 0, err
		}
		evs = append(evs, e)
	}
	if err := rows.Close(); err != nil {
		return 0, 0, 0, err
	}
	for _, e := range evs {
		audit.Erase(&e)
		if _, err := t.tx.ExecContext(context.WithoutCancel(t.ctx), `UPDATE audit_events SET actor = ?, user_name = ?, detail = ?, pii_salt = '' WHERE seq = ?`,
			e.Actor, e.User, e.Detail, e.Seq); err != nil {
			return 0, 0, 0, err
		}
	}
	if len(evs) == 0 {
		return 0, 0, 0, nil
	}
	return evs[0].Seq, evs[len(evs)-1].Seq, len(evs), nil
}

// UncommittedBefore counts events before before without a commitment.
func (s *Store) UncommittedBefore(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE time < ? AND pii_commit = ''`, before.UnixNano()).Scan(&n)
	return n, err
}

// flushHead records the last event written in the transaction.
func (t *txn) flushHead() error {
	if !t.headDirty {
		return nil
	}
	_, err := t.tx.ExecContext(context.WithoutCancel(t.ctx), `INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`, t.headSeq, t.headHash)
	return err
}

func (t *txn) InsertToken(tok store.Token) error {
	if tok.Kind == "" {
		tok.Kind = store.TokenPerson
	}
	_, err := t.tx.ExecContext(context.WithoutCancel(t.ctx), `INSERT INTO api_tokens (id, name, role, kind, secret_hash, created_at, expires_at, revoked_at) VALUES (?,?,?,?,?,?,?,?)`,
		tok.ID, tok.Name, tok.Role, tok.Kind, tok.SecretHash, nanos(tok.CreatedAt), nanos(tok.ExpiresAt), nanos(tok.RevokedAt))
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		return fmt.Errorf("token %q: %w", tok.Name, store.ErrConflict)
	}
	return err
}

// Grant returns one grant.
func (s *Store) Grant(ctx context.Context, id string) (store.Grant, error) {
	return getGrant(ctx, s.read, id)
}

// Grants lists grants, newest first.
func (s *Store) Grants(ctx context.Context, f store.GrantFilter) ([]store.Grant, error) {
	return filterGrants(ctx, s.read, f)
}

// CountGrants counts grants per state.
func (s *Store) CountGrants(ctx context.Context) (map[store.State]int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT state, count(*) FROM grants GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[store.State]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[store.State(st)] = n
	}
	return out, rows.Err()
}

// GrantsOfDeparted is one query: each grant's user is looked up in the
// mirror by primary key inside SQLite.
func (s *Store) GrantsOfDeparted(ctx context.Context, dir string, states []store.State, createdBefore time.Time) ([]store.Grant, error) {
	w := where{conds: []string{`directory = ?`, `created_at < ?`}, args: []any{dir, nanos(createdBefore)}}
	in(&w, "state", states)
	w.conds = append(w.conds, `NOT EXISTS (SELECT 1 FROM mirror_users u WHERE u.directory = grants.directory AND u.id = grants.user_id AND u.enabled = 1)`)
	return queryGrants(ctx, s.read, w.newestFirst(0), w.args...)
}

// NextDue returns the earliest time a grant needs removal work.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var a, b sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT
		(SELECT min(expires_at) FROM grants WHERE state IN ('active','apply_failed')),
		(SELECT min(max(next_attempt_at, lease_until)) FROM grants WHERE state IN ('revoking','revoke_failed'))`).Scan(&a, &b)
	if err != nil {
		return time.Time{}, false, err
	}
	switch {
	case a.Valid && b.Valid:
		return fromNanos(min(a.Int64, b.Int64)), true, nil
	case a.Valid:
		return fromNanos(a.Int64), true, nil
	case b.Valid:
		return fromNanos(b.Int64), true, nil
	}
	return time.Time{}, false, nil
}

const auditColumns = `seq, time, actor, action, grant_id, directory, group_name, user_name, detail, prev_hash, hash, pii_commit, pii_salt`

func scanAudit(r scanner) (audit.Event, error) {
	var e audit.Event
	var t int64
	err := r.Scan(&e.Seq, &t, &e.Actor, &e.Action, &e.GrantID, &e.Directory, &e.Group, &e.User, &e.Detail, &e.PrevHash, &e.Hash, &e.Commit, &e.Salt)
	e.Time = fromNanos(t)
	return e, err
}

// AuditEvents lists audit events, newest first.
func (s *Store) AuditEvents(ctx context.Context, f store.AuditFilter) ([]audit.Event, error) {
	var w where
	w.eq("grant_id", f.GrantID)
	if f.Before > 0 {
		w.conds = append(w.conds, `seq < ?`)
		w.args = append(w.args, f.Before)
	}
	order := ` ORDER BY seq DESC`
	if f.Ascending {
		w.conds = append(w.conds, `seq > ?`)
		w.args = append(w.args, f.After)
		order = ` ORDER BY seq`
	}
	q := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(w.conds) > 0 {
		q += ` WHERE ` + strings.Join(w.conds, ` AND `)
	}
	args := w.args
	q += order
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// WalkAudit visits every event in sequence order, a page at a time so that the
// single connection is never held across fn.
func (s *Store) WalkAudit(ctx context.Context, fn func(audit.Event) error) error {
	const page = 1000
	var after int64
	for {
		rows, err := s.read.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, after, page)
		if err != nil {
			return err
		}
		var batch []audit.Event
		for rows.Next() {
			e, err := scanAudit(rows)
			if err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < page {
			return nil
		}
		after = batch[len(batch)-1].Seq
	}
}

// AuditHead returns the last event's sequence number and hash.
func (s *Store) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := s.read.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	return seq, hash, err
}

const tokenColumns = `id, name, role, kind, secret_hash, created_at, expires_at, revoked_at`

func scanToken(r scanner) (store.Token, error) {
	var t store.Token
	var created, expires, revoked int64
	err := r.Scan(&t.ID, &t.Name, &t.Role, &t.Kind, &t.SecretHash, &created, &expires, &revoked)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromNanos(created), fromNanos(expires), fromNanos(revoked)
	return t, err
}

// Token returns an API token by id.
func (s *Store) Token(ctx context.Context, id string) (store.Token, error) {
	t, err := scanToken(s.read.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token: %w", store.ErrNotFound)
	}
	return t, err
}

// Tokens lists every token, oldest first.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	return queryAll(ctx, s.read, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at, id`, scanToken)
}

func (t *txn) RevokeToken(id string, at time.Time) error {
	res, err := t.exec(`UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, nanos(at), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var exists int
		if err := t.QueryRowContext(t.ctx, `SELECT count(*) FROM api_tokens WHERE id = ?`, id).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return fmt.Errorf("token %q: %w", id, store.ErrNotFound)
		}
	}
	return nil
}

// CountTokens counts API tokens.
func (s *Store) CountTokens(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM api_tokens`).Scan(&n)
	return n, err
}
