package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/core/auth"
)

func TestOnboarding_InviteSubmitApproveAndCollectOverTheAPI(t *testing.T) {
	e := newEnv(t)
	v, hc := validated(t)
	ctx := context.Background()
	admin := apiclient.New(e.srv.URL, e.tokens[auth.RoleAdmin], hc)
	if _, err := admin.SyncRun(ctx, api.SyncRunRequest{}); err != nil {
		t.Fatal(err)
	}
	bob := apiclient.New(e.srv.URL, e.tokens["bob"], hc)
	contractor := apiclient.New(e.srv.URL, "", hc) // no sign-in: the link is the right

	if _, err := bob.CreateInvite(ctx, api.CreateInviteRequest{Sponsor: "alice", Until: e.clock.Now().Add(24 * time.Hour)}); status(err) != http.StatusForbidden {
		t.Fatalf("bob sponsoring for alice: %v; want 403", err)
	}
	inv, err := bob.CreateInvite(ctx, api.CreateInviteRequest{Until: e.clock.Now().Add(30 * 24 * time.Hour), Groups: []string{"prod-db-admins"}, Valid: "3d", Note: "DB vendor"})
	if err != nil || inv.Invite.Sponsor != "bob" || inv.Token == "" || !strings.HasSuffix(inv.Path, inv.Token) || inv.Invite.State != "open" {
		t.Fatalf("invite: %+v %v", inv, err)
	}
	if o, err := contractor.Onboarding(ctx, inv.Token); err != nil || o.Sponsor != "bob" || o.State != "open" || o.Request != nil {
		t.Fatalf("onboarding view: %+v %v", o, err)
	}
	form := api.SubmitOnboardingRequest{GivenName: "Zoë", Surname: "O'Neil", Email: "zoe@vendor.example", Company: "Vendor Ltd",
		Until: e.clock.Now().Add(3 * time.Hour), Groups: []string{"prod-db-admins"}, Reason: "schema migration"}
	bad := form
	bad.Email = "not an address"
	if _, err := contractor.SubmitOnboarding(ctx, inv.Token, bad); status(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "not an address") {
		t.Fatalf("bad email: %v", err)
	}
	o, err := contractor.SubmitOnboarding(ctx, inv.Token, form)
	if err != nil || o.State != "used" || o.Request == nil || o.Request.State != "pending" || o.Request.Login != "c-zoe.oneil" {
		t.Fatalf("submit: %+v %v", o, err)
	}
	if _, err := contractor.SubmitOnboarding(ctx, inv.Token, form); status(err) != http.StatusGone {
		t.Fatalf("second use: %v; want 410", err)
	}
	if _, err := contractor.OnboardingPassword(ctx, inv.Token); status(err) != http.StatusGone {
		t.Fatalf("password before approval: %v; want 410", err)
	}
	pending, err := bob.ListRequests(ctx, apiclient.RequestFilter{PendingMyApproval: true})
	if err != nil || len(pending) != 1 || pending[0].Onboarding == nil || pending[0].Onboarding.Company != "Vendor Ltd" {
		t.Fatalf("bob's queue: %+v %v", pending, err)
	}
	r, err := bob.Approve(ctx, pending[0].ID, "known vendor")
	if err != nil || r.State != "approved" || r.AccountID == "" {
		t.Fatalf("approve: %+v %v", r, err)
	}
	if got, err := bob.Request(ctx, r.ID); err != nil || got.AccountID != r.AccountID {
		t.Fatalf("the sponsor follows the request after approval: %+v %v", got, err)
	}
	if a, err := admin.Account(ctx, r.AccountID); err != nil || a.Login != "c-zoe.oneil" || a.State != "active" || a.Sponsor != "bob" {
		t.Fatalf("account: %+v %v", a, err)
	}
	if gs, err := admin.ListGrants(ctx, apiclient.GrantFilter{User: "c-zoe.oneil", States: []string{"active"}}); err != nil || len(gs) != 1 {
		t.Fatalf("grants: %+v %v", gs, err)
	}
	if o, _ := contractor.Onboarding(ctx, inv.Token); o.Request == nil || o.Request.State != "approved" {
		t.Fatalf("after approval: %+v", o)
	}
	pw, err := contractor.OnboardingPassword(ctx, inv.Token)
	if err != nil || pw.Login != "c-zoe.oneil" || len(pw.Password) < 12 {
		t.Fatalf("password: %+v %v", pw, err)
	}
	if _, err := contractor.OnboardingPassword(ctx, inv.Token); status(err) != http.StatusGone {
		t.Fatalf("second fetch: %v; want 410", err)
	}
	// A wrong secret for a real invite reads exactly like an unknown invite.
	_, errWrong := contractor.Onboarding(ctx, inv.Invite.ID+".AAAA")
	_, errNone := contractor.Onboarding(ctx, "i0000000000000000.AAAA")
	if status(errWrong) != http.StatusNotFound || errWrong.Error() != errNone.Error() {
		t.Fatalf("wrong secret: %v; unknown invite: %v", errWrong, errNone)
	}
	if _, err := bob.RevokeInvite(ctx, inv.Invite.ID, "too late"); status(err) != http.StatusGone {
		t.Fatalf("revoking a used invite: %v; want 410", err)
	}
	e.clock.Advance(time.Minute)
	other, _ := admin.CreateInvite(ctx, api.CreateInviteRequest{Sponsor: "bob", Until: e.clock.Now().Add(24 * time.Hour)})
	if _, err := admin.RevokeInvite(ctx, other.Invite.ID, "wrong vendor"); err != nil {
		t.Fatal(err)
	}
	if list, err := bob.Invites(ctx, ""); err != nil || len(list) != 2 || list[0].State != "revoked" || list[1].State != "used" {
		t.Fatalf("bob's invites: %+v %v", list, err)
	}
	v.exercised("POST /api/v1/invites 201", "POST /api/v1/invites 403", "GET /api/v1/invites 200", "POST /api/v1/invites/{id}/revoke 200",
		"POST /api/v1/invites/{id}/revoke 410", "GET /api/v1/onboarding/{token} 200", "GET /api/v1/onboarding/{token} 404",
		"POST /api/v1/onboarding/{token} 201", "POST /api/v1/onboarding/{token} 400", "POST /api/v1/onboarding/{token} 410",
		"POST /api/v1/onboarding/{token}/password 200", "POST /api/v1/onboarding/{token}/password 410")
}

func TestOnboarding_OneAddressCannotHammerTheOpenRoutes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	anon := apiclient.New(e.srv.URL, "", nil)
	for i := range 20 {
		if _, err := anon.Onboarding(ctx, "i0000000000000000.guess"); status(err) != http.StatusNotFound {
			t.Fatalf("call %d: %v; want 404 within the burst", i, err)
		}
	}
	resp, err := http.Get(e.srv.URL + "/api/v1/onboarding/i0000000000000000.guess")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("21st call: %d, Retry-After %q; want 429 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	e.clock.Advance(2 * time.Second) // the bucket refills with time
	if _, err := anon.Onboarding(ctx, "i0000000000000000.guess"); status(err) != http.StatusNotFound {
		t.Fatalf("after waiting: %v", err)
	}
}
