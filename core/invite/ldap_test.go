package invite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/fixtures/need"
	"github.com/jitd/jitd/fixtures/pipeline"
	"github.com/jitd/jitd/fixtures/slapd"
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
	pol, err := policy.Compile([]policy.Rule{{Name: "contractors", Match: `context.onboarding`}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := pipeline.New(t, "corp", conn, "prod-db-admins").Onboarding(pol)
	r, login, pw := o.Contractor("bob", "Ann", "Lee", "prod-db-admins")
	dn := "uid=" + login + "," + slapd.ContractorBase
	if err := bind(t, dn, pw); err != nil {
		t.Fatalf("the contractor cannot sign in: %v", err)
	}
	u, _ := conn.LookupUser(ctx, login)
	g, _ := conn.LookupGroup(ctx, "prod-db-admins")
	if in, err := conn.IsMember(ctx, g.ID, u.ID); err != nil || !in {
		t.Fatalf("not in prod-db-admins: %v %v", in, err)
	}
	o.End(r)
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
