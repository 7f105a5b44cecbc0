// Package storetest is the conformance suite every store.Store passes. Each
// subtest gets a fresh store from the factory.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/store"
)

// Run runs the suite; newStore returns an empty store, closed by the suite.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GrantRoundTrip", testGrantRoundTrip},
		{"GrantNotFound", testGrantNotFound},
		{"DuplicateGrantIsConflict", testDuplicateGrant},
		{"FilterGrants", testFilterGrants},
		{"DueGrantsRespectsStateTimeAndLease", testDueGrants},
		{"NextDue", testNextDue},
		{"ReleaseLeases", testReleaseLeases},
		{"RetryGrantsNow", testRetryGrantsNow},
		{"RetryAccountsNow", testRetryAccountsNow},
		{"PersonByLogin", testPerson},
		{"SessionEnds", testSessionEnds},
		{"FailedUpdateRollsBack", testRollback},
		{"AuditChain", testAuditChain},
		{"Tokens", testTokens},
		{"CountGrants", testCountGrants},
		{"MirrorUpsertMembersAndSweep", testMirror},
		{"SyncStateRoundTrip", testSyncState},
		{"BaselineAndDrift", testBaselineAndDrift},
		{"AccountRoundTrip", testAccountRoundTrip},
		{"DueAccounts", testDueAccounts},
		{"RequestsAndApprovals", testRequests},
		{"TokenLifetime", testTokenLifetime},
		{"Idempotency", testIdempotency},
		{"InvitesAndOnboardingRequests", testInvites},
		{"Reviews", testReviews},
		{"SessionLogouts", testSessionLogouts},
		{"UsedLinks", testUsedLinks},
		{"SCIMResources", testSCIMResources},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

// NewGrant returns a valid active grant for tests.
func NewGrant(id string, expires time.Time) store.Grant {
	return store.Grant{
		ID: id, Directory: "demo", GroupID: "g1", GroupName: "admins", UserID: "u-" + id, UserName: "user-" + id,
		State: store.StateActive, Reason: "INC-1", CreatedBy: "admin",
		StartsAt: expires.Add(-time.Hour), ExpiresAt: expires, CreatedAt: expires.Add(-time.Hour), UpdatedAt: expires.Add(-time.Hour),
	}
}

func insert(t *testing.T, s store.Store, gs ...store.Grant) {
	t.Helper()
	err := s.Update(context.Background(), func(tx store.Tx) error {
		for _, g := range gs {
			if err := tx.InsertGrant(g); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
}

func ids(gs []store.Grant) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.ID
	}
	return out
}

func testGrantRoundTrip(t *testing.T, s store.Store) {
	g := NewGrant("a", t0)
	g.Preexisting = true
	g.LastError = "boom"
	g.NextAttempt = t0.Add(time.Second)
	g.LeaseOwner, g.LeaseUntil = "me", t0.Add(time.Minute)
	g.VanishedAt = t0.Add(30 * time.Second)
	insert(t, s, g)
	got, err := s.Grant(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if got != g {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, g)
	}
	g.State, g.EndedAt, g.EndReason, g.Attempts = store.StateRevoked, t0.Add(2*time.Second), "expired", 3
	if err := s.Update(context.Background(), func(tx store.Tx) error { return tx.UpdateGrant(g) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Grant(context.Background(), "a"); got != g {
		t.Fatalf("after update:\n got %+v\nwant %+v", got, g)
	}
}

func testGrantNotFound(t *testing.T, s store.Store) {
	if _, err := s.Grant(context.Background(), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Grant(missing) = %v, want ErrNotFound", err)
	}
	err := s.Update(context.Background(), func(tx store.Tx) error { return tx.UpdateGrant(NewGrant("nope", t0)) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateGrant(missing) = %v, want ErrNotFound", err)
	}
}

func testDuplicateGrant(t *testing.T, s store.Store) {
	insert(t, s, NewGrant("a", t0))
	err := s.Update(context.Background(), func(tx store.Tx) error { return tx.InsertGrant(NewGrant("a", t0)) })
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate insert = %v, want ErrConflict", err)
	}
}

func testFilterGrants(t *testing.T, s store.Store) {
	a, b, c := NewGrant("a", t0), NewGrant("b", t0), NewGrant("c", t0)
	b.State = store.StateRevoked
	c.GroupID, c.UserID, c.UserName = "g2", a.UserID, a.UserName
	a.CreatedAt, b.CreatedAt, c.CreatedAt = t0, t0.Add(time.Second), t0.Add(2*time.Second)
	insert(t, s, a, b, c)
	ctx := context.Background()
	for _, tc := range []struct {
		f    store.GrantFilter
		want string
	}{
		{store.GrantFilter{}, "[c b a]"},
		{store.GrantFilter{States: []store.State{store.StateActive}}, "[c a]"},
		{store.GrantFilter{GroupID: "g1"}, "[b a]"},
		{store.GrantFilter{UserID: a.UserID, GroupID: "g2"}, "[c]"},
		{store.GrantFilter{Limit: 1}, "[c]"},
		{store.GrantFilter{Directory: "demo", GroupID: "g1", UserID: b.UserID}, "[b]"},
		{store.GrantFilter{Directory: "demo", GroupID: "g2", UserID: a.UserID, States: []store.State{store.StateActive}}, "[c]"},
		{store.GrantFilter{Directory: "other"}, "[]"},
		{store.GrantFilter{UserName: a.UserName}, "[c a]"},
		{store.GrantFilter{UserIDs: []string{b.UserID, "nobody"}}, "[b]"},
		{store.GrantFilter{GroupID: "g1", UserIDs: []string{a.UserID, b.UserID}, States: []store.State{store.StateActive}}, "[a]"},
		{store.GrantFilter{GroupName: "admins", States: []store.State{store.StateRevoked}}, "[b]"},
	} {
		got, err := s.Grants(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ids(got)) != tc.want {
			t.Errorf("Grants(%+v) = %v, want %s", tc.f, ids(got), tc.want)
		}
	}
}

func testDueGrants(t *testing.T, s store.Store) {
	now := t0
	active := NewGrant("active-due", now.Add(-time.Second))
	future := NewGrant("active-future", now.Add(time.Second))
	failedApply := NewGrant("apply-failed-due", now.Add(-2*time.Second))
	failedApply.State = store.StateApplyFailed
	retry := NewGrant("revoking-retry-due", now.Add(-time.Hour))
	retry.State, retry.NextAttempt = store.StateRevoking, now
	leased := NewGrant("revoking-leased", now.Add(-time.Hour))
	leased.State, leased.LeaseOwner, leased.LeaseUntil = store.StateRevoking, "other", now.Add(time.Minute)
	later := NewGrant("revoke-failed-later", now.Add(-time.Hour))
	later.State, later.NextAttempt = store.StateRevokeFailed, now.Add(time.Minute)
	done := NewGrant("revoked", now.Add(-time.Hour))
	done.State = store.StateRevoked
	insert(t, s, active, future, failedApply, retry, leased, later, done)

	var got []store.Grant
	err := s.Update(context.Background(), func(tx store.Tx) (err error) {
		got, err = tx.DueGrants(now, 10)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[revoking-retry-due apply-failed-due active-due]"; fmt.Sprint(ids(got)) != want {
		t.Fatalf("DueGrants = %v, want %s (oldest expiry first)", ids(got), want)
	}
	_ = s.Update(context.Background(), func(tx store.Tx) (err error) {
		got, err = tx.DueGrants(now, 1)
		return err
	})
	if len(got) != 1 {
		t.Fatalf("DueGrants(limit 1) returned %d", len(got))
	}
}

func testNextDue(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, ok, err := s.NextDue(ctx); err != nil || ok {
		t.Fatalf("NextDue on empty store = %v, %v; want nothing", ok, err)
	}
	a := NewGrant("a", t0.Add(time.Hour))
	insert(t, s, a)
	if at, ok, _ := s.NextDue(ctx); !ok || !at.Equal(a.ExpiresAt) {
		t.Fatalf("NextDue = %v %v, want %v", at, ok, a.ExpiresAt)
	}
	// A revoking grant is due at the later of its next attempt and its lease end.
	r := NewGrant("r", t0.Add(-time.Hour))
	r.State, r.NextAttempt, r.LeaseUntil = store.StateRevoking, t0.Add(time.Minute), t0.Add(2*time.Minute)
	insert(t, s, r)
	if at, _, _ := s.NextDue(ctx); !at.Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("NextDue with leased retry = %v, want %v", at, t0.Add(2*time.Minute))
	}
}

func testReleaseLeases(t *testing.T, s store.Store) {
	a, b := NewGrant("a", t0), NewGrant("b", t0)
	a.State, a.LeaseOwner, a.LeaseUntil = store.StateRevoking, "me", t0.Add(time.Hour)
	b.State, b.LeaseOwner, b.LeaseUntil = store.StateRevoking, "them", t0.Add(time.Hour)
	insert(t, s, a, b)
	var n int
	if err := s.Update(context.Background(), func(tx store.Tx) (err error) { n, err = tx.ReleaseLeases("me"); return err }); err != nil {
		t.Fatal(err)
	}
	ga, _ := s.Grant(context.Background(), "a")
	gb, _ := s.Grant(context.Background(), "b")
	if n != 1 || ga.LeaseOwner != "" || !ga.LeaseUntil.IsZero() || gb.LeaseOwner != "them" {
		t.Fatalf("ReleaseLeases(me) = %d; a=%q/%v b=%q", n, ga.LeaseOwner, ga.LeaseUntil, gb.LeaseOwner)
	}
}

// A directory that answers again makes its removals waiting out a backoff
// due at once: not those in flight (leased), not another directory's, not
// live grants.
func testRetryGrantsNow(t *testing.T, s store.Store) {
	ctx := context.Background()
	waiting, failed, leased, other, active, soon := NewGrant("w", t0), NewGrant("f", t0), NewGrant("l", t0), NewGrant("o", t0), NewGrant("a", t0.Add(time.Hour)), NewGrant("s", t0)
	waiting.State, waiting.NextAttempt = store.StateRevoking, t0.Add(4*time.Minute)
	failed.State, failed.NextAttempt = store.StateRevokeFailed, t0.Add(5*time.Minute)
	leased.State, leased.NextAttempt, leased.LeaseOwner, leased.LeaseUntil = store.StateRevoking, t0.Add(time.Minute), "me", t0.Add(2*time.Minute)
	other.State, other.NextAttempt, other.Directory = store.StateRevoking, t0.Add(time.Minute), "other"
	soon.State, soon.NextAttempt = store.StateRevoking, t0.Add(-time.Second)
	insert(t, s, waiting, failed, leased, other, active, soon)
	var n int
	if err := s.Update(ctx, func(tx store.Tx) (err error) { n, err = tx.RetryGrantsNow("demo", t0); return err }); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("RetryGrantsNow = %d, want 2 (the revoking and the revoke_failed grant in backoff)", n)
	}
	var due []store.Grant
	s.Update(ctx, func(tx store.Tx) (err error) { due, err = tx.DueGrants(t0, 10); return err })
	if got := ids(due); !slices.Equal(got, []string{"f", "s", "w"}) {
		t.Fatalf("due after RetryGrantsNow: %v, want [f s w]", got)
	}
	if g, _ := s.Grant(ctx, "l"); !g.NextAttempt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("a leased removal was moved: next attempt %v", g.NextAttempt)
	}
	if g, _ := s.Grant(ctx, "o"); !g.NextAttempt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("another directory's removal was moved: next attempt %v", g.NextAttempt)
	}
}

// Person says whether a login is an enabled user of any directory, and
// whether any directory was read yet: what a person's token rests on.
func testPerson(t *testing.T, s store.Store) {
	ctx := context.Background()
	check := func(login string, wantFound, wantEnabled, wantSynced bool) {
		t.Helper()
		found, enabled, synced, err := s.Person(ctx, login)
		if err != nil || found != wantFound || enabled != wantEnabled || synced != wantSynced {
			t.Fatalf("Person(%s) = %v %v %v %v; want %v %v %v", login, found, enabled, synced, err, wantFound, wantEnabled, wantSynced)
		}
	}
	check("alice", false, false, false)
	err := s.Update(ctx, func(tx store.Tx) error {
		for _, u := range []struct {
			dir string
			u   connectors.User
		}{{"a", connectors.User{ID: "1", Login: "alice", Enabled: true}}, {"b", connectors.User{ID: "2", Login: "alice", Enabled: false}},
			{"a", connectors.User{ID: "3", Login: "dave", Enabled: false}}} {
			if err := tx.UpsertMirrorUser(u.dir, u.u, 1); err != nil {
				return err
			}
		}
		return tx.PutSyncState(store.SyncState{Directory: "a", Gen: 1, FullSyncs: 1, LastFullAt: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	check("alice", true, true, true) // enabled in one directory is enough
	check("dave", true, false, true)
	check("mallory", false, false, true)
}

// Session ends are recorded once per grant, due by their next attempt
// until ended, and woken per directory.
func testSessionEnds(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := store.SessionEnd{GrantID: "g1", Directory: "okta", UserID: "u1", UserName: "alice", GroupName: "admins", State: store.SessionsPending, CreatedAt: t0, NextAttempt: t0}
	b := a
	b.GrantID, b.NextAttempt = "g2", t0.Add(time.Hour)
	err := s.Update(ctx, func(tx store.Tx) error {
		for _, e := range []store.SessionEnd{a, b, a} { // the second a is ignored
			if err := tx.InsertSessionEnd(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.SessionEnd(ctx, "g1"); err != nil || got != a {
		t.Fatalf("SessionEnd = %+v %v, want %+v", got, err, a)
	}
	var due []store.SessionEnd
	s.Update(ctx, func(tx store.Tx) (err error) { due, err = tx.DueSessionEnds(t0, 10); return err })
	if len(due) != 1 || due[0].GrantID != "g1" {
		t.Fatalf("due at t0: %+v", due)
	}
	if next, ok, _ := s.NextSessionEndDue(ctx); !ok || !next.Equal(t0) {
		t.Fatalf("NextSessionEndDue = %v %v", next, ok)
	}
	a.State, a.EndedAt, a.Attempts = store.SessionsEnded, t0, 1
	var n int
	s.Update(ctx, func(tx store.Tx) (err error) {
		if err = tx.UpdateSessionEnd(a); err != nil {
			return err
		}
		n, err = tx.RetrySessionEndsNow("okta", t0)
		return err
	})
	if n != 1 {
		t.Fatalf("RetrySessionEndsNow woke %d, want 1 (g2)", n)
	}
	s.Update(ctx, func(tx store.Tx) (err error) { due, err = tx.DueSessionEnds(t0, 10); return err })
	if len(due) != 1 || due[0].GrantID != "g2" {
		t.Fatalf("due after g1 ended and g2 woken: %+v", due)
	}
}

func testRollback(t *testing.T, s store.Store) {
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.InsertGrant(NewGrant("a", t0)); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(audit.Event{Time: t0, Actor: "x", Action: audit.GrantRequested}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	if _, err := s.Grant(context.Background(), "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("grant survived a rolled-back transaction: %v", err)
	}
	if seq, _, _ := s.AuditHead(context.Background()); seq != 0 {
		t.Fatalf("audit head moved to %d in a rolled-back transaction", seq)
	}
}

func testAuditChain(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 5 {
		err := s.Update(ctx, func(tx store.Tx) error {
			_, err := tx.AppendAudit(audit.Event{Time: t0.Add(time.Duration(i) * time.Second), Actor: "admin", Action: audit.GrantRequested, GrantID: fmt.Sprint("g", i), Detail: "reason"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	v := audit.NewVerifier()
	if err := s.WalkAudit(ctx, func(e audit.Event) error { v.Add(e); return nil }); err != nil {
		t.Fatal(err)
	}
	seq, hash, err := s.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := v.Finish(seq, hash); len(p) != 0 || v.Count != 5 {
		t.Fatalf("fresh chain of %d events has problems: %v", v.Count, p)
	}
	evs, _ := s.AuditEvents(ctx, store.AuditFilter{GrantID: "g3"})
	if len(evs) != 1 || evs[0].Seq != 4 || evs[0].Detail != "reason" || !evs[0].Time.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("AuditEvents(g3) = %+v", evs)
	}
	all, _ := s.AuditEvents(ctx, store.AuditFilter{Limit: 2})
	if len(all) != 2 || all[0].Seq != 5 {
		t.Fatalf("AuditEvents(limit 2) should be the newest two, got %+v", all)
	}
}

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	tok := store.Token{ID: "t1", Name: "admin", Role: "admin", Kind: store.TokenSystem, SecretHash: "abc", CreatedAt: t0}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertToken(tok) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.Token(ctx, "t1")
	if err != nil || got != tok {
		t.Fatalf("Token = %+v, %v", got, err)
	}
	dup := tok
	dup.ID = "t2"
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertToken(dup) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("token with a taken name: %v, want ErrConflict", err)
	}
	if _, err := s.Token(ctx, "zz"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing token: %v", err)
	}
	if n, _ := s.CountTokens(ctx); n != 1 {
		t.Fatalf("CountTokens = %d", n)
	}
}

func testCountGrants(t *testing.T, s store.Store) {
	a, b, c := NewGrant("a", t0), NewGrant("b", t0), NewGrant("c", t0)
	c.State = store.StateRevokeFailed
	insert(t, s, a, b, c)
	got, err := s.CountGrants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got[store.StateActive] != 2 || got[store.StateRevokeFailed] != 1 || len(got) != 2 {
		t.Fatalf("CountGrants = %v", got)
	}
}

func testMirror(t *testing.T, s store.Store) {
	ctx := context.Background()
	update := func(fn func(tx store.Tx) error) {
		t.Helper()
		if err := s.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	alice := connectors.User{ID: "u1", Login: "alice", DN: "uid=alice,o=x", Ref: "uid=alice,o=x", Enabled: true,
		Manager: "uid=bob,o=x", Attributes: map[string]string{"department": "payments", "title": "Engineer"}}
	bob := connectors.User{ID: "u2", Login: "bob", Ref: "uid=bob,o=x", Enabled: true}
	update(func(tx store.Tx) error {
		tx.UpsertMirrorUser("d", alice, 1)
		tx.UpsertMirrorUser("d", bob, 1)
		tx.UpsertMirrorUser("other", connectors.User{ID: "u1", Login: "alice-elsewhere", Ref: "uid=alice,o=x"}, 1)
		tx.UpsertMirrorGroup("d", connectors.Group{ID: "g1", Name: "admins"}, 1)
		return tx.ReplaceMirrorMembers("d", "g1", []string{"uid=alice,o=x", "uid=bob,o=x", "cn=nested-group,o=x"}, false)
	})
	members := func() string {
		us, err := s.MirrorMembers(ctx, "d", "g1")
		if err != nil {
			t.Fatal(err)
		}
		var logins []string
		for _, u := range us {
			logins = append(logins, u.Login)
		}
		return fmt.Sprint(logins)
	}
	if got := members(); got != "[alice bob]" {
		t.Fatalf("members by ref = %s (unknown refs are ignored, other directories too)", got)
	}
	if gs, err := s.MirrorUserGroups(ctx, "d", "u1"); err != nil || fmt.Sprint(gs) != "[admins]" {
		t.Fatalf("MirrorUserGroups(alice) = %v, %v", gs, err)
	}
	if gs, _ := s.MirrorUserGroups(ctx, "other", "u1"); len(gs) != 0 {
		t.Fatalf("groups leak across directories: %v", gs)
	}
	update(func(tx store.Tx) error { return tx.ReplaceMirrorMembers("d", "g1", []string{"u2"}, true) })
	if got := members(); got != "[bob]" {
		t.Fatalf("members replaced by id = %s", got)
	}
	if u, err := s.MirrorUser(ctx, "d", "alice"); err != nil || !reflect.DeepEqual(u, alice) {
		t.Fatalf("MirrorUser = %+v, %v", u, err)
	}
	if m, err := s.MirrorManager(ctx, "d", alice); err != nil || m.Login != "bob" {
		t.Fatalf("MirrorManager(alice) = %+v, %v", m, err)
	}
	if _, err := s.MirrorManager(ctx, "d", bob); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("MirrorManager(bob, who has none) = %v", err)
	}
	// Rename keeps identity: same id, new login.
	bob.Login = "robert"
	update(func(tx store.Tx) error { return tx.UpsertMirrorUser("d", bob, 1) })
	if got := members(); got != "[robert]" {
		t.Fatalf("after rename: %s", got)
	}
	// A full sync of generation 2 that sees only alice and the group.
	var swept int
	update(func(tx store.Tx) (err error) {
		tx.UpsertMirrorUser("d", alice, 2)
		tx.UpsertMirrorGroup("d", connectors.Group{ID: "g1", Name: "admins"}, 2)
		swept, err = tx.SweepMirror("d", 2)
		return err
	})
	c, _ := s.MirrorCounts(ctx, "d")
	if swept != 1 || c != (store.MirrorCounts{Users: 1, Groups: 1, Members: 0}) {
		t.Fatalf("sweep removed %d; counts %+v; want bob and his membership gone", swept, c)
	}
	update(func(tx store.Tx) error { return tx.DeleteMirrorGroup("d", "u1") }) // wrong kind: no effect
	if _, err := s.MirrorUser(ctx, "d", "alice"); err != nil {
		t.Fatalf("deleting a group with a user's id removed the user: %v", err)
	}
	update(func(tx store.Tx) error { return tx.DeleteMirrorUser("d", "u1") })
	if _, err := s.MirrorUser(ctx, "d", "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted user still found: %v", err)
	}
	if c, _ := s.MirrorCounts(ctx, "other"); c.Users != 1 {
		t.Fatalf("another directory's mirror changed: %+v", c)
	}
}

func testSyncState(t *testing.T, s store.Store) {
	ctx := context.Background()
	if st, err := s.SyncState(ctx, "d"); !errors.Is(err, store.ErrNotFound) || st.Directory != "d" {
		t.Fatalf("never synced: %+v %v", st, err)
	}
	want := store.SyncState{Directory: "d", Cursor: "abc", Gen: 3, LastFullAt: t0, LastIncrementalAt: t0.Add(time.Second),
		CursorAt: t0.Add(time.Second), LastError: "boom", LastErrorAt: t0.Add(2 * time.Second), FullSyncs: 3, IncrementalSyncs: 7, CursorExpired: 1}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutSyncState(want) }); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SyncState(ctx, "d"); err != nil || got != want {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func testBaselineAndDrift(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, ok, err := s.Baseline(ctx, "d", "g1"); ok || err != nil {
		t.Fatalf("baseline before recording: ok=%v err=%v", ok, err)
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.RecordBaseline("d", "g1", nil, t0, "jitd"); err != nil { // an empty group
			return err
		}
		return tx.RecordBaseline("d", "g1", []string{"u2", "u1"}, t0.Add(time.Hour), "admin")
	})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok, err := s.Baseline(ctx, "d", "g1"); !ok || err != nil || fmt.Sprint(m) != "[u1 u2]" {
		t.Fatalf("baseline = %v %v %v", m, ok, err)
	}
	d := store.Drift{Directory: "d", GroupID: "g1", UserID: "u3", GroupName: "admins", UserName: "mallory", FirstSeen: t0, LastSeen: t0}
	var fresh, again bool
	s.Update(ctx, func(tx store.Tx) (err error) { fresh, err = tx.OpenDrift(d); return err })
	d.LastSeen = t0.Add(time.Minute)
	s.Update(ctx, func(tx store.Tx) (err error) { again, err = tx.OpenDrift(d); return err })
	got, _ := s.Drift(ctx, "")
	if !fresh || again || len(got) != 1 || !got[0].FirstSeen.Equal(t0) || !got[0].LastSeen.Equal(t0.Add(time.Minute)) {
		t.Fatalf("drift: new=%v again=%v rows=%+v", fresh, again, got)
	}
	var closed bool
	s.Update(ctx, func(tx store.Tx) (err error) { closed, err = tx.CloseDrift("d", "g1", "u3"); return err })
	if got, _ := s.Drift(ctx, "d"); !closed || len(got) != 0 {
		t.Fatalf("after close: %v %+v", closed, got)
	}
}
