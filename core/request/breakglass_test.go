package request

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/core/store"
)

func TestBreakGlass_GrantsAtOnceAnnouncesAndOpensAReviewOnlyOthersClose(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r, v, err := e.mgr.BreakGlass(ctx, CreateRequest{Requester: "carol", Directory: "demo", Group: "prod-db-admins", Duration: 20 * time.Minute, Reason: "SEV1 INC-9"})
	if err != nil {
		t.Fatal(err)
	}
	if r.State != store.RequestApproved || r.GrantID == "" || !r.BreakGlass || !e.member("carol", "prod-db-admins") {
		t.Fatalf("break-glass did not grant at once: %+v", r)
	}
	g, _ := e.store.Grant(ctx, r.GrantID)
	if got := g.ExpiresAt.Sub(e.clock.Now()); got != 20*time.Minute {
		t.Fatalf("grant lasts %s, want 20m", got)
	}
	if acts := e.actions(r.ID); !slices.Contains(acts, ActionBreakGlass) || !slices.Contains(acts, ActionApproved) {
		t.Fatalf("audit: %v", acts)
	}
	open, _ := e.mgr.Reviews(ctx, store.ReviewOpen)
	if len(open) != 1 || open[0].ID != v.ID || open[0].Subject != "carol" {
		t.Fatalf("open reviews: %+v", open)
	}
	if _, err := e.mgr.CloseReview(ctx, v.ID, "Carol", OutcomeJustified, "it was me"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("carol closed her own review: %v", err)
	}
	if _, err := e.mgr.CloseReview(ctx, v.ID, "bob", "fine", "ok"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown outcome: %v", err)
	}
	closed, err := e.mgr.CloseReview(ctx, v.ID, "bob", OutcomeJustified, "INC-9 postmortem")
	if err != nil || closed.State != store.ReviewClosed || closed.ClosedBy != "bob" {
		t.Fatalf("close: %+v %v", closed, err)
	}
	if _, err := e.mgr.CloseReview(ctx, v.ID, "alice", OutcomeUnjustified, "again"); !errors.Is(err, ErrConflict) {
		t.Fatalf("second close: %v", err)
	}
	if open, _ := e.mgr.Reviews(ctx, store.ReviewOpen); len(open) != 0 {
		t.Fatalf("still open: %+v", open)
	}
}

func TestBreakGlass_RefusesWhoWhatAndHowLongOutsideTheConfiguration(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		req  CreateRequest
		want error
		msg  string
	}{
		"not allowed":   {CreateRequest{Requester: "alice", Directory: "demo", Group: "prod-db-admins", Duration: 10 * time.Minute, Reason: "x"}, ErrForbidden, "may not use break-glass"},
		"too long":      {CreateRequest{Requester: "carol", Directory: "demo", Group: "prod-db-admins", Duration: time.Hour, Reason: "x"}, ErrInvalid, "at most 30m"},
		"other group":   {CreateRequest{Requester: "carol", Directory: "demo", Group: "payments-release", Duration: 10 * time.Minute, Reason: "x"}, ErrInvalid, "cannot grant payments-release"},
		"no reason":     {CreateRequest{Requester: "carol", Directory: "demo", Group: "prod-db-admins", Duration: 10 * time.Minute}, ErrInvalid, "reason"},
		"unknown login": {CreateRequest{Requester: "mallory", Directory: "demo", Group: "prod-db-admins", Duration: 10 * time.Minute, Reason: "x"}, ErrInvalid, "mallory"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := e.mgr.BreakGlass(ctx, tc.req)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
		})
	}
	if e.member("carol", "prod-db-admins") || e.member("alice", "prod-db-admins") {
		t.Fatal("a refused break-glass granted something")
	}
	if rs, _ := e.store.Requests(ctx, store.RequestFilter{}); len(rs) != 0 {
		t.Fatalf("refused break-glass recorded %d requests", len(rs))
	}
}

func TestExtension_GoesThroughPolicyAndMovesTheSameGrant(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r, err := e.ask("alice", "payments-release", 2*time.Hour) // auto-approved by rule "pay"
	if err != nil || r.State != store.RequestApproved {
		t.Fatalf("%+v %v", r, err)
	}
	before, _ := e.store.Grant(ctx, r.GrantID)
	if _, err := e.mgr.Create(ctx, CreateRequest{Requester: "bob", Extends: r.GrantID, Duration: time.Hour, Reason: "more"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("bob extended alice's grant: %v", err)
	}
	x, err := e.mgr.Create(ctx, CreateRequest{Requester: "alice", Extends: r.GrantID, Duration: time.Hour, Reason: "more"})
	if err != nil || x.State != store.RequestApproved || x.GrantID != r.GrantID || x.Group != "payments-release" {
		t.Fatalf("extension: %+v %v", x, err)
	}
	after, _ := e.store.Grant(ctx, r.GrantID)
	if after.ExpiresAt.Sub(before.ExpiresAt) != time.Hour {
		t.Fatalf("end moved by %s, want 1h", after.ExpiresAt.Sub(before.ExpiresAt))
	}
	if gs, _ := e.store.Grants(ctx, store.GrantFilter{UserName: "alice"}); len(gs) != 1 {
		t.Fatalf("an extension made a second grant: %d", len(gs))
	}
	// Policy decides an extension like a request: prod-db-admins needs bob.
	p, err := e.ask("alice", "prod-db-admins", 5*time.Minute) // auto-approved (short)
	if err != nil || p.State != store.RequestApproved {
		t.Fatalf("%+v %v", p, err)
	}
	px, err := e.mgr.Create(ctx, CreateRequest{Requester: "alice", Extends: p.GrantID, Duration: 2 * time.Hour, Reason: "longer"})
	if err != nil || px.State != store.RequestPending || len(px.Steps) != 2 {
		t.Fatalf("an extension skipped its approvals: %+v %v", px, err)
	}
	if _, err := e.mgr.Create(ctx, CreateRequest{Requester: "alice", Extends: p.GrantID, Duration: 5 * time.Hour, Reason: "too long"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an extension over the rule's maximum: %v", err)
	}
}
