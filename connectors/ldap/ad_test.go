package ldap_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/connectortest"
	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/core/account"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/pipeline"
	"github.com/jitd/jitd/fixtures/samba"
	"github.com/jitd/jitd/plugins"
)

// adConfig is the AD flavour against the test DC, bound as the delegated
// service account (not the domain admin), over LDAPS.
func adConfig(t *testing.T) ldap.Config {
	t.Helper()
	samba.Need(t, dc, dcErr)
	return ldap.Config{
		Flavor: ldap.FlavorAD, URL: dc.LDAPSURL, CAFile: dc.CAFile,
		BindDN: samba.ServiceDN, BindPasswordFile: filepath.Join(dc.PasswordDir, "service"),
		UserBase: samba.PeopleOU, GroupBase: samba.GroupsOU,
		Accounts:     &ldap.AccountsConfig{Base: samba.ContractorsOU, UPNSuffix: "jitd.test"},
		Provisioning: &ldap.ProvisioningConfig{UserBase: samba.ProvisionedPeopleOU, GroupBase: samba.ProvisionedGroupsOU, UPNSuffix: "jitd.test"},
	}
}

func adFixture(t *testing.T, conn connectors.Connector) connectortest.Fixture {
	t.Helper()
	return connectortest.Fixture{Conn: conn, Users: []string{"alice", "ann", "bob"}, Group: "payments-release"}
}

func resetDC(t *testing.T) {
	t.Helper()
	if err := dc.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConformance_AD_LDAPS(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		cfg := adConfig(t)
		resetDC(t)
		return adFixture(t, open(t, cfg))
	})
}

func TestConformance_AD_StartTLS(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		cfg := adConfig(t)
		cfg.URL, cfg.StartTLS = dc.LDAPURL, true
		resetDC(t)
		return adFixture(t, open(t, cfg))
	})
}

func TestConformance_AD_ThroughPlugin(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		cfg := adConfig(t)
		resetDC(t)
		return adFixture(t, throughPlugin(t, "corp-ad", cfg, clock.Real{}))
	})
}

// adminModify changes the directory as the domain admin, behind jitd's back.
func adminModify(t *testing.T, dn string, change func(*goldap.ModifyRequest)) {
	t.Helper()
	l, err := dc.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	req := goldap.NewModifyRequest(dn, nil)
	change(req)
	if err := l.Modify(req); err != nil {
		t.Fatalf("modify %s: %v", dn, err)
	}
}

func TestAD_IdsAreObjectGUIDs(t *testing.T) {
	cfg := adConfig(t)
	resetDC(t)
	c := open(t, cfg)
	ctx := context.Background()
	u, err := c.LookupUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	byUPN, err := c.LookupUser(ctx, "alice@jitd.test")
	if err != nil || byUPN.ID != u.ID {
		t.Fatalf("lookup by userPrincipalName = %+v, %v; want the same user as by sAMAccountName (%s)", byUPN, err, u.ID)
	}
	l, err := dc.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// The GUID string must be the one AD tools print: search by it as
	// <GUID=...> and get alice back.
	res, err := l.Search(goldap.NewSearchRequest("<GUID="+u.ID+">", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"sAMAccountName"}, nil))
	if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("sAMAccountName") != "alice" {
		t.Fatalf("<GUID=%s> does not name alice: %v %v", u.ID, res, err)
	}
}

// Managers' DNs are translated a page at a time by searching on the DN:
// the DC answers that search for several users at once, whatever the
// case of the DNs asked.
func TestAD_UsersFoundByDNInOneSearch(t *testing.T) {
	cfg := adConfig(t)
	resetDC(t)
	c := open(t, cfg)
	ctx := context.Background()
	var dns, want []string
	for _, login := range []string{"alice", "ann", "bob"} { // ann's DN holds an escaped comma and plus
		u, err := c.LookupUser(ctx, login)
		if err != nil {
			t.Fatal(err)
		}
		dns = append(dns, strings.ToUpper(u.DN))
		want = append(want, u.ID)
	}
	found, err := c.UsersByDN(ctx, append(dns, "CN=nobody,"+samba.PeopleOU))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, id := range found {
		got = append(got, id)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("found %v, want the ids %v", found, want)
	}
}

func TestAD_RangedMembersOfALargeGroup(t *testing.T) {
	cfg := adConfig(t)
	cfg.UserBase, cfg.Provisioning = samba.BulkOU, nil
	c := open(t, cfg)
	ctx := context.Background()
	g, err := c.LookupGroup(ctx, samba.BigGroup)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := c.ListMembers(ctx, g.ID, func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3000 {
		t.Fatalf("ListMembers(big) = %d members, want 3000 (the server returns at most 1,500 values a range)", len(ids))
	}
	last, err := c.LookupUser(ctx, "big2999")
	if err != nil {
		t.Fatal(err)
	}
	// Removing a member beyond the first range re-reads every range.
	if rs, err := c.RemoveMembers(ctx, g.ID, []string{last.ID, last.ID}); err != nil || rs[0].Err != nil {
		t.Fatalf("remove: %v %+v", err, rs)
	}
	if ok, err := c.IsMember(ctx, g.ID, last.ID); ok || err != nil {
		t.Fatalf("after removal IsMember = %v, %v", ok, err)
	}
	if rs, err := c.AddMembers(ctx, g.ID, []string{last.ID}); err != nil || rs[0].Err != nil {
		t.Fatalf("add back: %v %+v", err, rs)
	}
	var snap []string
	_, err = c.Changes(ctx, "", func(ch connectors.Change) error {
		if ch.Group != nil && ch.Group.ID == g.ID {
			snap = ch.MemberRefs
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap) != 3000 {
		t.Fatalf("feed snapshot of big: %d member refs, want 3000", len(snap))
	}
}

func TestAD_NestedMemberIsAlreadyAMember(t *testing.T) {
	cfg := adConfig(t)
	resetDC(t)
	c := open(t, cfg)
	ctx := context.Background()
	g, _ := c.LookupGroup(ctx, "prod-db-admins")
	dave, _ := c.LookupUser(ctx, "dave")
	alice, _ := c.LookupUser(ctx, "alice")
	if ok, err := c.IsMember(ctx, g.ID, dave.ID); !ok || err != nil {
		t.Fatalf("dave (member through %s) IsMember = %v, %v; want true", samba.NestedGroup, ok, err)
	}
	if ok, err := c.IsMember(ctx, g.ID, alice.ID); ok || err != nil {
		t.Fatalf("alice IsMember = %v, %v; want false", ok, err)
	}
	var direct []string
	c.ListMembers(ctx, g.ID, func(id string) error { direct = append(direct, id); return nil })
	if slices.Contains(direct, dave.ID) {
		t.Fatal("ListMembers reports a nested member as a direct one")
	}
}

func TestAD_DisabledAndExpiredUsersAreNotEnabled(t *testing.T) {
	cfg := adConfig(t)
	resetDC(t)
	c := open(t, cfg)
	ctx := context.Background()
	adminModify(t, samba.UserDN("carol"), func(r *goldap.ModifyRequest) { r.Replace("userAccountControl", []string{"514"}) })
	if u, err := c.LookupUser(ctx, "carol"); err != nil || u.Enabled {
		t.Fatalf("carol with ACCOUNTDISABLE = %+v, %v; want not enabled", u, err)
	}
	past := fmt.Sprint(time.Now().Add(-time.Hour).UnixNano()/100 + 116444736000000000)
	adminModify(t, samba.UserDN("bob"), func(r *goldap.ModifyRequest) { r.Replace("accountExpires", []string{past}) })
	if u, err := c.LookupUser(ctx, "bob"); err != nil || u.Enabled {
		t.Fatalf("bob past accountExpires = %+v, %v; want not enabled", u, err)
	}
	adminModify(t, samba.UserDN("bob"), func(r *goldap.ModifyRequest) { r.Replace("accountExpires", []string{"0"}) })
	if u, _ := c.LookupUser(ctx, "bob"); !u.Enabled {
		t.Fatal("bob with accountExpires 0 (never) is not enabled")
	}
}

func runFeed(t *testing.T, c *ldap.Conn, cur string) connectortest.FeedLog {
	t.Helper()
	r, err := connectortest.Collect(context.Background(), c, cur)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	return r
}

// Both feeds see a membership change, a disabled user, and a deleted user,
// and nothing else.
func TestAD_FeedSeesChangesDisablesAndDeletions(t *testing.T) {
	// Both find deletions among tombstones, which the service account sees
	// because it may list CN=Deleted Objects (as the README asks).
	for _, mode := range []struct{ name, feed string }{{"DirSync", "dirsync"}, {"USNChanged", "usn"}} {
		t.Run(mode.name, func(t *testing.T) {
			cfg := adConfig(t)
			cfg.ADFeed = mode.feed
			resetDC(t)
			c := open(t, cfg)
			ctx := context.Background()
			l, err := dc.Dial()
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			tempDN := "CN=temp-" + mode.feed + "," + samba.PeopleOU
			add := goldap.NewAddRequest(tempDN, nil)
			add.Attribute("objectClass", []string{"user"})
			add.Attribute("sAMAccountName", []string{"temp-" + mode.feed})
			if err := l.Add(add); err != nil {
				t.Fatal(err)
			}
			snap := runFeed(t, c, "")
			temp, err := c.LookupUser(ctx, "temp-"+mode.feed)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := snap.Users[temp.ID]; !ok {
				t.Fatal("snapshot misses the temporary user")
			}
			g, _ := c.LookupGroup(ctx, "payments-release")
			alice, _ := c.LookupUser(ctx, "alice")
			if rs, err := c.AddMembers(ctx, g.ID, []string{alice.ID}); err != nil || rs[0].Err != nil {
				t.Fatal(err, rs)
			}
			adminModify(t, samba.UserDN("carol"), func(r *goldap.ModifyRequest) { r.Replace("userAccountControl", []string{"514"}) })
			if err := l.Del(goldap.NewDelRequest(tempDN, nil)); err != nil {
				t.Fatal(err)
			}
			inc := runFeed(t, c, snap.Cursor)
			if refs := inc.Groups[g.ID]; !slices.Contains(refs, alice.Ref) {
				t.Fatalf("incremental: payments-release refs %v, want alice's %q", refs, alice.Ref)
			}
			carol, _ := c.LookupUser(ctx, "carol")
			if u, ok := inc.Users[carol.ID]; !ok || u.Enabled {
				t.Fatalf("incremental: carol = %+v (present %v); want her, disabled", u, ok)
			}
			if !slices.Contains(inc.Deleted, temp.ID) {
				t.Fatalf("incremental: deletions %v miss the deleted user %s", inc.Deleted, temp.ID)
			}
			if _, ok := inc.Users[alice.ID]; ok {
				t.Fatal("incremental: alice reported although only her group changed")
			}
			again := runFeed(t, c, inc.Cursor)
			if len(again.Deleted) > 0 || len(again.Users) > 0 {
				t.Fatalf("with no change: users %v deletions %v", again.Users, again.Deleted)
			}
		})
	}
}

func TestAD_AccountsCarryTheirEndDateAndAStrongPassword(t *testing.T) {
	cfg := adConfig(t)
	resetDC(t)
	c := open(t, cfg)
	ctx := context.Background()
	until := time.Now().Add(40 * 24 * time.Hour).Truncate(time.Second)
	acct, err := c.CreateAccount(ctx, connectors.AccountSpec{Login: "zoe.ray", Email: "zoe@vendor.example", GivenName: "Zoe", Surname: "Ray",
		Until: until, Activate: true, Password: "Given-pass-123"})
	if err != nil {
		t.Fatal(err)
	}
	if !acct.PasswordSet || !acct.Enabled {
		t.Fatalf("account = %+v; want enabled with the password set", acct)
	}
	l, err := dc.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dn := "CN=zoe.ray," + samba.ContractorsOU
	res, err := l.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)",
		[]string{"accountExpires", "employeeType", "userPrincipalName"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	e := res.Entries[0]
	want := fmt.Sprint(until.UnixNano()/100 + 116444736000000000)
	if e.GetAttributeValue("accountExpires") != want || e.GetAttributeValue("employeeType") != ldap.Marker || e.GetAttributeValue("userPrincipalName") != "zoe.ray@jitd.test" {
		t.Fatalf("account attributes = %v", e.Attributes)
	}
	// The contractor can bind with the password jitd set.
	lc, err := goldap.DialURL(dc.LDAPSURL, goldap.DialWithTLSConfig(dc.TLSConfig()))
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	if err := lc.Bind(dn, "Given-pass-123"); err != nil {
		t.Fatalf("contractor bind: %v", err)
	}
	if err := c.SetAccountEnabled(ctx, acct.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := lc.Bind(dn, "Given-pass-123"); err == nil {
		t.Fatal("a disabled account can still bind")
	}
	if _, err := c.CreateAccount(ctx, connectors.AccountSpec{Login: "bad,name"}); !errors.Is(err, connectors.ErrInvalid) {
		t.Fatalf("a login AD cannot hold: %v, want ErrInvalid", err)
	}
}

// The account lifecycle end to end on Samba AD, through the plugin: the
// contractor signs in with the password jitd handed out once; at the end date
// the queue disables the account (sign-in refused); after retention it is
// deleted from the domain.
func TestAD_AccountLifecycleEndToEnd(t *testing.T) {
	cfg := adConfig(t)
	resetDC(t)
	ctx := context.Background()
	conn := throughPlugin(t, "corp-ad", cfg, clock.Real{})
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clock.NewFake(time.Now().Truncate(time.Second))
	dirs := directories.Set{"corp-ad": {Name: "corp-ad", Conn: conn}}
	mgr := account.New(account.Config{Retention: 7 * 24 * time.Hour}, st, directories.NewRegistry(dirs, 0), nil, clk, slog.New(slog.DiscardHandler), nil)
	created, err := mgr.Create(ctx, account.CreateRequest{Login: "ann.lee", Email: "ann@vendor.example", GivenName: "Ann", Surname: "Lee",
		Sponsor: "bob", Until: clk.Now().Add(30 * 24 * time.Hour), Reason: "contract C-7", Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if created.Password == "" || !created.Account.PasswordDelivered {
		t.Fatalf("created = %+v; want an initial password handed out", created.Account)
	}
	dn := "CN=ann.lee," + samba.ContractorsOU
	bind := func() error {
		l, err := goldap.DialURL(dc.LDAPSURL, goldap.DialWithTLSConfig(dc.TLSConfig()))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Bind(dn, created.Password)
	}
	if err := bind(); err != nil {
		t.Fatalf("the contractor cannot sign in with the initial password: %v", err)
	}
	clk.Advance(30 * 24 * time.Hour)
	if _, err := mgr.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bind(); err == nil {
		t.Fatal("the contractor can still sign in after the end date")
	}
	clk.Advance(7 * 24 * time.Hour)
	if _, err := mgr.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	l, _ := dc.Dial()
	defer l.Close()
	if _, err := l.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", nil, nil)); !goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		t.Fatalf("after retention the account is still in the domain: %v", err)
	}
	a, _ := st.Account(ctx, created.Account.ID)
	if a.State != store.AccountDeleted {
		t.Fatalf("state %s, want deleted", a.State)
	}
}

// Offboarding on AD: a user disabled in the domain loses every grant within
// one sync, read incrementally through DirSync.
func TestAD_DisabledUserIsOffboardedWithinOneSync(t *testing.T) {
	cfg := adConfig(t)
	resetDC(t)
	ctx := context.Background()
	conn := open(t, cfg)
	p := pipeline.New(t, "corp-ad", conn, "payments-release")
	p.Cycle(true)
	carol, alice := p.Grant("carol", "payments-release"), p.Grant("alice", "payments-release")
	p.Cycle(false)
	adminModify(t, samba.UserDN("carol"), func(r *goldap.ModifyRequest) { r.Replace("userAccountControl", []string{"514"}) })
	if rep := p.Cycle(false); rep.Offboarded != 1 {
		t.Fatalf("offboarding after carol was disabled: %+v", rep)
	}
	if g, _ := p.Store.Grant(ctx, carol); g.State != store.StateRevoked {
		t.Fatalf("carol's grant is %s, want revoked", g.State)
	}
	if g, _ := p.Store.Grant(ctx, alice); g.State != store.StateActive {
		t.Fatalf("alice's grant is %s, want active", g.State)
	}
	g, _ := conn.LookupGroup(ctx, "payments-release")
	cu, _ := conn.LookupUser(ctx, "carol")
	if ok, _ := conn.IsMember(ctx, g.ID, cu.ID); ok {
		t.Fatal("carol is still a member of payments-release in the domain")
	}
}

// Samba does not offer AD's time-bound links: with native_ttl, the directory
// says so and what to do, and no membership is added without its TTL.
func TestAD_NativeTTLIsRefusedWhereTheDCDoesNotOfferIt(t *testing.T) {
	cfg := adConfig(t)
	cfg.NativeTTL = true
	resetDC(t)
	c := open(t, cfg)
	ctx := context.Background()
	if !c.Describe().NativeTTL {
		t.Fatal("native_ttl is not described")
	}
	err := c.Check(ctx)
	if !errors.Is(err, connectors.ErrInvalid) || !strings.Contains(err.Error(), "Privileged Access Management") {
		t.Fatalf("Check with native_ttl on Samba: %v; want ErrInvalid naming what the forest needs", err)
	}
	g, _ := c.LookupGroup(ctx, "payments-release")
	u, _ := c.LookupUser(ctx, "alice")
	if _, err := c.AddMembersUntil(ctx, g.ID, []string{u.ID}, time.Now().Add(time.Hour)); !errors.Is(err, connectors.ErrInvalid) {
		t.Fatalf("AddMembersUntil: %v, want ErrInvalid", err)
	}
	if ok, _ := c.IsMember(ctx, g.ID, u.ID); ok {
		t.Fatal("a member was added without its time to live")
	}
	// The same through the plugin: described, and refused with the reason.
	pc := throughPlugin(t, "corp-ad", cfg, clock.Real{})
	em, ok := connectors.AsExpiringMembershipManager(pc)
	if !ok {
		t.Fatal("the plugin does not carry native_ttl")
	}
	if _, err := em.AddMembersUntil(ctx, g.ID, []string{u.ID}, time.Now().Add(time.Hour)); !errors.Is(err, connectors.ErrInvalid) || !strings.Contains(err.Error(), "native_ttl") {
		t.Fatalf("AddMembersUntil through the plugin: %v", err)
	}
}

// throughPlugin starts this test binary as the LDAP plugin child for cfg, as
// the daemon starts its connectors, and stops it at the end of the test.
func throughPlugin(tb testing.TB, directory string, cfg ldap.Config, clk clock.Clock) *plugins.Conn {
	tb.Helper()
	c, err := plugins.Launch(context.Background(), plugins.Spec{Directory: directory, Settings: cfg, Command: func() *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "JITD_TEST_PLUGIN=ldap")
		return cmd
	}}, slog.New(slog.DiscardHandler), clk)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// A provisioning area that takes in built-in objects still cannot reach
// them: the domain's protected accounts and groups are refused.
func TestAD_ProvisioningNeverTouchesProtectedObjects(t *testing.T) {
	cfg := adConfig(t)
	cfg.UserBase, cfg.GroupBase = samba.BaseDN, samba.BaseDN
	cfg.Provisioning = &ldap.ProvisioningConfig{UserBase: "CN=Users," + samba.BaseDN, GroupBase: "CN=Users," + samba.BaseDN}
	c := open(t, cfg)
	ctx := context.Background()
	for _, tc := range []struct {
		kind connectors.EntryKind
		name string
	}{{connectors.UserEntry, "Administrator"}, {connectors.GroupEntry, "Domain Admins"}} {
		var id string
		err := c.ReadEntries(ctx, connectors.EntryQuery{Kind: tc.kind, Attr: "sAMAccountName", Value: tc.name}, func(e connectors.Entry) error {
			id = e.ID
			return nil
		})
		if err != nil || id == "" {
			t.Fatalf("reading %s: %q, %v", tc.name, id, err)
		}
		if err := c.ModifyEntry(ctx, tc.kind, id, connectors.EntryChange{Attrs: map[string][]string{"description": {"owned"}}}); !errors.Is(err, connectors.ErrPermission) {
			t.Errorf("changing %s: %v, want ErrPermission", tc.name, err)
		}
		if err := c.DeleteEntry(ctx, tc.kind, id); !errors.Is(err, connectors.ErrPermission) {
			t.Errorf("deleting %s: %v, want ErrPermission", tc.name, err)
		}
	}
	off := false
	var admin string
	c.ReadEntries(ctx, connectors.EntryQuery{Kind: connectors.UserEntry, Attr: "sAMAccountName", Value: "Administrator"}, func(e connectors.Entry) error { admin = e.ID; return nil })
	if err := c.ModifyEntry(ctx, connectors.UserEntry, admin, connectors.EntryChange{Enabled: &off, Password: "x-Y-1-zzzzzzzz"}); !errors.Is(err, connectors.ErrPermission) {
		t.Errorf("disabling Administrator or setting its password: %v, want ErrPermission", err)
	}
}
