package ldap_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/core/account"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/expiry"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/invite"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/samba"
	"github.com/jitd/jitd/plugins"
	"github.com/jitd/jitd/sync/mirror"
)

// A contractor onboards into Samba AD through an invite, with the directory
// behind the plugin as in the daemon: the sponsor approves, the account signs
// in with the password the link hands out and is in its group; at the
// contract's end it can no longer sign in and the membership is gone.
func TestAD_ContractorOnboardingThroughAnInvite(t *testing.T) {
	cfg := adConfig(t)
	resetDC(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	conn, err := plugins.Launch(ctx, plugins.Spec{Directory: "corp-ad", Settings: cfg, Command: func() *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "JITD_TEST_PLUGIN=ldap")
		return cmd
	}}, log, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Second))
	dirs := grant.Directories{"corp-ad": {Name: "corp-ad", Conn: conn, Groups: map[string]grant.GroupPolicy{"payments-release": {}}}}
	locks := &grant.Locks{}
	sched := expiry.New(expiry.Config{}, st, dirs, locks, clk, log, nil, nil)
	grants := grant.New(grant.Config{MinDuration: time.Minute, MaxDuration: 30 * 24 * time.Hour}, st, dirs, locks, clk, log, sched.Wake)
	accts := account.New(account.Config{}, st, dirs, grants, clk, log, nil)
	pol, err := policy.Compile([]policy.Rule{{Name: "contractors", Match: `context.onboarding`}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs := request.New(request.Config{}, st, pol, grants, clk, log)
	inv := invite.New(st, reqs, accts, grants, dirs, 90*24*time.Hour, clk, log)
	if _, err := mirror.New(mirror.Config{}, st, map[string]mirror.Source{"corp-ad": {Conn: conn}}, clk, log, nil).Sync(ctx, "corp-ad", true); err != nil {
		t.Fatal(err)
	}
	c, err := inv.Create(ctx, invite.CreateRequest{Sponsor: "bob", Until: clk.Now().Add(30 * 24 * time.Hour), Groups: []string{"payments-release"}, Actor: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := inv.Submit(ctx, c.Token, invite.Submission{GivenName: "Zoë", Surname: "Ray", Email: "zoe@vendor.example", Company: "Vendor",
		Until: clk.Now().Add(14 * 24 * time.Hour), Groups: []string{"payments-release"}})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = reqs.Approve(ctx, r.ID, "bob", ""); err != nil || r.State != store.RequestApproved || r.Detail != "" {
		t.Fatalf("approve: %+v %v", r, err)
	}
	login, pw, err := inv.Password(ctx, c.Token)
	if err != nil || login != "c-zoe.ray" {
		t.Fatalf("password: %q %v", login, err)
	}
	dn := "CN=" + login + "," + samba.ContractorsOU
	bind := func() error {
		l, err := goldap.DialURL(dc.LDAPSURL, goldap.DialWithTLSConfig(dc.TLSConfig()))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Bind(dn, pw)
	}
	if err := bind(); err != nil {
		t.Fatalf("the contractor cannot sign in: %v", err)
	}
	u, _ := conn.LookupUser(ctx, login)
	g, _ := conn.LookupGroup(ctx, "payments-release")
	if in, err := conn.IsMember(ctx, g.ID, u.ID); err != nil || !in {
		t.Fatalf("not in payments-release: %v %v", in, err)
	}
	a, _ := st.Account(ctx, r.AccountID)
	clk.Set(a.EndsAt)
	if _, err := accts.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sched.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bind(); err == nil {
		t.Fatal("the account still signs in after the contract's end")
	}
	if in, err := conn.IsMember(ctx, g.ID, u.ID); err != nil || in {
		t.Fatalf("still in payments-release after the end: %v %v", in, err)
	}
}
