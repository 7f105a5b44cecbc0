package invite_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors/demo"
	"github.com/jitd/jitd/core/account"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/expiry"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/invite"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/sync/mirror"
)

var start = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

type env struct {
	t        *testing.T
	ctx      context.Context
	clock    *clock.Fake
	store    *sqlite.Store
	dbPath   string
	conn     *demo.Conn
	invites  *invite.Manager
	requests *request.Manager
	accounts *account.Manager
	sched    *expiry.Scheduler
}

// newEnv runs invites on the demo directory (alice, bob, carol; dave is
// disabled). Policy: contractors get prod-db-admins with carol's approval
// too, unless they work for Evil Corp; payments-release is granted for at
// most 8h, so no contract fits it.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clock: clock.NewFake(start), dbPath: filepath.Join(t.TempDir(), "jitd.db")}
	var err error
	e.conn, err = demo.New(demo.Config{File: filepath.Join(t.TempDir(), "dir.json"), Seed: "../../fixtures/demo/directory.json"})
	if err != nil {
		t.Fatal(err)
	}
	if e.store, err = sqlite.Open(e.ctx, e.dbPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	log := slog.New(slog.DiscardHandler)
	dirs := directories.Set{"corp": {Name: "corp", Conn: e.conn, Groups: map[string]directories.GroupPolicy{
		"prod-db-admins": {}, "payments-release": {MaxDuration: 8 * time.Hour}, "staff": {}}}}
	reg := directories.NewRegistry(dirs, 0)
	e.sched = expiry.New(expiry.Config{}, e.store, reg, e.clock, log, nil, nil)
	grants := grant.New(grant.Config{MinDuration: time.Minute, MaxDuration: 90 * 24 * time.Hour}, e.store, reg, e.clock, log, e.sched.Wake)
	e.accounts = account.New(account.Config{MaxDuration: 60 * 24 * time.Hour}, e.store, reg, grants, e.clock, log, nil)
	pol, err := policy.Compile([]policy.Rule{
		{Name: "contractor-db", Match: `context.onboarding && request.group == "prod-db-admins"`,
			Eligible: `requester.attributes["company"] != "Evil Corp"`, Approvals: []policy.Step{{Any: 1, Users: []string{"carol"}}}},
		{Name: "contractor-staff", Match: `context.onboarding && request.group == "staff"`, AutoApprove: `true`},
	}, []policy.Separation{{Name: "no-db-and-release", Groups: []string{"prod-db-admins", "payments-release"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.requests = request.New(request.Config{}, e.store, pol, grants, e.clock, log)
	e.invites = invite.New(e.store, e.requests, e.accounts, grants, dirs, 60*24*time.Hour, e.clock, log)
	e.requests.Onboarder = e.invites
	mir := mirror.New(mirror.Config{}, e.store, map[string]mirror.Source{"corp": {Conn: e.conn}}, e.clock, log, nil)
	if _, err := mir.Sync(e.ctx, "corp", true); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) invite(groups ...string) invite.Created {
	e.t.Helper()
	c, err := e.invites.Create(e.ctx, invite.CreateRequest{Sponsor: "bob", Until: start.Add(30 * 24 * time.Hour), Groups: groups, Actor: "bob"})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func zoe(groups ...string) invite.Submission {
	return invite.Submission{GivenName: "Zoë", Surname: "O'Neil", Email: "zoe@vendor.example", Company: "Vendor Ltd",
		Until: start.Add(14 * 24 * time.Hour), Groups: groups, Reason: "database migration"}
}

func (e *env) member(group, login string) bool {
	e.t.Helper()
	u, err := e.conn.LookupUser(e.ctx, login)
	if err != nil {
		e.t.Fatal(err)
	}
	g, err := e.conn.LookupGroup(e.ctx, group)
	if err != nil {
		e.t.Fatal(err)
	}
	in, err := e.conn.IsMember(e.ctx, g.ID, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

func TestInvite_SponsorAndPolicyApproveThenAccountAndGroupsEndTogether(t *testing.T) {
	e := newEnv(t)
	inv := e.invite("prod-db-admins", "staff")
	if v, err := e.invites.Show(e.ctx, inv.Token); err != nil || v.State != "open" || v.Invite.Sponsor != "bob" {
		t.Fatalf("show: %+v %v", v, err)
	}
	r, err := e.invites.Submit(e.ctx, inv.Token, zoe("prod-db-admins", "staff"))
	if err != nil {
		t.Fatal(err)
	}
	// The sponsor first, then carol for prod-db-admins; staff is automatic.
	if r.State != store.RequestPending || r.Requester != "c-zoe.oneil" || len(r.Steps) != 2 || r.Steps[0].Users[0] != "bob" || r.Steps[1].Users[0] != "carol" {
		t.Fatalf("request %+v", r)
	}
	if _, err := e.invites.Submit(e.ctx, inv.Token, zoe("staff")); !errors.Is(err, invite.ErrGone) {
		t.Fatalf("second use: %v; want ErrGone (single use)", err)
	}
	if _, _, err := e.invites.Password(e.ctx, inv.Token); !errors.Is(err, invite.ErrGone) {
		t.Fatalf("password before approval: %v", err)
	}
	if _, err := e.requests.Approve(e.ctx, r.ID, "carol", ""); !errors.Is(err, request.ErrForbidden) {
		t.Fatalf("carol before the sponsor: %v", err)
	}
	if _, err := e.requests.Approve(e.ctx, r.ID, "bob", "known vendor"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.conn.LookupUser(e.ctx, "c-zoe.oneil"); err == nil {
		t.Fatal("the account exists before the last approval")
	}
	r, err = e.requests.Approve(e.ctx, r.ID, "carol", "")
	if err != nil || r.State != store.RequestApproved || r.AccountID == "" {
		t.Fatalf("approved: %+v %v", r, err)
	}
	a, err := e.store.Account(e.ctx, r.AccountID)
	if err != nil || a.State != store.AccountActive || a.Sponsor != "bob" || !a.EndsAt.Equal(start.Add(14*24*time.Hour)) || a.Email != "zoe@vendor.example" {
		t.Fatalf("account %+v %v", a, err)
	}
	for _, g := range []string{"prod-db-admins", "staff"} {
		if !e.member(g, "c-zoe.oneil") {
			t.Fatalf("not a member of %s", g)
		}
	}
	gs, _ := e.store.Grants(e.ctx, store.GrantFilter{States: grant.LiveStates})
	for _, g := range gs {
		if !g.ExpiresAt.Equal(a.EndsAt) {
			t.Fatalf("grant %s ends %s, the account %s", g.ID, g.ExpiresAt, a.EndsAt)
		}
	}
	// The password waits for the link's holder only, sealed, and only once.
	raw, _ := os.ReadFile(e.dbPath)
	wal, _ := os.ReadFile(e.dbPath + "-wal")
	login, pw, err := e.invites.Password(e.ctx, inv.Token)
	if err != nil || login != "c-zoe.oneil" || pw == "" {
		t.Fatalf("password: %q %q %v", login, pw, err)
	}
	if bytes.Contains(raw, []byte(pw)) || bytes.Contains(wal, []byte(pw)) {
		t.Fatal("the initial password is readable in the database")
	}
	if _, _, err := e.invites.Password(e.ctx, inv.Token); !errors.Is(err, invite.ErrGone) {
		t.Fatalf("second fetch: %v", err)
	}
	if _, _, err := e.invites.Password(e.ctx, inv.Invite.ID+".wrong-secret"); !errors.Is(err, invite.ErrNotFound) {
		t.Fatalf("wrong secret: %v", err)
	}
	// At the end of the contract the account is disabled and every
	// membership is gone with it.
	e.clock.Set(a.EndsAt)
	if _, err := e.accounts.RunOnce(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sched.RunOnce(e.ctx); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.conn.LookupUser(e.ctx, "c-zoe.oneil"); u.Enabled {
		t.Fatal("the account is still enabled after its end")
	}
	for _, g := range []string{"prod-db-admins", "staff"} {
		if e.member(g, "c-zoe.oneil") {
			t.Fatalf("still a member of %s after the end", g)
		}
	}
}

func TestInvite_BadSubmissionsChangeNothing(t *testing.T) {
	e := newEnv(t)
	inv := e.invite("prod-db-admins", "payments-release")
	mod := func(f func(*invite.Submission)) invite.Submission { s := zoe("prod-db-admins"); f(&s); return s }
	cases := map[string]struct {
		s    invite.Submission
		says string
	}{
		"no name":         {mod(func(s *invite.Submission) { s.GivenName = " " }), "given_name is required"},
		"bad email":       {mod(func(s *invite.Submission) { s.Email = "Zoe <zoe@vendor.example>" }), "not an address"},
		"control chars":   {mod(func(s *invite.Submission) { s.Company = "Vendor\nLtd" }), "control characters"},
		"past end":        {mod(func(s *invite.Submission) { s.Until = start.Add(-time.Hour) }), "in the future"},
		"beyond sponsor":  {mod(func(s *invite.Submission) { s.Until = start.Add(40 * 24 * time.Hour) }), "the latest your sponsor allows"},
		"not offered":     {mod(func(s *invite.Submission) { s.Groups = []string{"staff"} }), `group "staff" is not one this invite offers`},
		"group too short": {mod(func(s *invite.Submission) { s.Groups = []string{"payments-release"} }), "at most 8h0m0s"},
		"policy refuses":  {mod(func(s *invite.Submission) { s.Company = "Evil Corp" }), "policy refuses prod-db-admins"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.invites.Submit(e.ctx, inv.Token, c.s)
			if !errors.Is(err, invite.ErrInvalid) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("err = %v; want ErrInvalid saying %q", err, c.says)
			}
		})
	}
	if v, _ := e.invites.Show(e.ctx, inv.Token); v.State != "open" || v.Request != nil {
		t.Fatalf("after refusals the invite is %s", v.State)
	}
	if rs, _ := e.store.Requests(e.ctx, store.RequestFilter{}); len(rs) != 0 {
		t.Fatalf("refusals recorded %d requests", len(rs))
	}
	if _, err := e.invites.Show(e.ctx, "nonsense"); !errors.Is(err, invite.ErrNotFound) {
		t.Fatalf("bad token: %v", err)
	}
	// A corrected submission still works.
	if _, err := e.invites.Submit(e.ctx, inv.Token, zoe("prod-db-admins")); err != nil {
		t.Fatal(err)
	}
}

func TestInvite_ExpiredRevokedOrDeniedInvitesMakeNoAccount(t *testing.T) {
	e := newEnv(t)
	expired, err := e.invites.Create(e.ctx, invite.CreateRequest{Sponsor: "bob", Until: start.Add(30 * 24 * time.Hour), Valid: time.Hour, Actor: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	revoked, denied := e.invite(), e.invite()
	if _, err := e.invites.Revoke(e.ctx, revoked.Invite.ID, "bob", "wrong person"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	for name, tok := range map[string]string{"expired": expired.Token, "revoked": revoked.Token} {
		if _, err := e.invites.Submit(e.ctx, tok, zoe()); !errors.Is(err, invite.ErrGone) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s invite: %v", name, err)
		}
	}
	r, err := e.invites.Submit(e.ctx, denied.Token, zoe())
	if err != nil || len(r.Steps) != 1 {
		t.Fatalf("account only: %+v %v", r, err)
	}
	if _, err := e.requests.Deny(e.ctx, r.ID, "bob", "not this one"); err != nil {
		t.Fatal(err)
	}
	if accts, _ := e.store.Accounts(e.ctx, store.AccountFilter{}); len(accts) != 0 {
		t.Fatalf("accounts after a denial: %+v", accts)
	}
	if _, _, err := e.invites.Password(e.ctx, denied.Token); !errors.Is(err, invite.ErrGone) {
		t.Fatalf("password after denial: %v", err)
	}
}

func TestInvite_CreateChecksSponsorEndAndGroups(t *testing.T) {
	e := newEnv(t)
	for name, c := range map[string]struct {
		req  invite.CreateRequest
		says string
	}{
		"unknown sponsor":  {invite.CreateRequest{Sponsor: "mallory", Until: start.Add(time.Hour)}, `no sponsor "mallory"`},
		"disabled sponsor": {invite.CreateRequest{Sponsor: "dave", Until: start.Add(time.Hour)}, `sponsor "dave" is disabled`},
		"no end":           {invite.CreateRequest{Sponsor: "bob"}, "until) is required"},
		"too long":         {invite.CreateRequest{Sponsor: "bob", Until: start.Add(90 * 24 * time.Hour)}, "maximum account lifetime"},
		"unmanaged group":  {invite.CreateRequest{Sponsor: "bob", Until: start.Add(time.Hour), Groups: []string{"domain-admins"}}, "not JIT-managed"},
		"link too long":    {invite.CreateRequest{Sponsor: "bob", Until: start.Add(time.Hour), Valid: 60 * 24 * time.Hour}, "must work for between"},
		"no directory":     {invite.CreateRequest{Directory: "nope", Sponsor: "bob", Until: start.Add(time.Hour)}, `no directory "nope"`},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := e.invites.Create(e.ctx, c.req); !errors.Is(err, invite.ErrInvalid) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("err = %v; want %q", err, c.says)
			}
		})
	}
	if vs, _ := e.invites.List(e.ctx, ""); len(vs) != 0 {
		t.Fatalf("%d invites made", len(vs))
	}
}

func TestInvite_LoginsAreUniqueAndPlain(t *testing.T) {
	e := newEnv(t)
	var logins []string
	for range 2 {
		inv := e.invite()
		s := zoe()
		s.GivenName, s.Surname = "Ann-Kathrin", "Müller-Lüdenscheidt"
		r, err := e.invites.Submit(e.ctx, inv.Token, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.requests.Approve(e.ctx, r.ID, "bob", ""); err != nil {
			t.Fatal(err)
		}
		logins = append(logins, r.Requester)
	}
	if logins[0] != "c-annkathrin.mulle" || logins[1] != "c-annkathrin.mulle2" {
		t.Fatalf("logins %q", logins)
	}
}

// jitd stopped during an approved onboarding, after the account was made and
// before its groups and the request's outcome were recorded: on start the
// same account gets its groups; no second account is made.
func TestInvite_OnboardingInterruptedAfterTheAccountIsFinishedOnStart(t *testing.T) {
	e := newEnv(t)
	inv := e.invite("prod-db-admins", "staff")
	r, err := e.invites.Submit(e.ctx, inv.Token, zoe("prod-db-admins", "staff"))
	if err != nil {
		t.Fatal(err)
	}
	// Both steps recorded, then the account made as Onboard makes it, then the stop.
	err = e.store.Update(e.ctx, func(tx store.Tx) error {
		for i, who := range []string{"bob", "carol"} {
			if err := tx.InsertApproval(store.Approval{RequestID: r.ID, Approver: who, Step: i, Decision: "approve", At: start}); err != nil {
				return err
			}
		}
		r.Step = 2
		return tx.UpdateRequest(r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.accounts.Create(e.ctx, account.CreateRequest{Login: r.Requester, Email: "zoe@vendor.example", Sponsor: "bob",
		Until: r.Onboarding.Until, Reason: r.Reason, Actor: "request:" + r.ID}); err != nil {
		t.Fatal(err)
	}
	if err := e.requests.Resume(e.ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := e.store.Request(e.ctx, r.ID)
	accts, _ := e.store.Accounts(e.ctx, store.AccountFilter{})
	if got.State != store.RequestApproved || len(accts) != 1 || got.AccountID != accts[0].ID {
		t.Fatalf("after resume: %+v, accounts %d", got, len(accts))
	}
	if !strings.Contains(got.Detail, "password was lost") {
		t.Errorf("detail %q does not say the password must be reset", got.Detail)
	}
	for _, g := range []string{"prod-db-admins", "staff"} {
		if !e.member(g, r.Requester) {
			t.Errorf("not a member of %s after resume", g)
		}
	}
}
