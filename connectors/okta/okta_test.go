package okta_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/connectortest"
	"github.com/jitd/jitd/connectors/okta"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/fixtures/oktafake"
	"github.com/jitd/jitd/fixtures/pipeline"
)

// org starts a fake org with three people and two groups, and returns a
// configuration that reaches it.
func org(t *testing.T) (*oktafake.Server, okta.Config) {
	t.Helper()
	f := oktafake.New(nil)
	t.Cleanup(f.Close)
	f.PageLimit, f.MemberPageLimit = 2, 2 // exercise paging on every list
	for _, p := range [][3]string{{"alice@example.com", "Alice", "Ng"}, {"bob@example.com", "Bob", "Silva"}, {"carol@example.com", "Carol", "Dube"}} {
		f.AddUser(p[0], p[1], p[2])
	}
	f.AddGroup("prod-db-admins", "OKTA_GROUP")
	f.AddGroup("Salesforce users", "APP_GROUP")
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw}), 0o600)
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte(f.Token+"\n"), 0o600)
	return f, okta.Config{OrgURL: f.URL, APITokenFile: tok, CAFile: ca}
}

func open(t *testing.T, cfg okta.Config) *okta.Conn {
	t.Helper()
	c, err := okta.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		_, cfg := org(t)
		return connectortest.Fixture{Conn: open(t, cfg), Users: []string{"alice@example.com", "bob@example.com", "carol@example.com"}, Group: "prod-db-admins"}
	})
}

func TestAppGroupsAreListedButRefusedForGrants(t *testing.T) {
	f, cfg := org(t)
	c := open(t, cfg)
	ctx := context.Background()
	g, err := c.LookupGroup(ctx, "Salesforce users")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := c.LookupUser(ctx, "alice@example.com")
	_, err = c.AddMembers(ctx, g.ID, []string{u.ID})
	if !errors.Is(err, connectors.ErrInvalid) || !strings.Contains(err.Error(), "APP_GROUP") || !strings.Contains(err.Error(), "OKTA_GROUP") {
		t.Fatalf("grant on an APP_GROUP: %v", err)
	}
	if f.IsMember(g.ID, u.ID) {
		t.Fatal("APP_GROUP changed")
	}
}

func TestRateLimitBecomesRateLimitErrorWithTheWait(t *testing.T) {
	f, cfg := org(t)
	c := open(t, cfg)
	ctx := context.Background()
	g, _ := c.LookupGroup(ctx, "prod-db-admins")
	var ids []string
	c.ListUsers(ctx, func(u connectors.User) error { ids = append(ids, u.ID); return nil })
	f.SetRateLimit(2)
	rs, err := c.AddMembers(ctx, g.ID, ids) // 3 calls, 2 allowed
	if err != nil {
		t.Fatal(err)
	}
	limited := 0
	for _, r := range rs {
		if wait, ok := connectors.RetryAfter(r.Err); ok {
			limited++
			if wait <= 0 || wait > 62e9 {
				t.Fatalf("wait %s; want up to the minute's end", wait)
			}
		} else if r.Err != nil {
			t.Fatalf("unexpected error: %v", r.Err)
		}
	}
	if limited == 0 {
		t.Fatal("no result was rate limited")
	}
	before := f.Requests
	if err := c.Check(ctx); !errors.Is(err, connectors.ErrRateLimited) {
		t.Fatalf("call with the budget spent: %v", err)
	}
	if f.Requests != before {
		t.Fatal("a call was made although the budget was known to be spent")
	}
}

func TestServerErrorsAreRetriedBriefly(t *testing.T) {
	f, cfg := org(t)
	c := open(t, cfg)
	f.Fail503(2)
	if err := c.Check(context.Background()); err != nil {
		t.Fatalf("two 503s then success: %v", err)
	}
	f.Fail503(10)
	if err := c.Check(context.Background()); !errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("a 503 storm: %v, want ErrUnavailable", err)
	}
}

func TestRevokedTokenIsAPermissionErrorThatSaysWhatToDo(t *testing.T) {
	f, cfg := org(t)
	c := open(t, cfg)
	f.RevokeToken()
	err := c.Check(context.Background())
	if !errors.Is(err, connectors.ErrPermission) || !strings.Contains(err.Error(), "api_token_file") {
		t.Fatalf("revoked token: %v", err)
	}
	if strings.Contains(err.Error(), "00fake-okta-token") {
		t.Fatal("the token appears in the error")
	}
}

func TestDeactivatedUserIsReportedDisabled(t *testing.T) {
	f, cfg := org(t)
	c := open(t, cfg)
	ctx := context.Background()
	cur, err := c.Changes(ctx, "", func(connectors.Change) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	u, _ := c.LookupUser(ctx, "bob@example.com")
	f.SetStatus(u.ID, "DEPROVISIONED")
	var got *connectors.User
	if _, err := c.Changes(ctx, cur, func(ch connectors.Change) error {
		if ch.User != nil && ch.User.ID == u.ID {
			got = ch.User
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Enabled {
		t.Fatalf("deactivated user in the feed: %+v; want it, disabled (the offboarding path)", got)
	}
}

func TestConfigValidation(t *testing.T) {
	err := okta.Config{OrgURL: "http://dev-1-admin.okta.com/x", RateLimitShare: 150}.Validate()
	for _, want := range []string{"org_url: must be https", "api_token_file: an API token is required", "rate_limit_share: must be a percentage"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

// serviceApp registers an OAuth service app with the given scopes and returns
// a configuration that authenticates as it.
func serviceApp(t *testing.T, f *oktafake.Server, base okta.Config, scopes ...string) okta.Config {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f.RegisterServiceApp("0oajitd", &key.PublicKey, scopes...)
	p := filepath.Join(t.TempDir(), "key.pem")
	os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	return okta.Config{OrgURL: base.OrgURL, CAFile: base.CAFile, ClientID: "0oajitd", PrivateKeyFile: p}
}

func TestConformance_OAuthServiceApp(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		f, base := org(t)
		cfg := serviceApp(t, f, base, okta.DefaultScopes...)
		return connectortest.Fixture{Conn: open(t, cfg), Users: []string{"alice@example.com", "bob@example.com", "carol@example.com"}, Group: "prod-db-admins"}
	})
}

func TestOAuthMissingScopeIsNamed(t *testing.T) {
	f, base := org(t)
	cfg := serviceApp(t, f, base, "okta.users.read", "okta.groups.read")
	cfg.Scopes = []string{"okta.users.read", "okta.groups.read"}
	c := open(t, cfg)
	ctx := context.Background()
	g, err := c.LookupGroup(ctx, "prod-db-admins")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := c.LookupUser(ctx, "alice@example.com")
	rs, err := c.AddMembers(ctx, g.ID, []string{u.ID})
	if err != nil || !errors.Is(rs[0].Err, connectors.ErrPermission) || !strings.Contains(rs[0].Err.Error(), "okta.groups.manage") {
		t.Fatalf("membership change without okta.groups.manage: %v %+v", err, rs)
	}
}

func TestOAuthWrongKeyIsRefused(t *testing.T) {
	f, base := org(t)
	cfg := serviceApp(t, f, base, okta.DefaultScopes...)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	f.RegisterServiceApp("0oajitd", &other.PublicKey, okta.DefaultScopes...) // the app's key was rotated in Okta
	err := open(t, cfg).Check(context.Background())
	if !errors.Is(err, connectors.ErrPermission) || !strings.Contains(err.Error(), "private_key_file") {
		t.Fatalf("an assertion signed with the wrong key: %v; want a permission error that says what to check", err)
	}
}

func TestPeopleCarryDepartmentTitleAndManager(t *testing.T) {
	f, cfg := org(t)
	c := open(t, cfg)
	ctx := context.Background()
	alice, _ := c.LookupUser(ctx, "alice@example.com")
	bob, _ := c.LookupUser(ctx, "bob@example.com")
	f.SetPerson(alice.ID, "payments", "Engineer", bob.ID)
	alice, err := c.LookupUser(ctx, "alice@example.com")
	if err != nil || alice.Manager != bob.ID || alice.Attributes["department"] != "payments" || alice.Attributes["title"] != "Engineer" {
		t.Fatalf("alice: %+v %v", alice, err)
	}
	if bob.Manager != "" || bob.Attributes != nil {
		t.Fatalf("bob: %+v", bob)
	}
}

// A group with end_sessions: when a grant on it ends, the member is removed
// and, as a separate audited fact, their Okta sessions are cleared.
func TestEndSessions_WhenAGrantEndsItsUsersSessionsAreCleared(t *testing.T) {
	f, cfg := org(t)
	p := pipeline.New(t, "okta", open(t, cfg), "prod-db-admins")
	p.EndSessions("prod-db-admins")
	id := p.Grant("alice@example.com", "prod-db-admins")
	g, _ := p.Store.Grant(context.Background(), id)
	p.Expire()
	if g2, _ := p.Store.Grant(context.Background(), id); g2.State != store.StateRevoked || f.IsMember(g.GroupID, g.UserID) {
		t.Fatalf("after the end: %s, member %v", g2.State, f.IsMember(g.GroupID, g.UserID))
	}
	if n := f.SessionsCleared(g.UserID); n != 1 {
		t.Fatalf("Okta cleared alice's sessions %d times, want 1", n)
	}
	if e, err := p.Store.SessionEnd(context.Background(), id); err != nil || e.State != store.SessionsEnded {
		t.Fatalf("session end: %+v %v", e, err)
	}
	evs, _ := p.Store.AuditEvents(context.Background(), store.AuditFilter{GrantID: id})
	if len(evs) == 0 || evs[0].Action != audit.SessionsEnded {
		t.Fatalf("the newest event of the grant is %+v, want grant.sessions_ended", evs[0])
	}
}
