package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jitd/jitd/core/store"
)

func testRequests(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := store.Request{ID: "r-1", Requester: "alice", Directory: "corp", Group: "prod-db-admins", Duration: 4 * time.Hour, Reason: "deploy 2.3",
		Ticket: "CHG-1042", State: store.RequestPending, Rule: "dba",
		Steps:     []store.ApprovalStep{{Any: 1, Users: []string{"bob"}, Groups: []string{}}, {Any: 2, Users: []string{}, Groups: []string{"leads"}}},
		CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
	other := r
	other.ID, other.Requester, other.ExpiresAt, other.CreatedAt = "r-2", "carol", t0.Add(time.Hour), t0.Add(time.Second)
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertRequest(r); err != nil {
			return err
		}
		return tx.InsertRequest(other)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Request(ctx, "r-1"); err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("Request = %+v, %v\nwant %+v", got, err, r)
	}
	if _, err := s.Request(ctx, "r-none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing request: %v", err)
	}
	if next, ok, err := s.NextRequestDue(ctx); err != nil || !ok || !next.Equal(other.ExpiresAt) {
		t.Fatalf("NextRequestDue = %v %v %v", next, ok, err)
	}
	// One decision per person per request.
	a := store.Approval{RequestID: "r-1", Approver: "bob", Step: 0, Decision: "approve", Comment: "ok", At: t0.Add(time.Minute)}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertApproval(a) }); err != nil {
		t.Fatal(err)
	}
	again := a
	again.Step = 1
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertApproval(again) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second decision by the same person: %v, want ErrConflict", err)
	}
	if got, err := s.Approvals(ctx, "r-1"); err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], a) {
		t.Fatalf("Approvals = %+v, %v", got, err)
	}
	r.State, r.Step, r.DecidedAt, r.DecidedBy, r.GrantID, r.UpdatedAt = store.RequestApproved, 2, t0.Add(time.Hour), "dave", "g-1", t0.Add(time.Hour)
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.UpdateRequest(r) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Request(ctx, "r-1"); !reflect.DeepEqual(got, r) {
		t.Fatalf("after update = %+v", got)
	}
	var expired []store.Request
	s.Update(ctx, func(tx store.Tx) (err error) { expired, err = tx.ExpiredRequests(t0.Add(2*time.Hour), 10); return err })
	if len(expired) != 1 || expired[0].ID != "r-2" {
		t.Fatalf("ExpiredRequests = %+v", expired)
	}
	if got, _ := s.Requests(ctx, store.RequestFilter{Requester: "carol", States: []store.RequestState{store.RequestPending}}); len(got) != 1 || got[0].ID != "r-2" {
		t.Fatalf("Requests(carol, pending) = %+v", got)
	}
	// An approved request that starts later waits with no grant; it is due
	// at its start, before a later expiry.
	later := other
	risk := 0.42
	later.ID, later.State, later.StartsAt, later.DecidedAt, later.DecidedBy, later.Risk = "r-3", store.RequestApproved, t0.Add(30*time.Minute), t0, "bob", &risk
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertRequest(later) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Request(ctx, "r-3"); !reflect.DeepEqual(got, later) {
		t.Fatalf("a request with a start = %+v\nwant %+v", got, later)
	}
	if next, ok, err := s.NextRequestDue(ctx); err != nil || !ok || !next.Equal(later.StartsAt) {
		t.Fatalf("NextRequestDue with a start = %v %v %v", next, ok, err)
	}
	if got, err := s.StartingRequests(ctx, t0.Add(29*time.Minute), 10); err != nil || len(got) != 0 {
		t.Fatalf("StartingRequests before the start = %+v %v", got, err)
	}
	if got, err := s.StartingRequests(ctx, t0.Add(30*time.Minute), 10); err != nil || len(got) != 1 || got[0].ID != "r-3" {
		t.Fatalf("StartingRequests at the start = %+v %v", got, err)
	}
	later.GrantID = "g-9"
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.UpdateRequest(later) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.StartingRequests(ctx, t0.Add(time.Hour), 10); len(got) != 0 {
		t.Fatalf("StartingRequests once the grant is made = %+v", got)
	}
}

func testTokenLifetime(t *testing.T, s store.Store) {
	ctx := context.Background()
	tok := store.Token{ID: "t1", Name: "alice", Role: "requester", Kind: store.TokenPerson, SecretHash: "h", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertToken(tok) }); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Token(ctx, "t1"); err != nil || !reflect.DeepEqual(got, tok) {
		t.Fatalf("Token = %+v, %v", got, err)
	}
	for range 2 { // idempotent
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.RevokeToken("t1", t0.Add(time.Minute)) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.RevokeToken("t-none", t0) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoking an unknown token: %v", err)
	}
	ts, err := s.Tokens(ctx)
	if err != nil || len(ts) != 1 || !ts[0].RevokedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Tokens = %+v, %v", ts, err)
	}
}

// GrantRequests finds the request that made each grant, with its
// decisions in order, over more grants than one lookup names; requests that
// only extended a grant, and grants no request made, are not in it.
func testGrantRequests(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 1_203
	var ids []string
	made := 0
	err := s.Update(ctx, func(tx store.Tx) error {
		for i := range n {
			r := store.Request{ID: fmt.Sprintf("r-%04d", i), Requester: "alice", Directory: "corp", Group: "db", Duration: time.Hour, Reason: "deploy",
				State: store.RequestApproved, Steps: []store.ApprovalStep{}, GrantID: fmt.Sprintf("g-%04d", i), CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
			ids = append(ids, r.GrantID)
			if i%100 == 7 {
				r.GrantID = "" // denied, say: no grant
			} else {
				made++
			}
			if err := tx.InsertRequest(r); err != nil {
				return err
			}
			for k, who := range []string{"carol", "bob"} {
				if err := tx.InsertApproval(store.Approval{RequestID: r.ID, Approver: who, Step: k, Decision: "approve", At: t0.Add(time.Duration(k+1) * time.Minute)}); err != nil {
					return err
				}
			}
		}
		ext := store.Request{ID: "r-ext", Requester: "alice", Directory: "corp", Group: "db", Duration: time.Hour, Reason: "more time",
			State: store.RequestApproved, Steps: []store.ApprovalStep{}, GrantID: "g-0001", Extends: "g-0001", CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		return tx.InsertRequest(ext)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GrantRequests(ctx, append(ids, "g-none"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != made {
		t.Fatalf("%d grants found their request, want %d", len(got), made)
	}
	r, ok := got["g-1200"]
	if !ok || r.ID != "r-1200" || len(r.Approvals) != 2 || r.Approvals[0].Approver != "carol" || r.Approvals[1].Approver != "bob" {
		t.Fatalf("g-1200: %+v", r)
	}
	if r := got["g-0001"]; r.ID != "r-0001" {
		t.Fatalf("g-0001's request is %s, want the one that made it, not the extension", r.ID)
	}
	if _, ok := got["g-0107"]; ok {
		t.Fatal("a request without a grant was found for its would-be grant")
	}
	if none, err := s.GrantRequests(ctx, nil); err != nil || len(none) != 0 {
		t.Fatalf("no grants: %v %v", none, err)
	}
}
