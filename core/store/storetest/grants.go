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
	"github.com/jitd/jitd/core/store"
)

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
	a, b, c, d := NewGrant("a", t0), NewGrant("b", t0), NewGrant("c", t0), NewGrant("d", t0)
	b.State, b.EndedAt = store.StateRevoked, t0.Add(time.Hour)
	d.State, d.EndedAt, d.CreatedAt = store.StateRevoked, t0.Add(-time.Hour), t0.Add(-2*time.Hour)
	c.GroupID, c.UserID, c.UserName = "g2", a.UserID, a.UserName
	a.CreatedAt, b.CreatedAt, c.CreatedAt = t0, t0.Add(time.Second), t0.Add(2*time.Second)
	insert(t, s, a, b, c, d)
	ctx := context.Background()
	for _, tc := range []struct {
		f    store.GrantFilter
		want string
	}{
		{store.GrantFilter{}, "[c b a d]"},
		{store.GrantFilter{EndedSince: t0}, "[c b a]"},
		{store.GrantFilter{EndedSince: t0.Add(2 * time.Hour)}, "[c a]"},
		{store.GrantFilter{States: []store.State{store.StateActive}}, "[c a]"},
		{store.GrantFilter{GroupID: "g1"}, "[b a d]"},
		{store.GrantFilter{UserID: a.UserID, GroupID: "g2"}, "[c]"},
		{store.GrantFilter{Limit: 1}, "[c]"},
		{store.GrantFilter{Limit: 1, Offset: 1}, "[b]"},
		{store.GrantFilter{Offset: 2}, "[a d]"},
		{store.GrantFilter{Directory: "demo", GroupID: "g1", UserID: b.UserID}, "[b]"},
		{store.GrantFilter{Directory: "demo", GroupID: "g2", UserID: a.UserID, States: []store.State{store.StateActive}}, "[c]"},
		{store.GrantFilter{Directory: "other"}, "[]"},
		{store.GrantFilter{UserName: a.UserName}, "[c a]"},
		{store.GrantFilter{UserIDs: []string{b.UserID, "nobody"}}, "[b]"},
		{store.GrantFilter{GroupID: "g1", UserIDs: []string{a.UserID, b.UserID}, States: []store.State{store.StateActive}}, "[a]"},
		{store.GrantFilter{GroupName: "admins", States: []store.State{store.StateRevoked}}, "[b d]"},
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

// ClaimExpired takes grants past their end, oldest first, and only those:
// revoking under the lease, "expired" unless they carry a reason, as
// stored.
func testClaimExpired(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := t0
	active := NewGrant("active-due", now.Add(-time.Second))
	future := NewGrant("active-future", now.Add(time.Second))
	failedApply := NewGrant("apply-failed-due", now.Add(-2*time.Second))
	failedApply.State, failedApply.EndReason = store.StateApplyFailed, "revoked by alice"
	oldest := NewGrant("active-oldest", now.Add(-time.Hour))
	retry := NewGrant("revoking-retry-due", now.Add(-2*time.Hour))
	retry.State, retry.NextAttempt = store.StateRevoking, now
	insert(t, s, active, future, failedApply, oldest, retry)

	claim := func(limit int) []store.Grant {
		var got []store.Grant
		err := s.Update(ctx, func(tx store.Tx) (err error) {
			got, err = tx.ClaimExpired(now, limit, "me", now.Add(time.Minute))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := claim(2)
	if want := "[active-oldest apply-failed-due]"; fmt.Sprint(ids(got)) != want {
		t.Fatalf("ClaimExpired(2) = %v, want %s", ids(got), want)
	}
	if got = append(got, claim(10)...); fmt.Sprint(ids(got)) != "[active-oldest apply-failed-due active-due]" {
		t.Fatalf("ClaimExpired, twice: %v", ids(got))
	}
	for _, g := range got {
		stored, err := s.Grant(ctx, g.ID)
		if err != nil || !reflect.DeepEqual(stored, g) {
			t.Fatalf("returned %+v, stored %+v (%v)", g, stored, err)
		}
		wantReason := "expired"
		if g.ID == "apply-failed-due" {
			wantReason = "revoked by alice"
		}
		if g.State != store.StateRevoking || g.LeaseOwner != "me" || !g.LeaseUntil.Equal(now.Add(time.Minute)) || !g.UpdatedAt.Equal(now) || g.EndReason != wantReason {
			t.Fatalf("claimed %+v", g)
		}
	}
	if again := claim(10); len(again) != 0 {
		t.Fatalf("claimed again: %v", ids(again))
	}
	if g, _ := s.Grant(ctx, "active-future"); g.State != store.StateActive {
		t.Fatalf("a grant not yet due was claimed: %+v", g)
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

func testGrantsOfDeparted(t *testing.T, s store.Store) {
	ctx := context.Background()
	err := s.Update(ctx, func(tx store.Tx) error {
		for _, u := range []connectors.User{{ID: "u-here", Login: "here", Enabled: true}, {ID: "u-off", Login: "off"}} {
			if err := tx.UpsertMirrorUser("demo", u, 1); err != nil {
				return err
			}
		}
		// Enabled in another directory only: still departed from "demo".
		return tx.UpsertMirrorUser("other", connectors.User{ID: "u-elsewhere", Login: "elsewhere", Enabled: true}, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id, user string, state store.State, created time.Time) store.Grant {
		g := NewGrant(id, t0)
		g.UserID, g.State, g.CreatedAt = user, state, created
		return g
	}
	early, late := t0.Add(-2*time.Hour), t0.Add(time.Minute)
	insert(t, s,
		mk("kept", "u-here", store.StateActive, early),
		mk("disabled", "u-off", store.StateActive, early),
		mk("gone", "u-gone", store.StateApplyFailed, early),
		mk("elsewhere", "u-elsewhere", store.StateActive, early),
		mk("too-new", "u-gone", store.StateActive, late),
		mk("ended", "u-gone", store.StateRevoked, early),
	)
	other := mk("other-dir", "u-gone", store.StateActive, early)
	other.Directory = "other"
	insert(t, s, other)

	got, err := s.GrantsOfDeparted(ctx, "demo", []store.State{store.StateActive, store.StateApplyFailed}, t0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range got {
		ids = append(ids, g.ID)
	}
	slices.Sort(ids)
	if want := []string{"disabled", "elsewhere", "gone"}; !slices.Equal(ids, want) {
		t.Fatalf("GrantsOfDeparted = %v, want %v", ids, want)
	}
}
