package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/jitd/jitd/core/store"
)

func testIdempotency(t *testing.T, s store.Store) {
	ctx := context.Background()
	claim := func(principal, key string, at, purge time.Time) (store.Idempotent, bool) {
		t.Helper()
		var got store.Idempotent
		var seen bool
		err := s.Update(ctx, func(tx store.Tx) error {
			var err error
			got, seen, err = tx.ClaimIdempotent(store.Idempotent{Principal: principal, Key: key, Fingerprint: "fp-" + key, CreatedAt: at}, purge)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return got, seen
	}
	if _, seen := claim("alice", "k1", t0, t0.Add(-time.Hour)); seen {
		t.Fatal("a new key was reported as seen")
	}
	got, seen := claim("alice", "k1", t0, t0.Add(-time.Hour))
	if !seen || got.Status != 0 || got.Fingerprint != "fp-k1" {
		t.Fatalf("second claim = %+v, %v; want the unfinished first claim", got, seen)
	}
	if _, seen := claim("bob", "k1", t0, t0.Add(-time.Hour)); seen {
		t.Fatal("keys are per principal, but bob saw alice's")
	}
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.FinishIdempotent("alice", "k1", 201, "application/json", []byte(`{"id":"r1"}`))
	}); err != nil {
		t.Fatal(err)
	}
	got, seen = claim("alice", "k1", t0, t0.Add(-time.Hour))
	if !seen || got.Status != 201 || string(got.Body) != `{"id":"r1"}` || got.ContentType != "application/json" {
		t.Fatalf("after finish = %+v, %v", got, seen)
	}
	// Release forgets only unfinished claims.
	if err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.ReleaseIdempotent("alice", "k1"); err != nil {
			return err
		}
		return tx.ReleaseIdempotent("bob", "k1")
	}); err != nil {
		t.Fatal(err)
	}
	if _, seen := claim("alice", "k1", t0, t0.Add(-time.Hour)); !seen {
		t.Fatal("release dropped a finished response")
	}
	if _, seen := claim("bob", "k1", t0, t0.Add(-time.Hour)); seen {
		t.Fatal("release kept an unfinished claim")
	}
	// Old records are purged.
	if _, seen := claim("alice", "k1", t0.Add(25*time.Hour), t0.Add(time.Hour)); seen {
		t.Fatal("a record older than the purge time was replayed")
	}
}
