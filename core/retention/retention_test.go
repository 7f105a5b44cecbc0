package retention_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/report"
	"github.com/jitd/jitd/core/retention"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
)

var t0 = time.Date(2025, 1, 10, 9, 0, 0, 0, time.UTC)

// Personal data past the retention period is erased, the chain (keyed,
// and in an evidence bundle checked offline) still verifies, what is newer
// keeps its names, and the erasure is itself audited.
func TestErase_PastRetentionKeepsTheChainVerifiable(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	head, _, _ := st.AuditHead(ctx)
	keys, err := audit.LoadKeys(filepath.Join(t.TempDir(), "audit.key"), head)
	if err != nil {
		t.Fatal(err)
	}
	st.SetAuditKeys(keys)
	for i, e := range []audit.Event{
		{Time: t0, Actor: "alice", Action: audit.GrantRequested, Group: "phi-readers", User: "alice", Detail: "chart review for patient 4411"},
		{Time: t0.Add(time.Minute), Actor: "bob", Action: audit.GrantActive, Group: "phi-readers", User: "alice"},
		{Time: t0.Add(200 * 24 * time.Hour), Actor: "carol", Action: audit.GrantRequested, Group: "phi-readers", User: "carol", Detail: "on call"},
	} {
		if _, err := store.Append(ctx, st, e); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	clk := clock.NewFake(t0.Add(400 * 24 * time.Hour))
	er := &retention.Eraser{Store: st, Clock: clk, Log: slog.New(slog.DiscardHandler), Retention: 365 * 24 * time.Hour}
	n, err := er.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := st.AuditEvents(ctx, store.AuditFilter{Ascending: true})
	var erased, kept, notes int
	for _, e := range evs {
		switch {
		case e.Action == audit.PersonalDataErased:
			notes++
			if !strings.Contains(e.Detail, "2 events") || !strings.Contains(e.Detail, "365d") {
				t.Errorf("the erasure's record: %q", e.Detail)
			}
		case e.Time.Before(t0.Add(35 * 24 * time.Hour)):
			if e.Seq <= head {
				continue // what opening the store wrote
			}
			erased++
			if !e.IsErased() || e.Actor != audit.Erased || e.User != audit.Erased || strings.Contains(e.Detail, "4411") || e.Group != "phi-readers" {
				t.Errorf("event %d after erasure: %+v", e.Seq, e)
			}
		default:
			kept++
			if e.IsErased() || (e.Actor == audit.Erased) {
				t.Errorf("event %d within the retention period was erased: %+v", e.Seq, e)
			}
		}
	}
	if n != 2+int(head) || erased != 2 || notes != 1 || kept != 1 {
		t.Fatalf("erased %d (%d seen), kept %d, %d erasure records", n, erased, kept, notes)
	}

	v := audit.NewKeyedVerifier(keys)
	st.WalkAudit(ctx, func(e audit.Event) error { v.Add(e); return nil })
	seq, hash, _ := st.AuditHead(ctx)
	if p := v.Finish(seq, hash); len(p) != 0 {
		t.Fatalf("the chain after erasure: %v", p)
	}
	var b bytes.Buffer
	scope := report.EvidenceScope{Period: report.Period{From: t0.Add(-time.Hour), To: clk.Now().Add(time.Hour)}, Directories: []string{}}
	if _, err := report.ExportEvidence(ctx, st, keys, scope, clk.Now(), &b); err != nil {
		t.Fatal(err)
	}
	if _, err := report.VerifyEvidence(bytes.NewReader(b.Bytes()), keys.Sign.Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("an evidence bundle over erased events: %v", err)
	}

	// Nothing more to erase: nothing changes, nothing is recorded.
	before, _, _ := st.AuditHead(ctx)
	if n, err := er.Once(ctx); err != nil || n != 0 {
		t.Fatalf("second pass: %d %v", n, err)
	}
	if after, _, _ := st.AuditHead(ctx); after != before {
		t.Fatal("a pass that erased nothing wrote to the log")
	}
}
