package report_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/report"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// fill records grants and requests as jitd would have: alice through an
// approved request, bob by breaking glass, carol in another group, a
// cancelled grant, one that ended before the period, and removals with
// their audit records at known lateness.
func fill(t *testing.T) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	grant := func(id, user, group string, state store.State, start, end time.Time, ended time.Time, why string) store.Grant {
		return store.Grant{ID: id, Directory: "corp", GroupID: "gid-" + group, GroupName: group, UserID: "uid-" + user, UserName: user, State: state,
			Reason: "r", CreatedBy: "request", StartsAt: start, ExpiresAt: end, CreatedAt: start, UpdatedAt: start, EndedAt: ended, EndReason: why}
	}
	gs := []store.Grant{
		grant("g1", "alice", "db", store.StateRevoked, t0, t0.Add(time.Hour), t0.Add(time.Hour), "expired"),
		grant("g2", "bob", "db", store.StateActive, t0.Add(2*time.Hour), t0.Add(3*time.Hour), time.Time{}, ""),
		grant("g3", "carol", "web", store.StateRevoked, t0, t0.Add(time.Hour), t0.Add(time.Hour), "expired"),
		grant("g4", "alice", "db", store.StateCancelled, t0, t0.Add(time.Hour), t0, "cancelled"),
		grant("g5", "dave", "db", store.StateRevoked, t0.Add(-5*time.Hour), t0.Add(-4*time.Hour), t0.Add(-4*time.Hour), "expired"),
		grant("g6", "erin", "db", store.StateRevoked, t0, t0.Add(90*time.Minute), t0.Add(90*time.Minute), "expired"),
		grant("g7", "frank", "db", store.StateRevokeFailed, t0, t0.Add(100*time.Minute), time.Time{}, ""),
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		for _, g := range gs {
			if err := tx.InsertGrant(g); err != nil {
				return err
			}
		}
		rs := []store.Request{
			{ID: "r1", Requester: "alice", Directory: "corp", Group: "db", Duration: time.Hour, Reason: "deploy", Ticket: "CHG-1", State: store.RequestApproved,
				Steps: []store.ApprovalStep{}, GrantID: "g1", CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), DecidedAt: t0, DecidedBy: "bob"},
			{ID: "r2", Requester: "bob", Directory: "corp", Group: "db", Duration: time.Hour, Reason: "SEV1", State: store.RequestApproved, BreakGlass: true,
				Steps: []store.ApprovalStep{}, GrantID: "g2", CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), DecidedAt: t0, DecidedBy: "bob"},
		}
		for _, r := range rs {
			if err := tx.InsertRequest(r); err != nil {
				return err
			}
		}
		return tx.InsertApproval(store.Approval{RequestID: "r1", Approver: "bob", Decision: "approve", At: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		id   string
		late time.Duration
	}{{"g3", 0}, {"g1", 300 * time.Millisecond}, {"g6", 2 * time.Second}} { // in time order, as jitd writes them
		id, late := r.id, r.late
		g, _ := st.Grant(ctx, id)
		if _, err := store.Append(ctx, st, audit.Event{Time: g.ExpiresAt.Add(late), Actor: "jitd", Action: audit.GrantRevoked, GrantID: id, User: g.UserName, Group: g.GroupName}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestAccessReport_WhoHadTheGroupAndWhy(t *testing.T) {
	st := fill(t)
	ctx := context.Background()
	now := t0.Add(2*time.Hour + 30*time.Minute)
	period := report.Period{From: t0.Add(-30 * time.Minute), To: t0.Add(150 * time.Minute)}
	rows, err := report.AccessReport(ctx, st, report.AccessQuery{Directory: "corp", Group: "db", Period: period}, now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.User+":"+r.Kind)
	}
	if want := []string{"alice:grant", "erin:grant", "frank:grant", "bob:breakglass"}; !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	alice := rows[0]
	if !slices.Equal(alice.Approvers, []string{"bob"}) || alice.Request != "r1" || alice.Ticket != "CHG-1" || !alice.To.Equal(t0.Add(time.Hour)) || alice.Ended != "expired" {
		t.Fatalf("alice's access: %+v", alice)
	}
	if bob := rows[3]; !bob.To.IsZero() || bob.Request != "r2" {
		t.Fatalf("bob's break-glass, still held: %+v", bob)
	}
	mine, err := report.AccessReport(ctx, st, report.AccessQuery{User: "alice", Period: period}, now)
	if err != nil || len(mine) != 1 || mine[0].Grant != "g1" {
		t.Fatalf("alice's history: %+v %v", mine, err)
	}
	for _, bad := range []report.AccessQuery{{Group: "db"}, {Group: "db", Period: report.Period{From: t0, To: t0}}, {Period: period}} {
		if _, err := report.AccessReport(ctx, st, bad, now); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}

	var b bytes.Buffer
	if err := report.WriteAccess(&b, report.CSV, "db", rows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(recs) != 5 || recs[0][0] != "directory" || recs[1][2] != "alice" || recs[1][8] != "bob" {
		t.Fatalf("csv: %v %v", recs, err)
	}
	b.Reset()
	if err := report.WriteAccess(&b, report.HTML, "Access to <db>", rows); err != nil || !strings.Contains(b.String(), "Access to &lt;db&gt;") || strings.Count(b.String(), "<tr>") != 5 {
		t.Fatalf("html: %v\n%s", err, b.String())
	}
}

// The promise, measured: how late each expired grant left the directory,
// and which are overdue and still there.
func TestLatenessReport_MeasuresThePromise(t *testing.T) {
	st := fill(t)
	l, err := report.LatenessReport(context.Background(), st, report.Period{From: t0, To: t0.Add(3 * time.Hour)}, t0.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if l.Count != 3 || l.Over != 1 || l.Max != 2*time.Second || l.P50 != 300*time.Millisecond || l.Removals[0].Grant != "g6" {
		t.Fatalf("lateness: count %d, over %d, p50 %v, max %v, first %+v", l.Count, l.Over, l.P50, l.Max, l.Removals)
	}
	if !slices.Equal(l.StillMembersOverdue, []string{"g7"}) {
		t.Fatalf("overdue and not removed: %v", l.StillMembersOverdue)
	}
	var b bytes.Buffer
	if err := report.WriteLateness(&b, report.HTML, "Revocation lateness", l); err != nil || !strings.Contains(b.String(), "1 later than 1 s; 1 overdue and not removed yet") {
		t.Fatalf("html: %v\n%s", err, b.String())
	}
}

func TestBreakGlassAccountsAndConflictsReports(t *testing.T) {
	st := fill(t)
	ctx := context.Background()
	err := st.Update(ctx, func(tx store.Tx) error {
		for _, v := range []store.Review{
			{ID: "v1", RequestID: "r2", Subject: "bob", Directory: "corp", Group: "db", Reason: "SEV1", State: store.ReviewOpen, CreatedAt: t0.Add(2 * time.Hour)},
			{ID: "v0", RequestID: "r1", Subject: "bob", Directory: "corp", Group: "db", Reason: "old", State: store.ReviewClosed, CreatedAt: t0.Add(-48 * time.Hour),
				ClosedAt: t0, ClosedBy: "erin", Outcome: "justified"},
		} {
			if err := tx.InsertReview(v); err != nil {
				return err
			}
		}
		for _, a := range []store.Account{
			{ID: "a1", Directory: "corp", Login: "c.late", Sponsor: "bob", State: store.AccountDisableFailed, EndsAt: t0, DeleteAt: t0.Add(30 * 24 * time.Hour), CreatedAt: t0.Add(-time.Hour), LastError: "ldap down"},
			{ID: "a2", Directory: "corp", Login: "c.fine", Sponsor: "bob", State: store.AccountActive, EndsAt: t0.Add(24 * time.Hour), DeleteAt: t0.Add(30 * 24 * time.Hour), CreatedAt: t0},
			{ID: "a3", Directory: "corp", Login: "c.done", Sponsor: "bob", State: store.AccountDisabled, EndsAt: t0.Add(-time.Hour), DeleteAt: t0.Add(30 * 24 * time.Hour), CreatedAt: t0.Add(-2 * time.Hour)},
		} {
			if err := tx.InsertAccount(a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	bg, err := report.BreakGlassReport(ctx, st, report.Period{From: t0, To: t0.Add(3 * time.Hour)})
	if err != nil || len(bg) != 1 || bg[0].Review != "v1" || bg[0].State != "open" {
		t.Fatalf("break-glass: %+v %v", bg, err)
	}
	past, err := report.AccountsPastEndReport(ctx, st, t0.Add(time.Hour))
	if err != nil || len(past) != 1 || past[0].Login != "c.late" || past[0].LastError != "ldap down" {
		t.Fatalf("accounts past their end: %+v %v", past, err)
	}
	// bob holds db (g2, live) and now web too, which one set keeps apart;
	// ended grants and revoke_failed ones do not count.
	if err := st.Update(ctx, func(tx store.Tx) error {
		return tx.InsertGrant(store.Grant{ID: "g8", Directory: "corp", GroupID: "gid-web", GroupName: "web", UserID: "uid-bob", UserName: "bob",
			State: store.StateActive, StartsAt: t0, ExpiresAt: t0.Add(5 * time.Hour), CreatedAt: t0, UpdatedAt: t0})
	}); err != nil {
		t.Fatal(err)
	}
	cs, err := report.ConflictsReport(ctx, st, []policy.Separation{{Name: "sox", Groups: []string{"db", "web"}}, {Name: "other", Groups: []string{"db", "hr"}}}, []string{"corp"})
	if err != nil || len(cs) != 1 || cs[0].User != "bob" || cs[0].Set != "sox" || !slices.Equal(cs[0].Groups, []string{"db", "web"}) {
		t.Fatalf("conflicts: %+v %v", cs, err)
	}

	// Over a period: alice held db (g1) and web (g9) at once for half an
	// hour; erin held both, one after the other; bob's break-glass db
	// overlapped his web grant.
	if err := st.Update(ctx, func(tx store.Tx) error {
		for _, g := range []store.Grant{
			{ID: "g9", Directory: "corp", GroupID: "gid-web", GroupName: "web", UserID: "uid-alice", UserName: "alice", State: store.StateRevoked,
				StartsAt: t0.Add(30 * time.Minute), ExpiresAt: t0.Add(2 * time.Hour), EndedAt: t0.Add(2 * time.Hour), CreatedAt: t0, UpdatedAt: t0},
			{ID: "g10", Directory: "corp", GroupID: "gid-web", GroupName: "web", UserID: "uid-erin", UserName: "erin", State: store.StateRevoked,
				StartsAt: t0.Add(2 * time.Hour), ExpiresAt: t0.Add(3 * time.Hour), EndedAt: t0.Add(3 * time.Hour), CreatedAt: t0, UpdatedAt: t0},
		} {
			if err := tx.InsertGrant(g); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sox := []policy.Separation{{Name: "sox", Groups: []string{"db", "web"}}}
	pcs, err := report.PastConflictsReport(ctx, st, sox, []string{"corp"}, report.Period{From: t0, To: t0.Add(6 * time.Hour)}, t0.Add(6*time.Hour))
	if err != nil || len(pcs) != 2 {
		t.Fatalf("past conflicts: %+v %v", pcs, err)
	}
	if a := pcs[0]; a.User != "alice" || !a.From.Equal(t0.Add(30*time.Minute)) || !a.To.Equal(t0.Add(time.Hour)) || !slices.Equal(a.Via, []string{"grant g1", "grant g9"}) {
		t.Errorf("alice: %+v", a)
	}
	if b := pcs[1]; b.User != "bob" || !b.From.Equal(t0.Add(2*time.Hour)) || !b.To.Equal(t0.Add(3*time.Hour)) || !slices.Equal(b.Via, []string{"breakglass g2", "grant g8"}) {
		t.Errorf("bob: %+v", b)
	}
	later, err := report.PastConflictsReport(ctx, st, sox, []string{"corp"}, report.Period{From: t0.Add(90 * time.Minute), To: t0.Add(6 * time.Hour)}, t0.Add(6*time.Hour))
	if err != nil || len(later) != 1 || later[0].User != "bob" {
		t.Fatalf("a period after alice's overlap: %+v %v", later, err)
	}

	var b bytes.Buffer
	if err := report.WriteAccountsPastEnd(&b, report.CSV, "x", past); err != nil || !strings.Contains(b.String(), "c.late") {
		t.Fatalf("csv: %v %s", err, b.String())
	}
}

// An evidence bundle verifies offline with the public key, and any change
// to it is found: an edited report, an edited or missing event, another
// key.
func TestEvidence_ExportedBundleVerifiesOfflineAndTamperingIsFound(t *testing.T) {
	st := fill(t)
	ctx := context.Background()
	head, _, _ := st.AuditHead(ctx)
	keys, err := audit.LoadKeys(filepath.Join(t.TempDir(), "audit.key"), head)
	if err != nil {
		t.Fatal(err)
	}
	st.SetAuditKeys(keys)
	// Events after keying began are chained with the key.
	for i := range 3 {
		if _, err := store.Append(ctx, st, audit.Event{Time: t0.Add(time.Duration(4+i) * time.Hour), Actor: "erin", Action: "grant.requested", Detail: fmt.Sprint("later ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	scope := report.EvidenceScope{Period: report.Period{From: t0.Add(80 * time.Minute), To: t0.Add(5*time.Hour + time.Minute)},
		Groups: [][2]string{{"corp", "db"}}, Directories: []string{"corp"}}
	var b bytes.Buffer
	m, err := report.ExportEvidence(ctx, st, keys, scope, t0.Add(6*time.Hour), &b)
	if err != nil {
		t.Fatal(err)
	}
	pub := keys.Sign.Public().(ed25519.PublicKey)
	got, err := report.VerifyEvidence(bytes.NewReader(b.Bytes()), pub)
	if err != nil || got.Events != 3 || got.FirstSeq != m.FirstSeq || got.SelfSigned || len(got.Files) != 8 {
		t.Fatalf("verify: %+v %v", got, err)
	}
	if got.FirstSeq < 2 || got.Anchor == audit.GenesisHash {
		t.Fatalf("the segment should start mid-log with an anchor: %+v", got.Manifest)
	}
	if self, err := report.VerifyEvidence(bytes.NewReader(b.Bytes()), nil); err != nil || !self.SelfSigned {
		t.Fatalf("self-signed check: %+v %v", self, err)
	}
	other, _ := audit.LoadKeys(filepath.Join(t.TempDir(), "other.key"), 0)
	if _, err := report.VerifyEvidence(bytes.NewReader(b.Bytes()), other.Sign.Public().(ed25519.PublicKey)); err == nil {
		t.Fatal("a bundle verified with another jitd's key")
	}
	for what, edit := range map[string]func(map[string][]byte){
		"a report edited": func(f map[string][]byte) { f["reports/breakglass.csv"] = append(f["reports/breakglass.csv"], "x\n"...) },
		"an event dropped": func(f map[string][]byte) {
			lines := strings.SplitAfter(string(f["audit/events.jsonl"]), "\n")
			f["audit/events.jsonl"] = []byte(lines[0] + lines[2])
		},
		"an event edited": func(f map[string][]byte) {
			f["audit/events.jsonl"] = bytes.Replace(f["audit/events.jsonl"], []byte("later 1"), []byte("later 9"), 1)
		},
		"the manifest edited": func(f map[string][]byte) {
			f["manifest.json"] = bytes.Replace(f["manifest.json"], []byte(`"first_seq"`), []byte(`"first_seq" `), 1)
		},
		"a file added": func(f map[string][]byte) { f["reports/extra.csv"] = []byte("x") },
	} {
		if _, err := report.VerifyEvidence(bytes.NewReader(retar(t, b.Bytes(), edit)), pub); err == nil {
			t.Errorf("%s: the bundle still verifies", what)
		}
	}
}

// retar rewrites a bundle with edit applied to its files.
func retar(t *testing.T, bundle []byte, edit func(map[string][]byte)) []byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(bundle))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
	edit(files)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	for n, b := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: int64(len(b))})
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	return out.Bytes()
}
