package okta

import (
	"context"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/expiry"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/fixtures/oktafake"
)

// queueEnv is the expiry queue in front of this connector and a fake org, all
// on one fake clock.
type queueEnv struct {
	t      *testing.T
	clock  *clock.Fake
	org    *oktafake.Server
	conn   *Conn
	store  *sqlite.Store
	sched  *expiry.Scheduler
	token  string // the token file's path
	group  string
	users  []string
	alerts []string
}

func newQueueEnv(t *testing.T, users int) *queueEnv { return newQueueEnvShare(t, users, 0) }

// newQueueEnvShare is newQueueEnv with rate_limit_share (0: the default).
func newQueueEnvShare(t *testing.T, users, share int) *queueEnv {
	t.Helper()
	e := &queueEnv{t: t, clock: clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))}
	e.org = oktafake.New(e.clock.Now)
	t.Cleanup(e.org.Close)
	e.group = e.org.AddGroup("prod-db-admins", "OKTA_GROUP")
	for i := range users {
		e.users = append(e.users, e.org.AddUser(fmt.Sprintf("u%d@example.com", i), "U", fmt.Sprint(i)))
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.org.Certificate().Raw}), 0o600)
	e.token = filepath.Join(dir, "token")
	os.WriteFile(e.token, []byte(e.org.Token), 0o600)
	conn, err := newConn(Config{OrgURL: e.org.URL, APITokenFile: e.token, CAFile: ca, RateLimitShare: share}, e.clock.Now, func(time.Duration) {})
	if err != nil {
		t.Fatal(err)
	}
	e.conn = conn
	// Everyone is a member, by jitd grants that are all due at once.
	if _, err := conn.AddMembers(context.Background(), e.group, e.users); err != nil {
		t.Fatal(err)
	}
	e.store, err = sqlite.Open(context.Background(), filepath.Join(dir, "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	now := e.clock.Now()
	err = e.store.Update(context.Background(), func(tx store.Tx) error {
		for i, u := range e.users {
			g := store.Grant{ID: fmt.Sprint("g-", i), Directory: "okta", GroupID: e.group, GroupName: "prod-db-admins", UserID: u, UserName: fmt.Sprintf("u%d", i),
				State: store.StateActive, Reason: "r", CreatedBy: "admin", StartsAt: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
			if err := tx.InsertGrant(g); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dirs := directories.Set{"okta": {Name: "okta", Conn: conn}}
	e.sched = expiry.New(expiry.Config{Owner: "t"}, e.store, directories.NewRegistry(dirs, 0), e.clock, slog.New(slog.DiscardHandler), nil,
		func(g store.Grant, err error) { e.alerts = append(e.alerts, err.Error()) })
	return e
}

// drain runs the queue, moving the clock to each next attempt, until nothing
// is due within limit.
func (e *queueEnv) drain(limit time.Duration) {
	e.t.Helper()
	end := e.clock.Now().Add(limit)
	for {
		if _, err := e.sched.RunOnce(context.Background()); err != nil {
			e.t.Fatal(err)
		}
		next, ok, _ := e.store.NextDue(context.Background())
		if !ok || next.After(end) {
			return
		}
		e.clock.Set(next)
	}
}

func (e *queueEnv) count(s store.State) int {
	c, _ := e.store.CountGrants(context.Background())
	return c[s]
}

// A burst of 2,000 revocations under a limit of 600 requests a minute: all
// are removed, none is marked failed for being throttled, and jitd keeps to
// its share of the bucket (default half: 300 a minute, the calls in flight
// counted), or takes all of it with rate_limit_share: 100.
func TestQueue_BurstUnderTheOrgRateLimit(t *testing.T) {
	for _, c := range []struct {
		share      int
		peak       int           // most requests in one minute
		from, upto time.Duration // when the last removal comes
	}{
		{0, 300, 6 * time.Minute, 6*time.Minute + 30*time.Second},   // 2,000 at 300 a minute
		{100, 600, 3 * time.Minute, 3*time.Minute + 30*time.Second}, // 2,000 at 600 a minute
	} {
		t.Run(fmt.Sprint("share ", c.share), func(t *testing.T) {
			const n, perMinute = 2000, 600
			e := newQueueEnvShare(t, n, c.share)
			e.org.SetRateLimit(perMinute)
			e.clock.Advance(time.Hour) // all 2,000 fall due in the same instant
			due := e.clock.Now()
			e.drain(time.Hour)
			if got := e.count(store.StateRevoked); got != n {
				t.Fatalf("%d of %d revoked", got, n)
			}
			evs, _ := e.store.AuditEvents(context.Background(), store.AuditFilter{})
			for _, ev := range evs {
				if ev.Action == audit.GrantRevokeFailed {
					t.Fatalf("a revocation was marked failed while merely throttled: %+v", ev)
				}
			}
			for _, u := range e.users {
				if e.org.IsMember(e.group, u) {
					t.Fatal("a member is left")
				}
			}
			if peak := e.org.PeakUse(); peak > c.peak {
				t.Fatalf("jitd made %d requests in one minute; its share is %d", peak, c.peak)
			}
			gs, _ := e.store.Grants(context.Background(), store.GrantFilter{})
			var latest time.Duration
			for _, g := range gs {
				latest = max(latest, g.EndedAt.Sub(due))
			}
			if latest < c.from || latest > c.upto {
				t.Fatalf("the last removal came %s after expiry; the limit and share imply %s to %s", latest, c.from, c.upto)
			}
			t.Logf("2,000 removals under %d/min, share %d: the last %s after expiry, at most %d requests a minute", perMinute, c.share, latest, e.org.PeakUse())
		})
	}
}

func TestQueue_TokenRevokedMidRunThenFixed(t *testing.T) {
	e := newQueueEnv(t, 20)
	e.org.SetToken("rotated-token") // the old token stops working
	e.clock.Advance(time.Hour)
	e.drain(time.Minute)
	if got := e.count(store.StateRevokeFailed); got != 20 {
		t.Fatalf("%d of 20 grants revoke_failed with a revoked token", got)
	}
	if len(e.alerts) == 0 || !strings.Contains(e.alerts[0], "api_token_file") {
		t.Fatalf("alerts %v; want one that says to fix the token", e.alerts)
	}
	// The operator writes the new token into the file: no restart needed.
	os.WriteFile(e.token, []byte("rotated-token"), 0o600)
	e.drain(time.Hour)
	if got := e.count(store.StateRevoked); got != 20 {
		t.Fatalf("%d of 20 revoked after the token was fixed", got)
	}
}

func TestQueue_ServerErrorStormThenRecovery(t *testing.T) {
	e := newQueueEnv(t, 20)
	e.org.Fail503(60) // a storm: every request fails for a while, retries included
	e.clock.Advance(time.Hour)
	e.drain(time.Hour)
	if got := e.count(store.StateRevoked); got != 20 {
		t.Fatalf("%d of 20 revoked after a 5xx storm", got)
	}
	for _, u := range e.users {
		if e.org.IsMember(e.group, u) {
			t.Fatal("a member is left after the storm")
		}
	}
	gs, _ := e.store.Grants(context.Background(), store.GrantFilter{})
	retried := 0
	for _, g := range gs {
		if g.Attempts > 0 {
			retried++
		}
	}
	if retried == 0 {
		t.Fatal("the storm caused no failed attempt: it did not reach the queue")
	}
}
