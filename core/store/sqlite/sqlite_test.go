package sqlite

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/storetest"
	"github.com/jitd/jitd/schema"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, filepath.Join(t.TempDir(), "jitd.db")) })
}

func TestOpen_FileIsPrivateAndWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "jitd.db")
	s := open(t, path)
	defer s.Close()
	if err := s.Update(context.Background(), func(tx store.Tx) error { return tx.InsertGrant(storetest.NewGrant("a", time.Now())) }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	var mode string
	var fk, busy int
	s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	s.db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk)
	s.db.QueryRow(`PRAGMA busy_timeout`).Scan(&busy)
	if mode != "wal" || fk != 1 || busy < 1000 {
		t.Fatalf("journal_mode=%s foreign_keys=%d busy_timeout=%d", mode, fk, busy)
	}
}

func TestOpen_MigratesOnceAndKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jitd.db")
	s := open(t, path)
	if err := s.Update(context.Background(), func(tx store.Tx) error { return tx.InsertGrant(storetest.NewGrant("a", time.Now())) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	if _, err := s.Grant(context.Background(), "a"); err != nil {
		t.Fatalf("grant lost across reopen: %v", err)
	}
	var n int
	s.db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n)
	files, _ := fs.Glob(schema.Migrations, "sql/*.sql")
	if n != len(files) {
		t.Fatalf("schema_migrations has %d rows, want one per migration (%d)", n, len(files))
	}
}

// A database a newer jitd migrated is refused before anything changes, and
// Migrations tells where it stands without changing it either.
func TestOpen_RefusesADatabaseFromANewerJitd(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jitd.db")
	s := open(t, path)
	if _, err := s.db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES ('9999_from_the_future', 1)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	before, _ := os.ReadFile(path)
	_, err := Open(ctx, path)
	var newer *NewerSchemaError
	if !errors.As(err, &newer) || !slices.Equal(newer.Unknown, []string{"9999_from_the_future"}) || !strings.Contains(err.Error(), "migrated by a newer jitd") {
		t.Fatalf("Open: %v", err)
	}
	ms, err := Migrations(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	last := ms[len(ms)-1]
	if last.Version != "9999_from_the_future" || last.Known || last.Applied.IsZero() || !ms[0].Known || ms[0].Applied.IsZero() {
		t.Fatalf("migrations: first %+v, last %+v", ms[0], last)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the refused database was changed")
	}
	// A fresh file: everything pending, nothing applied, nothing created.
	fresh := filepath.Join(t.TempDir(), "none.db")
	if _, err := Migrations(ctx, fresh); err == nil {
		t.Fatal("Migrations of a missing file succeeded")
	}
}

// TestAuditVerify_DetectsTampering edits, deletes and inserts rows behind the
// store's back and checks that verification names each.
func TestAuditVerify_DetectsTampering(t *testing.T) {
	tamper := map[string]struct {
		sql  string
		want string
	}{
		"edited":         {`UPDATE audit_events SET actor = 'mallory' WHERE seq = 2`, "row edited"},
		"deleted":        {`DELETE FROM audit_events WHERE seq = 2`, "rows deleted or inserted"},
		"deleted at end": {`DELETE FROM audit_events WHERE seq = 4`, "deleted from the end"},
		"inserted":       {`INSERT INTO audit_events SELECT seq+100, time, actor, action, grant_id, directory, group_name, user_name, detail, prev_hash, hash, pii_commit, pii_salt FROM audit_events WHERE seq = 2`, "rows deleted or inserted"},
		"commit dropped": {`UPDATE audit_events SET pii_commit = '', pii_salt = '' WHERE seq = 2`, "row edited"},
		"erased, edited": {`UPDATE audit_events SET actor = 'mallory', pii_salt = '' WHERE seq = 2`, "after their erasure"},
		"erased (ok)":    {`UPDATE audit_events SET actor = '(erased)', detail = '', pii_salt = '' WHERE seq = 2`, ""},
		"rehashed edit":  {`UPDATE audit_events SET detail = 'x', hash = 'f00' WHERE seq = 3`, "chain broken"},
		"untouched (ok)": {``, ""},
	}
	for name, tc := range tamper {
		t.Run(name, func(t *testing.T) {
			s := open(t, filepath.Join(t.TempDir(), "jitd.db"))
			defer s.Close()
			ctx := context.Background()
			for i := range 4 {
				s.Update(ctx, func(tx store.Tx) error {
					_, err := tx.AppendAudit(audit.Event{Time: time.Unix(int64(i), 0), Actor: "admin", Action: audit.GrantActive})
					return err
				})
			}
			if tc.sql != "" {
				if _, err := s.db.Exec(tc.sql); err != nil {
					t.Fatal(err)
				}
			}
			v := audit.NewVerifier()
			s.WalkAudit(ctx, func(e audit.Event) error { v.Add(e); return nil })
			seq, hash, _ := s.AuditHead(ctx)
			problems := v.Finish(seq, hash)
			var text []string
			for _, p := range problems {
				text = append(text, p.String())
			}
			joined := strings.Join(text, "; ")
			if tc.want == "" && len(problems) != 0 {
				t.Fatalf("untouched log reported: %s", joined)
			}
			if tc.want != "" && !strings.Contains(joined, tc.want) {
				t.Fatalf("tampering %q reported as %q, want mention of %q", tc.sql, joined, tc.want)
			}
		})
	}
}

func TestReadPoolCannotWrite(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "jitd.db"))
	defer s.Close()
	if _, err := s.read.Exec(`DELETE FROM grants`); err == nil {
		t.Fatal("the read pool accepted a write")
	}
}
