package invite_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/core/account"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/expiry"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/invite"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/need"
	"github.com/jitd/jitd/fixtures/slapd"
	"github.com/jitd/jitd/sync/mirror"
)

var (
	srv      *slapd.Server
	startErr error
)

func TestMain(m *testing.M) {
	os.Exit(need.Run(m, need.Fixture{Name: "slapd", Err: &startErr,
		Start: func() (err error) { srv, err = slapd.Start(slapd.Options{}); return err }, Stop: func() { srv.Stop() }}))
}

func ldapConfig(t *testing.T) ldap.Config {
	slapd.Need(t, srv, startErr)
	return ldap.Config{URL: srv.LDAPSURL, CAFile: srv.CAFile, BindDN: slapd.ServiceDN, BindPasswordFile: filepath.Join(srv.PasswordDir, "service"),
		UserBase: slapd.PeopleBase, GroupBase: slapd.GroupBase, EmptyMember: slapd.EmptyMember,
		DisabledAttr: "pwdAccountLockedTime", Accounts: &ldap.AccountsConfig{Base: slapd.ContractorBase}}
}

// A contractor onboards through an invite into real OpenLDAP: the account
// can sign in with the password handed out through the link and is in its
// group; at the contract's end it can no longer sign in and is in no group.
func TestInvite_OnboardingIntoOpenLDAP(t *testing.T) {
	ctx := context.Background()
	cfg := ldapConfig(t)
	if err := srv.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := ldap.New(cfg)
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
	log := slog.New(slog.DiscardHandler)
	dirs := grant.Directories{"corp": {Name: "corp", Conn: conn, Groups: map[string]grant.GroupPolicy{"prod-db-admins": {}}}}
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
	if _, err := mirror.New(mirror.Config{}, st, map[string]mirror.Source{"corp": {Conn: conn}}, clk, log, nil).Sync(ctx, "corp", true); err != nil {
		t.Fatal(err)
	}

	c, err := inv.Create(ctx, invite.CreateRequest{Sponsor: "bob", Until: clk.Now().Add(30 * 24 * time.Hour), Groups: []string{"prod-db-admins"}, Actor: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := inv.Submit(ctx, c.Token, invite.Submission{GivenName: "Ann", Surname: "Lee", Email: "ann@vendor.example", Company: "Vendor",
		Until: clk.Now().Add(14 * 24 * time.Hour), Groups: []string{"prod-db-admins"}})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = reqs.Approve(ctx, r.ID, "bob", "known vendor"); err != nil || r.State != store.RequestApproved || r.Detail != "" {
		t.Fatalf("approve: %+v %v", r, err)
	}
	login, pw, err := inv.Password(ctx, c.Token)
	if err != nil {
		t.Fatal(err)
	}
	dn := "uid=" + login + "," + slapd.ContractorBase
	if err := bind(t, dn, pw); err != nil {
		t.Fatalf("the contractor cannot sign in: %v", err)
	}
	u, _ := conn.LookupUser(ctx, login)
	g, _ := conn.LookupGroup(ctx, "prod-db-admins")
	if in, err := conn.IsMember(ctx, g.ID, u.ID); err != nil || !in {
		t.Fatalf("not in prod-db-admins: %v %v", in, err)
	}
	a, _ := st.Account(ctx, r.AccountID)
	clk.Set(a.EndsAt)
	if _, err := accts.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sched.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bind(t, dn, pw); err == nil {
		t.Fatal("the account still signs in after the contract's end")
	}
	if in, err := conn.IsMember(ctx, g.ID, u.ID); err != nil || in {
		t.Fatalf("still in prod-db-admins after the end: %v %v", in, err)
	}
}

func bind(t *testing.T, dn, password string) error {
	cfg := ldapConfig(t)
	p := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(p, []byte(password), 0o600)
	cfg.BindDN, cfg.BindPasswordFile, cfg.Accounts, cfg.DisabledAttr = dn, p, nil, ""
	c, err := ldap.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Check(context.Background())
}
