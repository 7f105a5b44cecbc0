package entra_test

import (
	"context"
	"encoding/pem"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/builtin"
	"github.com/jitd/jitd/connectors/connectortest"
	"github.com/jitd/jitd/connectors/entra"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/fixtures/graphfake"
	"github.com/jitd/jitd/fixtures/orphans"
	"github.com/jitd/jitd/fixtures/pipeline"
	"github.com/jitd/jitd/plugins"
)

// TestMain lets the test binary serve as the plugin child, the way the jitd
// binary does for kind: entra.
func TestMain(m *testing.M) {
	if os.Getenv("JITD_TEST_PLUGIN") == "entra" {
		kind := builtin.KindOf(func(_ string, c entra.Config) (connectors.Connector, error) { return entra.New(c) })
		plugins.Serve(kind.Open)
		os.Exit(0)
	}
	os.Exit(orphans.Verify(m.Run(), ""))
}

// tenant is a fake tenant with three users and a security group, and a
// connector configuration for it.
type tenant struct {
	fake       *graphfake.Server
	cfg        entra.Config
	secretFile string
	users      map[string]string // upn -> id
}

func newTenant(t testing.TB) *tenant {
	t.Helper()
	f := graphfake.New()
	t.Cleanup(f.Close)
	dir := t.TempDir()
	ca, secret := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "secret")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw}), 0o600)
	os.WriteFile(secret, []byte(f.Secret+"\n"), 0o600)
	tn := &tenant{fake: f, secretFile: secret, users: map[string]string{}}
	for _, p := range [][3]string{{"alice@contoso.example", "Alice", "Ng"}, {"bob@contoso.example", "Bob", "Silva"}, {"carol@contoso.example", "Carol", "Dube"}} {
		tn.users[p[0]] = f.AddUser(p[0], p[1], p[2])
	}
	f.AddGroup("prod-db-admins", graphfake.Security)
	tn.cfg = entra.Config{TenantID: graphfake.TenantID, ClientID: graphfake.ClientID, ClientSecretFile: secret,
		Authority: f.URL, GraphURL: f.URL, CAFile: ca, Accounts: &entra.AccountsConfig{Kind: "member", Domain: "contoso.example"}}
	return tn
}

func open(t testing.TB, cfg entra.Config) *entra.Conn {
	t.Helper()
	c, err := entra.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		tn := newTenant(t)
		return connectortest.Fixture{Conn: open(t, tn.cfg), Users: []string{"alice@contoso.example", "bob@contoso.example", "carol@contoso.example"}, Group: "prod-db-admins"}
	})
}

func TestConformance_ThroughPlugin(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		tn := newTenant(t)
		spec := plugins.Spec{Directory: "entra", Settings: tn.cfg, Command: func() *exec.Cmd {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "JITD_TEST_PLUGIN=entra")
			return cmd
		}}
		c, err := plugins.Launch(context.Background(), spec, slog.New(slog.DiscardHandler), clock.Real{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return connectortest.Fixture{Conn: c, Users: []string{"alice@contoso.example", "bob@contoso.example", "carol@contoso.example"}, Group: "prod-db-admins"}
	})
}

// A group with end_sessions: when a grant on it ends, the member is removed
// and, as a separate audited fact, their sign-in sessions are revoked.
func TestEndSessions_WhenAGrantEndsItsUsersSessionsAreRevoked(t *testing.T) {
	tn := newTenant(t)
	p := pipeline.New(t, "entra", open(t, tn.cfg), "prod-db-admins")
	p.EndSessions("prod-db-admins")
	id := p.Grant("alice@contoso.example", "prod-db-admins")
	p.Expire()
	alice := tn.users["alice@contoso.example"]
	if g, _ := p.Store.Grant(context.Background(), id); g.State != store.StateRevoked {
		t.Fatalf("after the end: %s", g.State)
	}
	if n := tn.fake.SessionsRevoked(alice); n != 1 {
		t.Fatalf("Graph revoked alice's sessions %d times, want 1", n)
	}
	if e, err := p.Store.SessionEnd(context.Background(), id); err != nil || e.State != store.SessionsEnded {
		t.Fatalf("session end: %+v %v", e, err)
	}
}
