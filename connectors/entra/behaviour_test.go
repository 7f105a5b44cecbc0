package entra_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/connectortest"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/fixtures/graphfake"
	"github.com/jitd/jitd/fixtures/pipeline"
)

func runFeed(t *testing.T, c connectors.ChangeFeed, cur string) (connectortest.FeedLog, error) {
	t.Helper()
	return connectortest.Collect(context.Background(), c, cur)
}

// The delta feed, over several pages, sees a disabled user, a deleted user
// and a membership change made in the tenant, and nothing else.
func TestFeed_DisabledDeletedAndMemberChanges(t *testing.T) {
	tn := newTenant(t)
	tn.fake.PageSize = 2
	c := open(t, tn.cfg)
	gid := tn.fake.AddGroup("payments-release", graphfake.Security)
	alice, bob, carol := tn.users["alice@contoso.example"], tn.users["bob@contoso.example"], tn.users["carol@contoso.example"]
	tn.fake.SetMember(gid, bob, true)
	snap, err := runFeed(t, c, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Users) != 3 || !slices.Equal(snap.Groups[gid], []string{bob}) {
		t.Fatalf("snapshot: %d users, payments-release %v", len(snap.Users), snap.Groups[gid])
	}
	tn.fake.SetEnabled(carol, false)
	tn.fake.DeleteUser(bob)
	tn.fake.SetMember(gid, alice, true)
	inc, err := runFeed(t, c, snap.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := inc.Users[carol]; !ok || u.Enabled {
		t.Fatalf("carol after being disabled: %+v (reported %v)", u, ok)
	}
	if !slices.Contains(inc.Deleted, bob) {
		t.Fatalf("deleted user not reported: %v", inc.Deleted)
	}
	// Only its members changed: reported as they did, without re-listing.
	if _, listed := inc.Groups[gid]; listed || !slices.Equal(inc.Added[gid], []string{alice}) || !slices.Equal(inc.Removed[gid], []string{bob}) {
		t.Fatalf("payments-release after the changes: listed %v, joined %v, left %v; want alice joined and bob (deleted) left", listed, inc.Added[gid], inc.Removed[gid])
	}
	if _, ok := inc.Users[alice]; ok {
		t.Fatal("alice reported although only her groups changed")
	}
	again, err := runFeed(t, c, inc.Cursor)
	if err != nil || len(again.Users)+len(again.Groups)+len(again.Deleted)+len(again.Added)+len(again.Removed) != 0 {
		t.Fatalf("with no change: %+v %v", again, err)
	}
}

func TestFeed_ExpiredDeltaTokenForcesFullSync(t *testing.T) {
	tn := newTenant(t)
	c := open(t, tn.cfg)
	snap, err := runFeed(t, c, "")
	if err != nil {
		t.Fatal(err)
	}
	tn.fake.ExpireDeltaTokens()
	if _, err := runFeed(t, c, snap.Cursor); !errors.Is(err, connectors.ErrCursorExpired) {
		t.Fatalf("expired delta token: %v, want ErrCursorExpired", err)
	}
}

// A short Retry-After is waited out in place; a long one comes back at once
// as a rate limit carrying the wait, for the queue to schedule around.
func TestThrottling(t *testing.T) {
	tn := newTenant(t)
	c := open(t, tn.cfg)
	ctx := context.Background()
	if _, err := c.LookupUser(ctx, "alice@contoso.example"); err != nil { // token fetched
		t.Fatal(err)
	}
	tn.fake.Throttle(0, 0)
	if _, err := c.LookupUser(ctx, "alice@contoso.example"); err != nil {
		t.Fatalf("after two 429s with Retry-After 0: %v", err)
	}
	tn.fake.Throttle(120 * time.Second)
	start := time.Now()
	_, err := c.LookupUser(ctx, "alice@contoso.example")
	wait, ok := connectors.RetryAfter(err)
	if !errors.Is(err, connectors.ErrRateLimited) || !ok || wait != 120*time.Second {
		t.Fatalf("429 with Retry-After 120: %v (wait %v), want ErrRateLimited after 2m", err, wait)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("the long wait blocked the call")
	}
}

func TestMissingPermissionIsNamed(t *testing.T) {
	tn := newTenant(t)
	c := open(t, tn.cfg)
	ctx := context.Background()
	g, _ := c.LookupGroup(ctx, "prod-db-admins")
	tn.fake.Deny("GroupMember.ReadWrite.All")
	_, err := c.AddMembers(ctx, g.ID, []string{tn.users["alice@contoso.example"]})
	if !errors.Is(err, connectors.ErrPermission) || !strings.Contains(err.Error(), "GroupMember.ReadWrite.All") {
		t.Fatalf("add without GroupMember.ReadWrite.All: %v", err)
	}
}

// The app's secret is revoked while jitd runs: calls fail with a permission
// error that names the setting; once a new secret is in the file, they work
// again without a restart.
func TestCredentialRevokedMidRunAndRotated(t *testing.T) {
	tn := newTenant(t)
	c := open(t, tn.cfg)
	ctx := context.Background()
	if _, err := c.LookupUser(ctx, "alice@contoso.example"); err != nil {
		t.Fatal(err)
	}
	tn.fake.RevokeSecret()
	_, err := c.LookupUser(ctx, "alice@contoso.example")
	if !errors.Is(err, connectors.ErrPermission) {
		t.Fatalf("after revocation: %v, want ErrPermission", err)
	}
	if err := os.WriteFile(tn.secretFile, []byte(tn.fake.RestoreSecret()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LookupUser(ctx, "alice@contoso.example"); err != nil {
		t.Fatalf("after the secret was rotated: %v", err)
	}
	// A wrong secret is refused by the identity platform, with what to check.
	os.WriteFile(tn.secretFile, []byte("wrong"), 0o600)
	_, err = c.LookupUser(ctx, "alice@contoso.example")
	if !errors.Is(err, connectors.ErrPermission) || !strings.Contains(err.Error(), "client_secret_file") {
		t.Fatalf("wrong secret: %v", err)
	}
}

// Dynamic, on-premises-synced and role-assignable groups are listed, but a
// grant on one is refused with the reason and what to do instead.
func TestUngrantableGroupsAreListedButRefused(t *testing.T) {
	tn := newTenant(t)
	c := open(t, tn.cfg)
	ctx := context.Background()
	for name, kind := range map[string]graphfake.GroupKind{"dyn": graphfake.Dynamic, "synced": graphfake.OnPremSynced, "roles": graphfake.RoleAssignable} {
		gid := tn.fake.AddGroup(name, kind)
		var listed bool
		c.ListGroups(ctx, func(g connectors.Group) error { listed = listed || g.ID == gid; return nil })
		if !listed {
			t.Errorf("%s: not listed", name)
		}
		_, err := c.AddMembers(ctx, gid, []string{tn.users["alice@contoso.example"]})
		if !errors.Is(err, connectors.ErrInvalid) || !strings.Contains(err.Error(), "instead") {
			t.Errorf("%s: %v; want ErrInvalid saying what to do instead", name, err)
		}
		if m := tn.fake.Members(gid); len(m) != 0 {
			t.Errorf("%s: members %v", name, m)
		}
	}
}

// Adds go 20 to a PATCH; removals 20 to a JSON batch.
func TestMembershipChangesAreBatched(t *testing.T) {
	tn := newTenant(t)
	c := open(t, tn.cfg)
	ctx := context.Background()
	var ids []string
	for i := range 45 {
		ids = append(ids, tn.fake.AddUser(fmt.Sprintf("u%02d@contoso.example", i), "U", fmt.Sprint(i)))
	}
	g, _ := c.LookupGroup(ctx, "prod-db-admins")
	rs, err := c.AddMembers(ctx, g.ID, ids)
	if err != nil || len(rs) != 45 {
		t.Fatal(rs, err)
	}
	if n := tn.fake.Requests["PATCH /v1.0/groups/"+g.ID]; n != 3 {
		t.Fatalf("%d PATCH requests for 45 adds, want 3", n)
	}
	if _, err := c.RemoveMembers(ctx, g.ID, ids); err != nil {
		t.Fatal(err)
	}
	if n := tn.fake.Requests["POST /v1.0/$batch"]; n != 3 {
		t.Fatalf("%d batches for 45 removals, want 3", n)
	}
	if m := tn.fake.Members(g.ID); len(m) != 0 {
		t.Fatalf("members left: %v", m)
	}
}

// With native_ttl: pim, a grant is also a PIM assignment ending at the
// grant's end; a later end moves it. A group not onboarded to PIM is refused.
func TestPIMAssignmentEndsWithTheGrant(t *testing.T) {
	tn := newTenant(t)
	tn.cfg.NativeTTL = "pim"
	c := open(t, tn.cfg)
	ctx := context.Background()
	if !c.Describe().NativeTTL {
		t.Fatal("native_ttl: pim is not described")
	}
	gid := tn.fake.AddGroup("pim-admins", graphfake.PIMEnabled)
	alice := tn.users["alice@contoso.example"]
	end := time.Now().Add(4 * time.Hour).UTC().Truncate(time.Second)
	rs, err := c.AddMembersUntil(ctx, gid, []string{alice}, end)
	if err != nil || rs[0].Err != nil {
		t.Fatal(rs, err)
	}
	if got, ok := tn.fake.PIMAssignment(gid, alice); !ok || !got.Equal(end) {
		t.Fatalf("PIM assignment ends %v (%v), want %v", got, ok, end)
	}
	later := end.Add(2 * time.Hour)
	if rs, err := c.AddMembersUntil(ctx, gid, []string{alice}, later); err != nil || rs[0].Err != nil {
		t.Fatal(rs, err)
	}
	if got, _ := tn.fake.PIMAssignment(gid, alice); !got.Equal(later) {
		t.Fatalf("after extension the assignment ends %v, want %v", got, later)
	}
	// jitd's own removal ends the assignment too.
	if rs, err := c.RemoveMembers(ctx, gid, []string{alice}); err != nil || rs[0].Err != nil {
		t.Fatal(rs, err)
	}
	if _, ok := tn.fake.PIMAssignment(gid, alice); ok || len(tn.fake.Members(gid)) != 0 {
		t.Fatal("the PIM assignment or the membership survived the removal")
	}
	plain, _ := c.LookupGroup(ctx, "prod-db-admins")
	rs, err = c.AddMembersUntil(ctx, plain.ID, []string{alice}, end)
	if err == nil && rs[0].Err == nil {
		t.Fatal("a PIM assignment on a group not onboarded to PIM succeeded")
	}
}

// The app can sign in with a certificate instead of a secret; a certificate
// the app does not know is refused with what to check.
func TestCertificateCredential(t *testing.T) {
	tn := newTenant(t)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "jitd"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	pemFile := filepath.Join(t.TempDir(), "app.pem")
	pemData := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	os.WriteFile(pemFile, pemData, 0o600)
	cfg := tn.cfg
	cfg.ClientSecretFile, cfg.ClientCertificateFile = "", pemFile
	c := open(t, cfg)
	ctx := context.Background()
	if _, err := c.LookupUser(ctx, "alice@contoso.example"); !errors.Is(err, connectors.ErrPermission) || !strings.Contains(err.Error(), "client_certificate_file") {
		t.Fatalf("unregistered certificate: %v", err)
	}
	tn.fake.RegisterCertificate(cert)
	c = open(t, cfg) // a fresh connector: the refusal is not cached
	if _, err := c.LookupUser(ctx, "alice@contoso.example"); err != nil {
		t.Fatalf("registered certificate: %v", err)
	}
}

// A user disabled or deleted in the tenant loses every grant within one sync.
func TestOffboardingWithinOneSync(t *testing.T) {
	tn := newTenant(t)
	c := open(t, tn.cfg)
	ctx := context.Background()
	p := pipeline.New(t, "entra", c, "prod-db-admins")
	p.Cycle(true)
	var ids []string
	for _, u := range []string{"alice@contoso.example", "bob@contoso.example", "carol@contoso.example"} {
		ids = append(ids, p.Grant(u, "prod-db-admins"))
	}
	p.Cycle(false)
	tn.fake.SetEnabled(tn.users["bob@contoso.example"], false)
	tn.fake.DeleteUser(tn.users["carol@contoso.example"])
	if rep := p.Cycle(false); rep.Offboarded != 2 {
		t.Fatalf("offboarding: %+v", rep)
	}
	for i, want := range []store.State{store.StateActive, store.StateRevoked, store.StateRevoked} {
		if g, _ := p.Store.Grant(ctx, ids[i]); g.State != want {
			t.Fatalf("grant of %s: %s, want %s", g.UserName, g.State, want)
		}
	}
	gid := ""
	c.ListGroups(ctx, func(g connectors.Group) error { gid = g.ID; return nil })
	if m := tn.fake.Members(gid); !slices.Equal(m, []string{tn.users["alice@contoso.example"]}) {
		t.Fatalf("members after offboarding: %v", m)
	}
}

func TestPeopleCarryDepartmentAndTitle(t *testing.T) {
	tn := newTenant(t)
	c := open(t, tn.cfg)
	tn.fake.SetPerson(tn.users["alice@contoso.example"], "payments", "Engineer")
	alice, err := c.LookupUser(context.Background(), "alice@contoso.example")
	if err != nil || alice.Attributes["department"] != "payments" || alice.Attributes["title"] != "Engineer" {
		t.Fatalf("alice: %+v %v", alice, err)
	}
	snap, err := runFeed(t, c, "")
	if err != nil || snap.Users[alice.ID].Attributes["department"] != "payments" {
		t.Fatalf("alice in the feed: %+v %v", snap.Users[alice.ID], err)
	}
}

// The mirror follows member changes reported as such (members@delta, no
// re-listing) and managers, through the real sync: after an incremental
// sync it holds exactly the tenant's members, and each user's manager.
func TestMirror_FollowsMemberChangesAndManagers(t *testing.T) {
	tn := newTenant(t)
	tn.fake.PageSize = 2
	ctx := context.Background()
	alice, bob, carol := tn.users["alice@contoso.example"], tn.users["bob@contoso.example"], tn.users["carol@contoso.example"]
	gid := tn.fake.AddGroup("payments-release", graphfake.Security)
	tn.fake.SetMember(gid, alice, true)
	tn.fake.SetMember(gid, bob, true)
	tn.fake.SetManager(alice, carol)
	p := pipeline.New(t, "entra", open(t, tn.cfg), "prod-db-admins")
	p.Cycle(true)
	check := func(when string) {
		t.Helper()
		us, err := p.Store.MirrorMembers(ctx, "entra", gid)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range us {
			got = append(got, u.ID)
		}
		slices.Sort(got)
		if want := tn.fake.Members(gid); !slices.Equal(got, want) {
			t.Fatalf("%s: mirror has %v, the tenant %v", when, got, want)
		}
	}
	check("after the full sync")
	if m, err := p.Store.MirrorManager(ctx, "entra", connectors.User{ID: alice, Manager: carol}); err != nil || m.ID != carol {
		t.Fatalf("alice's manager in the mirror: %+v %v", m, err)
	}
	before, _ := tn.fake.Counts()
	tn.fake.SetMember(gid, bob, false)
	tn.fake.SetMember(gid, carol, true)
	tn.fake.SetMember(gid, carol, false) // in and out again within one round
	tn.fake.SetMember(gid, carol, true)
	tn.fake.SetManager(bob, alice)
	p.Cycle(false)
	check("after the incremental sync")
	u, err := p.Store.MirrorUser(ctx, "entra", "bob@contoso.example")
	if err != nil || u.Manager != alice {
		t.Fatalf("bob after his manager changed: %+v %v", u, err)
	}
	after, _ := tn.fake.Counts()
	if n := tn.fake.Requests["GET /v1.0/groups/"+gid+"/members"]; n != 1 {
		t.Fatalf("the group's members were listed %d times; want once (the full sync), member changes read from the delta", n)
	}
	t.Logf("incremental sync: %d HTTP requests", after-before)
}
