package scim_test

import (
	"context"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/connectortest"
	"github.com/jitd/jitd/connectors/scim"
	"github.com/jitd/jitd/fixtures/scimfake"
)

// app starts a quirky fake application with three people and a group.
func app(t *testing.T) (*scimfake.Server, scim.Config) {
	t.Helper()
	f := scimfake.New()
	t.Cleanup(f.Close)
	for _, p := range [][3]string{{"alice@example.com", "Alice", "Ng"}, {"bob@example.com", "Bob", "Silva"}, {"carol@example.com", "Carol", "Dube"}} {
		f.AddUser(p[0], p[1], p[2])
	}
	f.AddGroup("prod-db-admins")
	f.AddGroup("everyone")
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw}), 0o600)
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte(f.Token+"\n"), 0o600)
	return f, scim.Config{URL: f.URL, TokenFile: tok, CAFile: ca, Accounts: true, ChangeFeed: true}
}

func open(t *testing.T, cfg scim.Config) *scim.Conn {
	t.Helper()
	c, err := scim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		_, cfg := app(t)
		return connectortest.Fixture{Conn: open(t, cfg), Users: []string{"alice@example.com", "bob@example.com", "carol@example.com"}, Group: "prod-db-admins"}
	})
}

// The application refuses a batch that holds a present member; jitd reads
// the group again and adds only who is missing, in one more call each.
func TestQuirkyBatchesAreSettledPerUser(t *testing.T) {
	f, cfg := app(t)
	c := open(t, cfg)
	ctx := context.Background()
	g, _ := c.LookupGroup(ctx, "prod-db-admins")
	alice, _ := c.LookupUser(ctx, "alice@example.com")
	bob, _ := c.LookupUser(ctx, "bob@example.com")
	if _, err := c.AddMembers(ctx, g.ID, []string{alice.ID}); err != nil {
		t.Fatal(err)
	}
	before := f.Calls("PATCH", "/Groups")
	rs, err := c.AddMembers(ctx, g.ID, []string{alice.ID, bob.ID, "no-such-user"})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Err != nil || rs[1].Err != nil || !errors.Is(rs[2].Err, connectors.ErrNotFound) {
		t.Fatalf("results %+v", rs)
	}
	// The refused batch, then bob and the unknown user alone.
	if n := f.Calls("PATCH", "/Groups") - before; n != 3 {
		t.Fatalf("%d PATCH calls, want 3", n)
	}
	before = f.Calls("PATCH", "/Groups")
	if rs, err := c.RemoveMembers(ctx, g.ID, []string{alice.ID, bob.ID}); err != nil || rs[0].Err != nil || rs[1].Err != nil {
		t.Fatalf("remove: %+v %v", rs, err)
	}
	if n := f.Calls("PATCH", "/Groups") - before; n != 1 {
		t.Fatalf("removing present members took %d calls, want one batch", n)
	}
}

func TestThrottlingIsARateLimitWithTheApplicationsWait(t *testing.T) {
	f, cfg := app(t)
	c := open(t, cfg)
	f.Throttle(1)
	_, err := c.LookupUser(context.Background(), "alice@example.com")
	var rl *connectors.RateLimitError
	if !errors.As(err, &rl) || rl.Wait != 7*time.Second || !errors.Is(err, connectors.ErrRateLimited) {
		t.Fatalf("throttled: %v", err)
	}
	if _, err := c.LookupUser(context.Background(), "alice@example.com"); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

func TestWrongTokenAndBadConfigSayWhatToDo(t *testing.T) {
	_, cfg := app(t)
	bad := filepath.Join(t.TempDir(), "token")
	os.WriteFile(bad, []byte("nope"), 0o600)
	cfg.TokenFile = bad
	if err := open(t, cfg).Check(context.Background()); !errors.Is(err, connectors.ErrPermission) || !strings.Contains(err.Error(), "check the token") {
		t.Fatalf("wrong token: %v", err)
	}
	err := scim.Config{URL: "http://app.example/scim/v2", TokenEnv: "JITD_NO_SUCH_VAR", PageSize: 5000}.Validate()
	for _, want := range []string{"url: must be an https:// URL", "token_env: environment variable JITD_NO_SUCH_VAR is not set", "page_size"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v; want %q", err, want)
		}
	}
}

// Entra and Okta send booleans as strings; the fake takes both, and jitd
// sends real booleans.
func TestAccountsAreMarkedAndDisabledByActive(t *testing.T) {
	f, cfg := app(t)
	c := open(t, cfg)
	ctx := context.Background()
	a, err := c.CreateAccount(ctx, connectors.AccountSpec{Login: "c-ann.lee@example.com", GivenName: "Ann", Surname: "Lee", Activate: true, Password: "Pw-123456789!"})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := f.User(a.ID); u.UserType != "jitd-ephemeral" || !u.Active {
		t.Fatalf("created %+v", u)
	}
	if err := c.SetAccountEnabled(ctx, a.ID, false); err != nil {
		t.Fatal(err)
	}
	if u, _ := f.User(a.ID); u.Active {
		t.Fatal("still active")
	}
}

func TestChangeFeedNeedsTheApplicationToFilterOnLastModified(t *testing.T) {
	f, cfg := app(t)
	c := open(t, cfg)
	ctx := context.Background()
	cur, err := c.Changes(ctx, "", func(connectors.Change) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	f.CannotFilterOnModified()
	if _, err := c.Changes(ctx, cur, func(connectors.Change) error { return nil }); !errors.Is(err, connectors.ErrInvalid) || !strings.Contains(err.Error(), "change_feed: true") {
		t.Fatalf("an application that cannot filter on meta.lastModified: %v", err)
	}
	cfg.ChangeFeed = false
	if connectors.Has(open(t, cfg), connectors.CapChangeFeed) {
		t.Fatal("change feed offered without change_feed: true")
	}
}

func TestOAuthClientCredentials(t *testing.T) {
	f, cfg := app(t)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(f.ClientSecret), 0o600)
	cfg.TokenFile, cfg.TokenURL, cfg.ClientID, cfg.ClientSecretFile = "", f.URL+"/oauth/token", f.ClientID, secret
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c := open(t, cfg)
	ctx := context.Background()
	for range 3 {
		if _, err := c.LookupUser(ctx, "alice@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.Calls("POST", "/oauth/token"); n != 1 {
		t.Fatalf("%d token requests for three calls; want one, reused while valid", n)
	}
	os.WriteFile(secret, []byte("wrong"), 0o600)
	cfg.ClientSecretFile = secret
	if err := open(t, cfg).Check(ctx); !errors.Is(err, connectors.ErrPermission) || !strings.Contains(err.Error(), "client_secret") {
		t.Fatalf("a wrong client secret: %v", err)
	}
	both := cfg
	both.TokenFile = secret
	if err := both.Validate(); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("token and client credentials together: %v", err)
	}
}
