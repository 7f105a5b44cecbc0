package ldap_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/builtin"
	"github.com/jitd/jitd/connectors/connectortest"
	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/fixtures/need"
	"github.com/jitd/jitd/fixtures/orphans"
	"github.com/jitd/jitd/fixtures/samba"
	"github.com/jitd/jitd/fixtures/slapd"
	"github.com/jitd/jitd/plugins"
)

var (
	srv      *slapd.Server
	startErr error
	dc       *samba.Server
	dcErr    error
)

// TestMain starts slapd and a Samba AD DC side by side. The test binary also
// serves as the plugin child for the through-the-plugin suites.
func TestMain(m *testing.M) {
	if kind := os.Getenv("JITD_TEST_PLUGIN"); kind != "" {
		plugins.Serve(func(dir string, settings []byte) (connectors.Connector, error) {
			return builtin.Open(kind, dir, settings)
		})
		os.Exit(0)
	}
	os.Exit(orphans.Verify(need.Run(m,
		need.Fixture{Name: "slapd", Err: &startErr, Start: func() (err error) { srv, err = slapd.Start(slapd.Options{}); return err }, Stop: func() { srv.Stop() }},
		need.Fixture{Name: "samba", Err: &dcErr, Start: func() (err error) { dc, err = samba.Start(samba.Options{BigGroup: 3000}); return err }, Stop: func() { dc.Stop() }},
	), ""))
}

// Config returns a working configuration against the test server.
func config(t *testing.T) ldap.Config {
	t.Helper()
	slapd.Need(t, srv, startErr)
	return ldap.Config{
		URL: srv.LDAPSURL, CAFile: srv.CAFile,
		BindDN: slapd.ServiceDN, BindPasswordFile: filepath.Join(srv.PasswordDir, "service"),
		UserBase: slapd.PeopleBase, GroupBase: slapd.GroupBase, EmptyMember: slapd.EmptyMember,
		DisabledAttr: "pwdAccountLockedTime",
		Provisioning: &ldap.ProvisioningConfig{UserBase: slapd.ProvisionedPeople, GroupBase: slapd.ProvisionedGroups},
	}
}

func open(t *testing.T, cfg ldap.Config) *ldap.Conn {
	t.Helper()
	c, err := ldap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func fixture(t *testing.T, cfg ldap.Config) connectortest.Fixture {
	if err := srv.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	return connectortest.Fixture{Conn: open(t, cfg), Users: []string{"alice", "ann", "bob"}, Group: "prod-db-admins"}
}

func TestConformance_LDAPS(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture { return fixture(t, config(t)) })
}

func TestConformance_StartTLS(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		cfg := config(t)
		cfg.URL, cfg.StartTLS = srv.LDAPURL, true
		return fixture(t, cfg)
	})
}

func TestGroupNameWithFilterAndDNSpecials(t *testing.T) {
	f := fixture(t, config(t))
	res, _ := connectors.AsResolver(f.Conn)
	g, err := res.LookupGroup(context.Background(), "ops+db (prod)")
	if err != nil {
		t.Fatalf("group whose name needs escaping: %v", err)
	}
	u, _ := res.LookupUser(context.Background(), "ann") // DN: cn=Lee\, Ann \2B Co,...
	mm, _ := connectors.AsMembershipManager(f.Conn)
	if rs, err := mm.AddMembers(context.Background(), g.ID, []string{u.ID}); err != nil || rs[0].Err != nil {
		t.Fatalf("add: %v %+v", err, rs)
	}
	if ok, err := mm.IsMember(context.Background(), g.ID, u.ID); !ok || err != nil {
		t.Fatalf("IsMember = %v, %v", ok, err)
	}
	if rs, err := mm.RemoveMembers(context.Background(), g.ID, []string{u.ID}); err != nil || rs[0].Err != nil {
		t.Fatalf("remove: %v %+v", err, rs)
	}
}

func TestUsersCarryTheirManagerAndMappedAttributes(t *testing.T) {
	f := fixture(t, config(t))
	res, _ := connectors.AsResolver(f.Conn)
	ctx := context.Background()
	alice, err := res.LookupUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := res.LookupUser(ctx, "bob")
	carol, _ := res.LookupUser(ctx, "carol")
	if alice.Manager != bob.Ref || carol.Manager != alice.Ref || bob.Manager != "" {
		t.Fatalf("managers: alice %q (bob is %q), carol %q, bob %q", alice.Manager, bob.Ref, carol.Manager, bob.Manager)
	}
	if alice.Attributes["department"] != "payments" || alice.Attributes["title"] != "Engineer" || len(carol.Attributes) != 0 {
		t.Fatalf("attributes: alice %v, carol %v", alice.Attributes, carol.Attributes)
	}
	// The same through a full listing, which is what the mirror stores.
	lister, _ := connectors.AsLister(f.Conn)
	err = lister.ListUsers(ctx, func(u connectors.User) error {
		if u.Login == "carol" && u.Manager != alice.Ref {
			t.Errorf("listed carol's manager %q", u.Manager)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTLSIsRequiredUnlessInsecure(t *testing.T) {
	cfg := config(t)
	cfg.URL = srv.LDAPURL
	if _, err := ldap.New(cfg); err == nil || !strings.Contains(err.Error(), "insecure: true") {
		t.Fatalf("plain ldap:// without insecure: %v; want a refusal that names insecure: true", err)
	}
	cfg.Insecure = true
	c := open(t, cfg)
	if err := c.Check(context.Background()); err != nil {
		t.Fatalf("plain LDAP with insecure: true: %v", err)
	}
}

func TestCertificateFromAnUnknownCAIsRefused(t *testing.T) {
	cfg := config(t)
	cfg.CAFile = ""
	err := open(t, cfg).Check(context.Background())
	if err == nil || !errors.Is(err, connectors.ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("server certificate from an untrusted CA: %v", err)
	}
}

func TestWrongPasswordIsPermissionError(t *testing.T) {
	cfg := config(t)
	p := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(p, []byte("wrong"), 0o600)
	cfg.BindPasswordFile = p
	if err := open(t, cfg).Check(context.Background()); !errors.Is(err, connectors.ErrPermission) {
		t.Fatalf("bad password: %v, want ErrPermission", err)
	}
	if strings.Contains(errString(open(t, cfg).Check(context.Background())), "wrong") {
		t.Fatal("the password appears in the error")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestPasswordFromEnvironment(t *testing.T) {
	cfg := config(t)
	cfg.BindPasswordFile, cfg.BindPasswordEnv = "", "JITD_TEST_LDAP_PW"
	t.Setenv("JITD_TEST_LDAP_PW", slapd.ServicePassword)
	if err := open(t, cfg).Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRemovingLastMemberWithoutPlaceholderIsAClearError(t *testing.T) {
	cfg := config(t)
	f := fixture(t, cfg)
	// Make the group hold only alice, no placeholder.
	admin, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	res, _ := connectors.AsResolver(f.Conn)
	u, _ := res.LookupUser(context.Background(), "alice")
	g, _ := res.LookupGroup(context.Background(), "scratch")
	req := goldap.NewModifyRequest("cn=scratch,"+slapd.GroupBase, nil)
	req.Replace("member", []string{u.DN})
	if err := admin.Modify(req); err != nil {
		t.Fatal(err)
	}
	cfg.EmptyMember = ""
	c := open(t, cfg)
	_, err = c.RemoveMembers(context.Background(), g.ID, []string{u.ID})
	if !errors.Is(err, connectors.ErrInvalid) || !strings.Contains(err.Error(), "empty_member") {
		t.Fatalf("removing the last member without a placeholder: %v", err)
	}
	if ok, _ := c.IsMember(context.Background(), g.ID, u.ID); !ok {
		t.Fatal("failed removal changed the group")
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	err := ldap.Config{URL: "http://x", BindDN: "not a dn", CAFile: "/nonexistent/ca.pem", UserFilter: "(broken"}.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"url:", "bind_dn:", "user_base:", "group_base:", "ca_file:", "bind_password_file:", "user_filter:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

// rename moves an entry to a new RDN (as an administrator would) and back at
// the end of the test.
func rename(t *testing.T, dn, newRDN, parent string) {
	t.Helper()
	admin, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	oldRDN := strings.SplitN(dn, ",", 2)[0]
	if err := admin.ModifyDN(goldap.NewModifyDNRequest(dn, newRDN, true, "")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, _ := srv.Dial()
		defer a.Close()
		if err := a.ModifyDN(goldap.NewModifyDNRequest(newRDN+","+parent, oldRDN, true, "")); err != nil {
			t.Errorf("rename back: %v", err)
		}
	})
}

// TestRemovalAfterRenameStillRemoves: ids are stable, DNs are not. After a
// user or a group is renamed, a removal must still take the membership away
// (never report success on the old DN while the member stays).
func TestRemovalAfterRenameStillRemoves(t *testing.T) {
	f := fixture(t, config(t))
	ctx := context.Background()
	res, _ := connectors.AsResolver(f.Conn)
	mm, _ := connectors.AsMembershipManager(f.Conn)
	u, _ := res.LookupUser(ctx, "dave")
	g, _ := res.LookupGroup(ctx, "payments-release")
	if rs, err := mm.AddMembers(ctx, g.ID, []string{u.ID}); err != nil || rs[0].Err != nil {
		t.Fatalf("add: %v %+v", err, rs)
	}
	rename(t, u.DN, "uid=dave-renamed", slapd.PeopleBase)
	rename(t, g.DN, "cn=payments-release-2", slapd.GroupBase)
	rs, err := mm.RemoveMembers(ctx, g.ID, []string{u.ID})
	if err != nil || rs[0].Err != nil {
		t.Fatalf("remove after rename: %v %+v", err, rs)
	}
	admin, _ := srv.Dial()
	defer admin.Close()
	ok, err := admin.Compare("cn=payments-release-2,"+slapd.GroupBase, "member", "uid=dave-renamed,"+slapd.PeopleBase)
	if err != nil || ok {
		t.Fatalf("renamed user still in the renamed group (compare=%v, %v)", ok, err)
	}
}

// TestConformance_PollingWithoutSyncrepl runs the suite against a server
// without syncprov: the feed polls modifyTimestamp.
func TestConformance_PollingWithoutSyncrepl(t *testing.T) {
	slapd.Need(t, srv, startErr)
	plain, err := slapd.Start(slapd.Options{NoSyncrepl: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Stop()
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		if err := plain.Reset(context.Background()); err != nil {
			t.Fatal(err)
		}
		cfg := config(t)
		cfg.URL, cfg.CAFile, cfg.BindPasswordFile = plain.LDAPSURL, plain.CAFile, filepath.Join(plain.PasswordDir, "service")
		return connectortest.Fixture{Conn: open(t, cfg), Users: []string{"alice", "ann", "bob"}, Group: "prod-db-admins"}
	})
}

func TestPolling_FullSyncIsDueToCatchDeletions(t *testing.T) {
	slapd.Need(t, srv, startErr)
	plain, err := slapd.Start(slapd.Options{NoSyncrepl: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Stop()
	cfg := config(t)
	cfg.URL, cfg.CAFile, cfg.BindPasswordFile = plain.LDAPSURL, plain.CAFile, filepath.Join(plain.PasswordDir, "service")
	cfg.PollFullEvery = time.Nanosecond
	c := open(t, cfg)
	cur, err := c.Changes(context.Background(), "", func(connectors.Change) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Changes(context.Background(), cur, func(connectors.Change) error { return nil }); !errors.Is(err, connectors.ErrCursorExpired) {
		t.Fatalf("poll past poll_full_every: %v, want ErrCursorExpired (a full sync catches deletions)", err)
	}
}

// TestMembership_OnlyEntriesInsideTheBasesCount: the group and its users
// are found by one search from the entry both bases are under; a group
// outside group_base or a user outside user_base must still be unknown,
// and users past the first hundred ids are resolved too.
func TestMembership_OnlyEntriesInsideTheBasesCount(t *testing.T) {
	f := fixture(t, config(t))
	ctx := context.Background()
	res, _ := connectors.AsResolver(f.Conn)
	g, err := res.LookupGroup(ctx, "prod-db-admins")
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := res.LookupUser(ctx, "alice")

	narrow := config(t)
	narrow.GroupBase = slapd.ProvisionedGroups
	mm, _ := connectors.AsMembershipManager(open(t, narrow))
	if _, err := mm.AddMembers(ctx, g.ID, []string{alice.ID}); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("group outside group_base: err = %v, want ErrNotFound", err)
	}

	narrow = config(t)
	narrow.UserBase = slapd.ProvisionedPeople
	mm, _ = connectors.AsMembershipManager(open(t, narrow))
	rs, err := mm.AddMembers(ctx, g.ID, []string{alice.ID})
	if err != nil || len(rs) != 1 || !errors.Is(rs[0].Err, connectors.ErrNotFound) {
		t.Fatalf("user outside user_base: %v %+v, want the user not found", err, rs)
	}

	// 150 ids, alice the 121st: she is in the second search.
	var ids []string
	for i := range 150 {
		ids = append(ids, fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}
	ids[120] = alice.ID
	mm, _ = connectors.AsMembershipManager(f.Conn)
	rs, err = mm.AddMembers(ctx, g.ID, ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if (i == 120) != (r.Err == nil) {
			t.Fatalf("result %d (%s): %v", i, r.UserID, r.Err)
		}
	}
	if ok, err := mm.IsMember(ctx, g.ID, alice.ID); !ok || err != nil {
		t.Fatalf("alice not added: %v %v", ok, err)
	}
}

func TestCommonBase(t *testing.T) {
	for _, c := range []struct{ a, b, want string }{
		{"ou=people,dc=example,dc=org", "ou=groups,dc=example,dc=org", "dc=example,dc=org"},
		{"OU=Users,DC=Corp,DC=local", "ou=groups,ou=users,dc=corp,dc=local", "ou=Users,dc=Corp,dc=local"},
		{"ou=people,dc=example,dc=org", "ou=people,dc=example,dc=com", ""},
		{"cn=a\\,b,dc=x", "cn=c,cn=a\\,b,dc=x", "cn=a\\,b,dc=x"},
	} {
		if got := ldap.CommonBase(c.a, c.b); got != c.want {
			t.Errorf("commonBase(%q, %q) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
}
