package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/account"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/config"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/expiry"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/health"
	"github.com/jitd/jitd/core/invite"
	"github.com/jitd/jitd/core/notify"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/retention"
	"github.com/jitd/jitd/core/review"
	"github.com/jitd/jitd/core/scim"
	"github.com/jitd/jitd/core/siem"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/sync/mirror"
	"github.com/jitd/jitd/sync/reconcile"
)

// Graph is jitd's components, wired from a configuration, a ready store and
// one connector per directory. Build is the one place that wiring is
// written: the daemon runs the graph, and tests that follow work through
// several components (fixtures/pipeline) build it the same way.
type Graph struct {
	Dirs      directories.Set
	Registry  *directories.Registry
	Queue     *expiry.Scheduler
	Sessions  *expiry.Sessions
	Grants    *grant.Manager
	Mirror    *mirror.Mirror
	Reconcile *reconcile.Reconciler
	Accounts  *account.Manager
	Requests  *request.Manager
	Invites   *invite.Manager
	Reviews   *review.Manager
	Notifier  *notify.Notifier
	SIEM      *siem.Stream // the audit log to its sinks (none: idle)
	Retention *retention.Eraser
	Links     *notify.Links
	OIDC      *auth.OIDC     // nil without auth.oidc
	Browser   *auth.Sessions // browser sessions; nil without auth.oidc or auth.demo
	Demo      *auth.People   // the demo sign-in; nil without auth.demo
	SCIM      *scim.Server   // nil without scim
	Policy    *policy.Policy // the compiled policy requests start with
}

// Deps are what Build wires the components onto.
type Deps struct {
	Config *config.Config
	Store  *sqlite.Store
	// Conns has a connector for every configured directory.
	Conns map[string]connectors.Connector
	Clock clock.Clock
	Log   *slog.Logger
	// Metrics receives every component's metrics.
	Metrics *prometheus.Registry
	// Health, when set, tells the expiry queue which directories have come
	// back (a removal that failed during an outage is retried at once).
	Health *health.Watch
}

// Build wires the components. It starts nothing: each component's Run is
// the caller's to start (the daemon's serve), or a test drives RunOnce.
func Build(deps Deps) (*Graph, error) {
	cfg, st, clk, log, reg := deps.Config, deps.Store, deps.Clock, deps.Log, deps.Metrics
	g := &Graph{Dirs: directories.Set{}, Policy: cfg.CompiledPolicy()}
	sources := map[string]mirror.Source{}
	policies := map[string]reconcile.Policy{}
	for _, dc := range cfg.Directories {
		conn, ok := deps.Conns[dc.Name]
		if !ok {
			return nil, fmt.Errorf("directory %s: no connector", dc.Name)
		}
		groups := map[string]directories.GroupPolicy{}
		rp := reconcile.Policy{RevertDrift: dc.Reconcile.Drift == "revert", RevokeBaseline: dc.Reconcile.Baseline == "revoke"}
		for _, gc := range dc.Groups {
			groups[gc.Name] = directories.GroupPolicy{MaxDuration: gc.MaxDuration, EndSessions: gc.EndSessions, Owners: gc.Owners}
			rp.Groups = append(rp.Groups, gc.Name)
		}
		g.Dirs[dc.Name] = &directories.Directory{Name: dc.Name, Conn: conn, Groups: groups}
		sources[dc.Name] = mirror.Source{Conn: conn, Interval: dc.SyncInterval}
		policies[dc.Name] = rp
	}
	g.Registry = directories.NewRegistry(g.Dirs, cfg.Expiry.CallTimeout)

	// The queues log each alert once, as an ALERT line; the notifier reads
	// the same transitions from the audit log and sends them on.
	g.Sessions = expiry.NewSessions(expiry.Config{MaxAttempts: cfg.Expiry.MaxAttempts}, st, g.Registry, clk, log, nil)
	g.Queue = expiry.New(cfg.Expiry, st, g.Registry, clk, log, expiry.NewMetrics(reg), nil)
	g.Queue.Health, g.Queue.Sessions = deps.Health, g.Sessions
	g.Grants = grant.New(cfg.Grants, st, g.Registry, clk, log, g.Queue.Wake)
	g.Mirror = mirror.New(mirror.Config{}, st, sources, clk, log, mirror.NewMetrics(reg))
	g.Reconcile = reconcile.New(st, g.Grants, policies, clk, log, reconcile.NewMetrics(reg))
	g.Accounts = account.New(cfg.Accounts, st, g.Registry, g.Grants, clk, log, nil)
	g.Reconcile.Sponsors = g.Accounts
	g.Mirror.OnSynced = func(ctx context.Context, dir string, asOf time.Time) error {
		_, err := g.Reconcile.Reconcile(ctx, dir, asOf)
		return err
	}

	g.Requests = request.New(cfg.Policy.Requests, st, g.Policy, g.Grants, clk, log)
	g.Requests.FirstSync = func(ctx context.Context, dir string) error {
		_, err := g.Mirror.Sync(ctx, dir, true)
		return err
	}
	if rc := cfg.Policy.Risk; rc != nil {
		risk, err := policy.NewHTTPRisk(*rc, nil)
		if err != nil {
			return nil, err
		}
		g.Requests.Risk = risk
	}
	g.Invites = invite.New(st, g.Requests, g.Accounts, g.Grants, g.Dirs, cfg.Accounts.MaxDuration, clk, log)
	g.Requests.Onboarder = g.Invites
	g.Reviews = review.New(cfg.Reviews, st, g.Dirs, g.Grants, g.Accounts, clk, log)
	g.Reviews.MaxText = cfg.Grants.MaxText

	linkKey, err := auth.LoadKey(orDefault(cfg.Notify.LinkKeyFile, filepath.Join(cfg.DataDir, "link.key")))
	if err != nil {
		return nil, err
	}
	if g.Links, err = notify.NewLinks(linkKey); err != nil {
		return nil, err
	}
	if g.Notifier, err = notify.New(cfg.Notify, st, g.Links, clk, log, reg, nil); err != nil {
		return nil, err
	}
	g.Notifier.CanDecide = g.Requests.ReportingLine
	g.SIEM = siem.New(cfg.SIEM, cfg.DataDir, st, clk, log, siem.NewMetrics(reg))
	g.Retention = &retention.Eraser{Store: st, Clock: clk, Log: log, Retention: cfg.Audit.PersonalDataRetention}
	st.OnAudit(func() {
		g.Notifier.Wake()
		g.SIEM.Wake()
	})

	if cfg.Auth.OIDC != nil || cfg.Auth.Demo != nil {
		key, err := auth.LoadKey(orDefault(cfg.Auth.SessionKeyFile, filepath.Join(cfg.DataDir, "session.key")))
		if err != nil {
			return nil, err
		}
		if o := cfg.Auth.OIDC; o != nil {
			if g.OIDC, err = auth.NewOIDC(*o, st, key, clk.Now, nil, log); err != nil {
				return nil, err
			}
			g.Browser = g.OIDC.Sessions()
		}
		if dm := cfg.Auth.Demo; dm != nil {
			people := auth.NewPeople(st, dm.Directory, dm.Roles)
			g.Demo = &people
			if g.Browser == nil {
				g.Browser = auth.NewSessions(key, *g.Demo, 8*time.Hour, cfg.Server.TLSCertFile != "", clk.Now)
			}
		}
	}
	if g.SCIM, err = buildSCIM(cfg, g, st, clk, log, reg); err != nil {
		return nil, err
	}
	return g, nil
}

// buildSCIM builds the SCIM server over its directory's connector.
func buildSCIM(cfg *config.Config, g *Graph, st *sqlite.Store, clk clock.Clock, log *slog.Logger, reg *prometheus.Registry) (*scim.Server, error) {
	sc := cfg.SCIM
	if sc == nil {
		return nil, nil
	}
	dir, ok := g.Dirs[sc.Directory]
	if !ok {
		return nil, fmt.Errorf("scim: no directory %q", sc.Directory)
	}
	var flavor string
	for _, dc := range cfg.Directories {
		if dc.Name == sc.Directory {
			flavor = dialect(dc)
		}
	}
	return scim.New(scim.Deps{Config: *sc, Conn: dir.Conn, Flavor: flavor, Protected: cfg.ProtectedGroups(), ProtectedUsers: cfg.ProtectedUsers(),
		Store: st, Clock: clk, Log: log,
		DocumentationURL: "https://github.com/jitd/jitd/blob/main/docs/scim.md", Changed: func() { g.Mirror.Wake(sc.Directory) }, Metrics: reg})
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
