package api_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
)

// forger writes the database directly, as whoever can write the file can;
// it recomputes the plain SHA-256 chain, which is all it can compute.
type forger struct {
	t  *testing.T
	db *sql.DB
}

func (f forger) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(q, args...); err != nil {
		f.t.Fatal(err)
	}
}

// rechain recomputes every hash from seq on, and the head.
func (f forger) rechain(from int64) {
	f.t.Helper()
	rows, err := f.db.Query(`SELECT seq, time, actor, action, grant_id, directory, group_name, user_name, detail, prev_hash FROM audit_events WHERE seq >= ? ORDER BY seq`, from)
	if err != nil {
		f.t.Fatal(err)
	}
	var evs []audit.Event
	for rows.Next() {
		var e audit.Event
		var nanos int64
		rows.Scan(&e.Seq, &nanos, &e.Actor, &e.Action, &e.GrantID, &e.Directory, &e.Group, &e.User, &e.Detail, &e.PrevHash)
		e.Time = time.Unix(0, nanos).UTC()
		evs = append(evs, e)
	}
	rows.Close()
	var prev string
	if err := f.db.QueryRow(`SELECT coalesce((SELECT hash FROM audit_events WHERE seq = ?), ?)`, from-1, audit.GenesisHash).Scan(&prev); err != nil {
		f.t.Fatal(err)
	}
	for _, e := range evs {
		e.PrevHash = prev
		e.Hash = audit.ComputeHash(e)
		f.exec(`UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?`, e.PrevHash, e.Hash, e.Seq)
		prev = e.Hash
	}
	f.head()
}

// head points the head row at the last event left.
func (f forger) head() {
	f.exec(`UPDATE audit_head SET seq = (SELECT coalesce(max(seq), 0) FROM audit_events), hash = coalesce((SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1), ?)`, audit.GenesisHash)
}

// The audit log cannot be rewritten by whoever can write the database but
// not the key file: an edited row, rows cut from the end, or a wiped log
// are caught by the keyed chain or by a signed checkpoint kept outside the
// database, even when the forger recomputes the SHA-256 chain and the head.
func TestAudit_ForgersWhoRecomputeTheChainAreCaught(t *testing.T) {
	for _, tc := range []struct {
		name   string
		forge  func(f forger)
		reason string // in the problems
	}{
		{"edits a middle row", func(f forger) {
			f.exec(`UPDATE audit_events SET detail = 'nothing to see' WHERE seq = 10`)
			f.rechain(10)
		}, "row edited"},
		{"deletes the last rows", func(f forger) {
			f.exec(`DELETE FROM audit_events WHERE seq > 15`)
			f.head()
		}, "the log no longer holds it"},
		{"wipes the log", func(f forger) {
			f.exec(`DELETE FROM audit_events`)
			f.head()
		}, "the log no longer holds it"},
		{"replaces the log with a plain one", func(f forger) {
			f.exec(`UPDATE audit_events SET actor = 'someone-else'`)
			f.rechain(1)
		}, "row edited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			path := filepath.Join(dir, "jitd.db")
			st, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			keys, err := audit.LoadKeys(filepath.Join(dir, "audit.key"), 0)
			if err != nil {
				t.Fatal(err)
			}
			st.SetAuditKeys(keys)
			at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
			for i := range 20 {
				err := st.Update(ctx, func(tx store.Tx) error {
					_, err := tx.AppendAudit(audit.Event{Time: at.Add(time.Duration(i) * time.Second), Actor: "admin", Action: audit.GrantRevoked, Detail: fmt.Sprint("event ", i+1)})
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			seq, hash, _ := st.AuditHead(ctx)
			checkpoint := keys.SignCheckpoint(audit.Checkpoint{Seq: seq, Hash: hash, Time: at.Add(time.Minute)})
			if res, err := api.VerifyAudit(ctx, st, &keys, []string{checkpoint}); err != nil || !res.OK || res.Checkpoints != 1 || !res.Keyed {
				t.Fatalf("before forgery: %+v %v", res, err)
			}

			db, err := sql.Open("sqlite3", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			tc.forge(forger{t, db})

			res, err := api.VerifyAudit(ctx, st, &keys, []string{checkpoint})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || !strings.Contains(fmt.Sprint(res.Problems), tc.reason) {
				t.Fatalf("after the forgery: %+v; want a problem saying %q", res, tc.reason)
			}
		})
	}
}

// A checkpoint is only as good as its signature: one edited, or made with
// another key, is refused.
func TestAudit_ForgedCheckpointsAreRefused(t *testing.T) {
	dir := t.TempDir()
	keys, err := audit.LoadKeys(filepath.Join(dir, "a.key"), 0)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := audit.LoadKeys(filepath.Join(dir, "b.key"), 0)
	line := keys.SignCheckpoint(audit.Checkpoint{Seq: 7, Hash: strings.Repeat("ab", 32), Time: time.Unix(100, 0)})
	if c, err := keys.ParseCheckpoint(line); err != nil || c.Seq != 7 {
		t.Fatalf("a good checkpoint: %+v %v", c, err)
	}
	for name, l := range map[string]string{
		"another seq":  strings.Replace(line, " 7 ", " 6 ", 1),
		"another key":  other.SignCheckpoint(audit.Checkpoint{Seq: 7, Hash: strings.Repeat("ab", 32), Time: time.Unix(100, 0)}),
		"no signature": line[:strings.LastIndexByte(line, ' ')],
	} {
		if _, err := keys.ParseCheckpoint(l); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The key file reads back as written.
	again, err := audit.LoadKeys(filepath.Join(dir, "a.key"), 99)
	if err != nil || again.Since != keys.Since || !again.Sign.Equal(keys.Sign) {
		t.Fatalf("reloaded keys: since %d (want %d), %v", again.Since, keys.Since, err)
	}
}
