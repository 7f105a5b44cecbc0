package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jitd/jitd/core/store"
)

func testInvites(t *testing.T, s store.Store) {
	ctx := context.Background()
	v := store.Invite{ID: "i-1", SecretHash: "ab12", PublicKey: []byte{1, 2, 3}, Directory: "corp", Sponsor: "bob", CreatedBy: "admin",
		MaxUntil: t0.Add(30 * 24 * time.Hour), Groups: []string{"staff", "prod-db-admins"}, Note: "vendor X", State: store.InviteOpen,
		CreatedAt: t0, ExpiresAt: t0.Add(7 * 24 * time.Hour)}
	other := v
	other.ID, other.Sponsor, other.Groups, other.CreatedAt = "i-2", "carol", []string{}, t0.Add(time.Second)
	update := func(fn func(tx store.Tx) error) error { return s.Update(ctx, fn) }
	if err := update(func(tx store.Tx) error {
		if err := tx.InsertInvite(v); err != nil {
			return err
		}
		return tx.InsertInvite(other)
	}); err != nil {
		t.Fatal(err)
	}
	if err := update(func(tx store.Tx) error { return tx.InsertInvite(v) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("same id twice: %v, want ErrConflict", err)
	}
	if got, err := s.Invite(ctx, "i-1"); err != nil || !reflect.DeepEqual(got, v) {
		t.Fatalf("Invite = %+v, %v\nwant %+v", got, err, v)
	}
	if _, err := s.Invite(ctx, "i-none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing invite: %v", err)
	}
	if got, _ := s.Invites(ctx, ""); len(got) != 2 || got[0].ID != "i-2" {
		t.Fatalf("Invites(all) = %+v, want newest first", got)
	}
	if got, _ := s.Invites(ctx, "bob"); len(got) != 1 || got[0].ID != "i-1" {
		t.Fatalf("Invites(bob) = %+v", got)
	}
	v.State, v.UsedAt, v.RequestID, v.SealedPassword = store.InviteUsed, t0.Add(time.Hour), "r-9", []byte("sealed")
	if err := update(func(tx store.Tx) error { return tx.UpdateInvite(v) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Invite(ctx, "i-1"); !reflect.DeepEqual(got, v) {
		t.Fatalf("after use = %+v", got)
	}
	v.SealedPassword = nil // fetched: forgotten
	if err := update(func(tx store.Tx) error { return tx.UpdateInvite(v) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Invite(ctx, "i-1"); got.SealedPassword != nil {
		t.Fatalf("sealed password kept: %q", got.SealedPassword)
	}
	if err := update(func(tx store.Tx) error { return tx.UpdateInvite(store.Invite{ID: "i-none"}) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing invite: %v", err)
	}

	// An onboarding request keeps what the contractor submitted, and the account made.
	r := store.Request{ID: "r-9", Requester: "c-ann.lee", Directory: "corp", Duration: 14 * 24 * time.Hour, Reason: "contract",
		State: store.RequestPending, Steps: []store.ApprovalStep{{Any: 1, Users: []string{"bob"}, Groups: []string{}}},
		CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
		Onboarding: &store.Onboarding{InviteID: "i-1", Login: "c-ann.lee", GivenName: "Ann", Surname: "Lee", Email: "ann@vendor.example",
			Company: "Vendor", Sponsor: "bob", Until: t0.Add(14 * 24 * time.Hour).UTC(), Groups: []string{"staff"}}}
	if err := update(func(tx store.Tx) error { return tx.InsertRequest(r) }); err != nil {
		t.Fatal(err)
	}
	r.State, r.AccountID, r.UpdatedAt = store.RequestApproved, "a-1", t0.Add(time.Hour)
	if err := update(func(tx store.Tx) error { return tx.UpdateRequest(r) }); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Request(ctx, "r-9"); err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("onboarding request = %+v, %v\nwant %+v", got, err, r)
	}
}

func testReviews(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := store.Request{ID: "r-bg", Requester: "carol", Directory: "corp", Group: "prod-db-admins", Duration: time.Hour, Reason: "SEV1",
		State: store.RequestApproved, Steps: []store.ApprovalStep{}, BreakGlass: true, CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0}
	v := store.Review{ID: "v-1", RequestID: "r-bg", Subject: "carol", Directory: "corp", Group: "prod-db-admins", Reason: "SEV1",
		State: store.ReviewOpen, CreatedAt: t0}
	older := v
	older.ID, older.CreatedAt = "v-0", t0.Add(-time.Hour)
	if err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertRequest(r); err != nil {
			return err
		}
		if err := tx.InsertReview(older); err != nil {
			return err
		}
		return tx.InsertReview(v)
	}); err != nil {
		t.Fatal(err)
	}
	v.State, v.ClosedAt, v.ClosedBy, v.Outcome, v.Comment = store.ReviewClosed, t0.Add(time.Hour), "bob", "justified", "PM-9"
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.UpdateReview(v) }); err != nil {
		t.Fatal(err)
	}
	var got store.Review
	if err := s.Update(ctx, func(tx store.Tx) (err error) { got, err = tx.Review("v-1"); return err }); err != nil || !reflect.DeepEqual(got, v) {
		t.Fatalf("Review = %+v, %v\nwant %+v", got, err, v)
	}
	if err := s.Update(ctx, func(tx store.Tx) (err error) { _, err = tx.Review("v-none"); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing review: %v", err)
	}
	if open, _ := s.Reviews(ctx, store.ReviewOpen); len(open) != 1 || open[0].ID != "v-0" {
		t.Fatalf("open reviews = %+v", open)
	}
	if all, _ := s.Reviews(ctx, ""); len(all) != 2 || all[0].ID != "v-1" {
		t.Fatalf("all reviews = %+v, want newest first", all)
	}
}

func testSessionLogouts(t *testing.T, s store.Store) {
	ctx := context.Background()
	if at, err := s.SessionsEndedAt(ctx, "alice"); err != nil || !at.IsZero() {
		t.Fatalf("never signed out: %v %v", at, err)
	}
	for _, at := range []time.Time{t0.Add(time.Hour), t0} { // an older logout never moves it back
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.EndSessions("alice", at) }); err != nil {
			t.Fatal(err)
		}
	}
	if at, err := s.SessionsEndedAt(ctx, "alice"); err != nil || !at.Equal(t0.Add(time.Hour)) {
		t.Fatalf("SessionsEndedAt = %v %v", at, err)
	}
	if at, _ := s.SessionsEndedAt(ctx, "bob"); !at.IsZero() {
		t.Fatalf("bob: %v", at)
	}
}

func testUsedLinks(t *testing.T, s store.Store) {
	ctx := context.Background()
	use := func(key string, now time.Time) bool {
		t.Helper()
		var fresh bool
		if err := s.Update(ctx, func(tx store.Tx) (err error) { fresh, err = tx.UseLink(key, t0.Add(time.Hour), now); return err }); err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	if !use("k1", t0) || use("k1", t0.Add(time.Minute)) {
		t.Fatal("a link must be usable once")
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.ForgetLink("k1") }); err != nil {
		t.Fatal(err)
	}
	if !use("k1", t0.Add(2*time.Minute)) {
		t.Fatal("a forgotten link is usable again")
	}
	// Past its expiry the record is dropped; the link itself no longer verifies then.
	if !use("k1", t0.Add(time.Hour)) {
		t.Fatal("an expired record was kept")
	}
}
