package ldap_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/plugins"
)

// outcomes is a plugins.Observer that keeps what it was told.
type outcomes struct {
	mu   sync.Mutex
	errs []error
}

func (o *outcomes) Begin() func(error) {
	return func(err error) { o.mu.Lock(); o.errs = append(o.errs, err); o.mu.Unlock() }
}

func (o *outcomes) last() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.errs) == 0 {
		return errors.New("no call observed")
	}
	return o.errs[len(o.errs)-1]
}

// freeze stops slapd (SIGSTOP) until the end of the test.
func freeze(t *testing.T) {
	t.Helper()
	if err := srv.Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Thaw() })
}

func idsOf(t *testing.T, c connectors.Connector, user, group string) (string, string) {
	t.Helper()
	res, _ := connectors.AsResolver(c)
	u, err := res.LookupUser(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	g, err := res.LookupGroup(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID, g.ID
}

// A frozen server accepts connections and answers nothing. A removal
// through the plugin must fail at the call timeout, as unavailable (to be
// retried), and the observer must hear of it; a stream gets the same bound
// per message. Once the server goes on, the next call works.
func TestOutage_FrozenServerCallsAreCutAtTheCallTimeoutThroughThePlugin(t *testing.T) {
	f := fixture(t, config(t))
	obs := &outcomes{}
	c, err := plugins.Launch(context.Background(), plugins.Spec{Directory: "corp", Settings: config(t), CallTimeout: time.Second, Observer: obs,
		Command: func() *exec.Cmd {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "JITD_TEST_PLUGIN=ldap")
			return cmd
		}}, slog.New(slog.DiscardHandler), clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	user, group := idsOf(t, c, "alice", f.Group) // a pooled, bound connection
	freeze(t)

	for name, call := range map[string]func() error{
		"RemoveMembers": func() error { _, err := c.RemoveMembers(context.Background(), group, []string{user}); return err },
		"Check":         func() error { return c.Check(context.Background()) },
		"ListUsers":     func() error { return c.ListUsers(context.Background(), func(connectors.User) error { return nil }) },
	} {
		began := time.Now()
		err := call()
		took := time.Since(began)
		if !errors.Is(err, connectors.ErrUnavailable) {
			t.Fatalf("%s on a frozen server: %v, want ErrUnavailable", name, err)
		}
		if took < time.Second || took > 5*time.Second {
			t.Fatalf("%s on a frozen server returned after %s, want at the 1s call timeout", name, took)
		}
		if !errors.Is(obs.last(), connectors.ErrUnavailable) {
			t.Fatalf("%s: the observer was told %v", name, obs.last())
		}
	}
	srv.Thaw()
	if err := c.Check(context.Background()); err != nil {
		t.Fatalf("check once the server goes on: %v", err)
	}
	if obs.last() != nil {
		t.Fatalf("the observer was not told of the success: %v", obs.last())
	}
}

// In process, the caller's deadline is what bounds a call: go-ldap takes no
// context, so the connector closes the connection when ctx ends, on a
// pooled connection as on a new one (whose TLS handshake hangs).
func TestOutage_FrozenServerCallIsCutByTheCallersDeadline(t *testing.T) {
	cfg := config(t)
	cfg.Connections = 2
	c := open(t, cfg)
	f := fixture(t, cfg)
	user, group := idsOf(t, c, "alice", f.Group)
	freeze(t)
	mm, _ := connectors.AsMembershipManager(c)
	for _, name := range []string{"pooled connection", "new connection"} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		began := time.Now()
		_, err := mm.RemoveMembers(ctx, group, []string{user})
		cancel()
		if took := time.Since(began); took > 3*time.Second {
			t.Fatalf("%s: the call returned %s after a 300ms deadline", name, took)
		}
		if !errors.Is(err, connectors.ErrUnavailable) {
			t.Fatalf("%s: %v, want ErrUnavailable", name, err)
		}
	}
}

// After the server restarts, the pooled connections it closed are not
// used: the first call after it answers again succeeds, and Check reports
// a stopped server (no pooled connection passes for a working one).
func TestOutage_RestartedServerIsUsedAtOnce(t *testing.T) {
	cfg := config(t)
	c := open(t, cfg)
	f := fixture(t, cfg)
	user, group := idsOf(t, c, "alice", f.Group)
	srv.Halt()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			srv.Restart()
		}
	})
	if err := c.Check(context.Background()); !errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("check on a stopped server: %v, want ErrUnavailable", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	mm, _ := connectors.AsMembershipManager(c)
	if rs, err := mm.AddMembers(context.Background(), group, []string{user}); err != nil || rs[0].Err != nil {
		t.Fatalf("first call after the restart: %v %+v", err, rs)
	}
	if _, err := mm.RemoveMembers(context.Background(), group, []string{user}); err != nil {
		t.Fatal(err)
	}
}
