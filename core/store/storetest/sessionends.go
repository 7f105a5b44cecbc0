package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/jitd/jitd/core/store"
)

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
