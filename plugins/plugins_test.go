package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/builtin"
	"github.com/jitd/jitd/connectors/connectortest"
	"github.com/jitd/jitd/connectors/demo"
	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/connectors/okta"
	"github.com/jitd/jitd/connectors/scim"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/expiry"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/oktafake"
	"github.com/jitd/jitd/fixtures/orphans"
	"github.com/jitd/jitd/fixtures/poll"
	"github.com/jitd/jitd/fixtures/scimfake"
	"github.com/jitd/jitd/fixtures/slapd"
)

// The test binary doubles as the plugin child, the way the jitd binary does.
func TestMain(m *testing.M) {
	switch os.Getenv("JITD_TEST_PLUGIN") {
	case "":
		os.Exit(orphans.Verify(slapd.Main(m, slapd.Options{}, &srv, &srvErr), ""))
	case "errors":
		Serve(func(string, []byte) (connectors.Connector, error) { return errorConn{}, nil })
	default:
		kind := os.Getenv("JITD_TEST_PLUGIN")
		Serve(func(dir string, settings []byte) (connectors.Connector, error) {
			return builtin.Open(kind, dir, settings)
		})
	}
	os.Exit(0)
}

func selfCommand(kind string) func() *exec.Cmd {
	return func() *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "JITD_TEST_PLUGIN="+kind)
		return cmd
	}
}

var (
	quiet  = slog.New(slog.DiscardHandler)
	srv    *slapd.Server
	srvErr error
)

func TestConformance_LDAPThroughPlugin(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		slapd.Need(t, srv, srvErr)
		if err := srv.Reset(context.Background()); err != nil {
			t.Fatal(err)
		}
		spec := Spec{Directory: "corp-ldap", Command: selfCommand("ldap"), Settings: ldap.Config{
			URL: srv.LDAPSURL, CAFile: srv.CAFile, BindDN: slapd.ServiceDN, BindPasswordFile: filepath.Join(srv.PasswordDir, "service"),
			UserBase: slapd.PeopleBase, GroupBase: slapd.GroupBase, EmptyMember: slapd.EmptyMember, DisabledAttr: "pwdAccountLockedTime",
			Provisioning: &ldap.ProvisioningConfig{UserBase: slapd.ProvisionedPeople, GroupBase: slapd.ProvisionedGroups},
		}}
		return connectortest.Fixture{Conn: launch(t, spec, clock.Real{}), Users: []string{"alice", "ann", "bob"}, Group: "prod-db-admins"}
	})
}

func launch(t *testing.T, spec Spec, clk clock.Clock) *Conn {
	t.Helper()
	c, err := Launch(context.Background(), spec, quiet, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func demoSpec(t *testing.T) Spec {
	return Spec{
		Directory: "demo",
		Command:   selfCommand("demo"),
		Settings:  demo.Config{File: filepath.Join(t.TempDir(), "dir.json"), Seed: "../fixtures/demo/directory.json"},
	}
}

func TestConformance_OktaThroughPlugin(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		f := oktafake.New(nil)
		t.Cleanup(f.Close)
		for _, p := range [][3]string{{"alice@example.com", "Alice", "Ng"}, {"bob@example.com", "Bob", "Silva"}, {"carol@example.com", "Carol", "Dube"}} {
			f.AddUser(p[0], p[1], p[2])
		}
		f.AddGroup("prod-db-admins", "OKTA_GROUP")
		dir := t.TempDir()
		ca, tok := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "token")
		os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw}), 0o600)
		os.WriteFile(tok, []byte(f.Token), 0o600)
		spec := Spec{Directory: "okta", Command: selfCommand("okta"), Settings: okta.Config{OrgURL: f.URL, APITokenFile: tok, CAFile: ca}}
		return connectortest.Fixture{Conn: launch(t, spec, clock.Real{}), Users: []string{"alice@example.com", "bob@example.com", "carol@example.com"}, Group: "prod-db-admins"}
	})
}

func TestConformance_SCIMThroughPlugin(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		f := scimfake.New()
		t.Cleanup(f.Close)
		for _, p := range [][3]string{{"alice@example.com", "Alice", "Ng"}, {"bob@example.com", "Bob", "Silva"}, {"carol@example.com", "Carol", "Dube"}} {
			f.AddUser(p[0], p[1], p[2])
		}
		f.AddGroup("prod-db-admins")
		dir := t.TempDir()
		ca, tok := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "token")
		os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw}), 0o600)
		os.WriteFile(tok, []byte(f.Token), 0o600)
		spec := Spec{Directory: "app", Command: selfCommand("scim"), Settings: scim.Config{URL: f.URL, TokenFile: tok, CAFile: ca, Accounts: true, ChangeFeed: true}}
		return connectortest.Fixture{Conn: launch(t, spec, clock.Real{}), Users: []string{"alice@example.com", "bob@example.com", "carol@example.com"}, Group: "prod-db-admins"}
	})
}

func TestConformance_DemoThroughPlugin(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		return connectortest.Fixture{Conn: launch(t, demoSpec(t), clock.Real{}), Users: []string{"alice", "bob", "carol"}, Group: "prod-db-admins"}
	})
}

func TestPlugin_ManagerAndAttributesCrossTheBoundary(t *testing.T) {
	conn := launch(t, demoSpec(t), clock.Real{})
	carol, err := conn.LookupUser(context.Background(), "carol")
	if err != nil {
		t.Fatal(err)
	}
	if carol.Manager != "6f1c2a4e-0001-4a1b-9c01-000000000001" || carol.Attributes["department"] != "payments" || carol.Attributes["title"] != "Engineer" {
		t.Fatalf("carol through the plugin: %+v", carol)
	}
}

// errorConn answers LookupUser(name) with the sentinel whose text is name.
type errorConn struct{}

func (errorConn) Describe() connectors.Description { return connectors.Description{Kind: "errors"} }
func (errorConn) Check(context.Context) error      { return nil }
func (errorConn) Close() error                     { return nil }
func (errorConn) LookupUser(_ context.Context, name string) (connectors.User, error) {
	if name == "rate" {
		return connectors.User{}, fmt.Errorf("okta: %w", &connectors.RateLimitError{Wait: 42 * time.Second})
	}
	for _, s := range connectors.Sentinels {
		if s.Error() == name {
			return connectors.User{}, fmt.Errorf("ldap: lookup: %w", s)
		}
	}
	return connectors.User{}, errors.New("something unexpected")
}
func (errorConn) LookupGroup(context.Context, string) (connectors.Group, error) {
	return connectors.Group{}, connectors.ErrNotFound
}

func TestErrors_EverySentinelSurvivesTheRoundTrip(t *testing.T) {
	c := launch(t, Spec{Directory: "e", Command: selfCommand("errors"), Settings: struct{}{}}, clock.Real{})
	if caps := connectors.Capabilities(c); len(caps) != 1 || caps[0] != connectors.CapLookup {
		t.Fatalf("remote capabilities = %v, want [lookup] only", caps)
	}
	if _, ok := connectors.AsMembershipManager(c); ok {
		t.Fatal("plugin client claims membership although the child has none")
	}
	for _, sentinel := range connectors.Sentinels {
		t.Run(sentinel.Error(), func(t *testing.T) {
			_, err := c.LookupUser(context.Background(), sentinel.Error())
			if !errors.Is(err, sentinel) {
				t.Fatalf("over gRPC: %v does not match %v", err, sentinel)
			}
			for _, other := range connectors.Sentinels {
				if other != sentinel && errors.Is(err, other) {
					t.Fatalf("%v also matches %v", err, other)
				}
			}
			if got := fromPB(toPB(fmt.Errorf("x: %w", sentinel))); !errors.Is(got, sentinel) {
				t.Fatalf("per-member result: %v does not match %v", got, sentinel)
			}
		})
	}
	_, err := c.LookupUser(context.Background(), "rate")
	if wait, ok := connectors.RetryAfter(err); !ok || wait != 42*time.Second || !errors.Is(err, connectors.ErrRateLimited) {
		t.Fatalf("rate limit over gRPC: %v (wait %s)", err, wait)
	}
	_, err = c.LookupUser(context.Background(), "other")
	if err == nil || !connectors.Retryable(err) || err.Error() != "something unexpected" {
		t.Fatalf("unknown error over gRPC: %v", err)
	}
}

func TestLaunch_ChecksumIsEnforced(t *testing.T) {
	body, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	spec := demoSpec(t)
	spec.SHA256 = hex.EncodeToString(sum[:])
	launch(t, spec, clock.Real{})

	spec.SHA256 = hex.EncodeToString(make([]byte, 32))
	_, err = Launch(context.Background(), spec, quiet, clock.Real{})
	if !errors.Is(err, connectors.ErrPermission) {
		t.Fatalf("mismatched checksum: %v, want a refusal (ErrPermission)", err)
	}
}

func TestLaunch_BadSettingsAreRefused(t *testing.T) {
	spec := demoSpec(t)
	spec.Settings = map[string]any{"file": "x.json", "colour": "blue"}
	_, err := Launch(context.Background(), spec, quiet, clock.Real{})
	if !errors.Is(err, connectors.ErrInvalid) {
		t.Fatalf("unknown setting: %v, want ErrInvalid", err)
	}
}

// waitExited polls a real process's exit with a deadline.
func waitExited(t *testing.T, c *Conn) {
	t.Helper()
	poll.Until(t, 10*time.Second, "the killed child to exit", c.Exited)
}

func TestPlugin_KilledChildIsRestartedAndDueRevocationsHappen(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	conn := launch(t, demoSpec(t), clk)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dirs := directories.Set{"demo": {Name: "demo", Conn: conn, Groups: map[string]directories.GroupPolicy{"prod-db-admins": {}}}}
	reg := directories.NewRegistry(dirs, 0)
	sched := expiry.New(expiry.Config{Owner: "t"}, st, reg, clk, quiet, nil, nil)
	mgr := grant.New(grant.Config{MinDuration: time.Minute}, st, reg, clk, quiet, sched.Wake)
	var ids []string
	for _, u := range []string{"alice", "bob", "carol"} {
		g, err := mgr.Add(ctx, grant.AddRequest{User: u, Group: "prod-db-admins", Duration: 5 * time.Minute, Reason: "INC-7", Actor: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.ID)
	}

	pid := conn.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExited(t, conn)
	clk.Advance(5 * time.Minute)
	for range 10 { // the first pass restarts the child; retries follow the backoff
		if _, err := sched.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		next, ok, _ := st.NextDue(ctx)
		if !ok {
			break
		}
		clk.Set(next)
	}
	for _, id := range ids {
		g, _ := st.Grant(ctx, id)
		if g.State != store.StateRevoked {
			t.Fatalf("grant %s is %s after the child was killed (%s)", id, g.State, g.LastError)
		}
	}
	if conn.Pid() == pid || conn.Pid() == 0 {
		t.Fatal("child was not restarted")
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		user, _ := conn.LookupUser(ctx, u)
		group, _ := conn.LookupGroup(ctx, "prod-db-admins")
		if ok, _ := conn.IsMember(ctx, group.ID, user.ID); ok {
			t.Fatalf("%s is still a member", u)
		}
	}
}

func TestPlugin_CrashLoopBacksOff(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	conn := launch(t, demoSpec(t), clk)
	good := conn.spec.Command
	conn.spec.Command = func() *exec.Cmd { return exec.Command("/bin/false") }
	syscall.Kill(conn.Pid(), syscall.SIGKILL)
	waitExited(t, conn)
	ctx := context.Background()
	if err := conn.Check(ctx); !errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("child that will not start: %v, want ErrUnavailable", err)
	}
	conn.spec.Command = good
	if err := conn.Check(ctx); !errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("restart attempted before its backoff: %v", err)
	}
	clk.Advance(time.Second)
	if err := conn.Check(ctx); err != nil {
		t.Fatalf("restart after the backoff: %v", err)
	}
}
