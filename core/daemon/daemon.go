// Package daemon wires jitd together from a validated configuration and runs
// it: the store, one connector child per directory, the grant manager, the
// expiry queue and the HTTP API. It owns every goroutine it starts.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/config"
	"github.com/jitd/jitd/core/datadir"
	"github.com/jitd/jitd/core/health"
	"github.com/jitd/jitd/core/portal"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
	"github.com/jitd/jitd/plugins"
)

// Options are what the daemon needs beyond the config.
type Options struct {
	// Binary is jitd's own executable, re-executed for built-in connectors.
	Binary string
	Log    *slog.Logger
	Clock  clock.Clock
	// Ready, when set, is called with the API address once it is listening.
	Ready func(addr string)
	// Reload delivers a request to reload the configuration (SIGHUP); Load
	// reads it again. Level is the log's level, which a reload may change.
	Reload <-chan struct{}
	Load   func() (*config.Config, error)
	Level  *slog.LevelVar
	// Version is jitd's version, for jitd_build_info.
	Version string
}

// Daemon is a running jitd: the store, the connector children, the health
// watch, and the graph of components Build wired onto them.
type Daemon struct {
	*Graph
	cfg       *config.Config
	opts      Options
	store     *sqlite.Store
	conns     []*plugins.Conn
	health    *health.Watch
	auditKeys *audit.Keys
	reg       *prometheus.Registry
	// applied is the configuration running now: the one started with and
	// the settings reloads have changed since.
	applied *config.Config
}

// Run starts jitd and blocks until ctx is cancelled (SIGTERM), then drains:
// the API stops accepting requests, in-flight directory calls finish and
// their outcome is recorded, connector children are stopped.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	// One daemon per data directory: a second would claim the same work
	// under the same instance id.
	release, err := datadir.Lock(cfg.DataDir)
	if err != nil {
		return err
	}
	defer release()
	d := &Daemon{cfg: cfg, opts: opts, reg: prometheus.NewRegistry(), applied: cfg}
	defer d.close()
	if err := d.start(ctx); err != nil {
		return err
	}
	return d.serve(ctx)
}

func (d *Daemon) start(ctx context.Context) error {
	log := d.opts.Log
	st, err := sqlite.Open(ctx, filepath.Join(d.cfg.DataDir, "jitd.db"))
	if err != nil {
		return err
	}
	d.store = st
	head, _, err := st.AuditHead(ctx)
	if err != nil {
		return err
	}
	keys, err := audit.LoadKeys(filepath.Join(d.cfg.DataDir, "audit.key"), head)
	if err != nil {
		return err
	}
	st.SetAuditKeys(keys)
	d.auditKeys = &keys
	created, err := auth.EnsureAdminToken(ctx, st, d.cfg.Server.AdminTokenFile, d.opts.Clock.Now())
	if err != nil {
		return err
	}
	if created {
		log.Info("first start: wrote an admin API token; export JITD_TOKEN=$(cat FILE) to use the CLI", "file", d.cfg.Server.AdminTokenFile)
	}

	d.health = health.New(health.Config{AlertAfter: d.cfg.Expiry.AlertAfter}, d.opts.Clock, log, d.reg,
		health.Hooks{Down: d.directoryDown, Back: d.directoryBack})
	conns := map[string]connectors.Connector{}
	for _, dc := range d.cfg.Directories {
		spec := connectorSpec(d.cfg, dc, d.opts.Binary)
		spec.Observer = d.health.Observer(dc.Name)
		conn, err := plugins.Launch(ctx, spec, log, d.opts.Clock)
		if err != nil {
			return fmt.Errorf("directory %s: %w", dc.Name, err)
		}
		d.conns = append(d.conns, conn)
		conns[dc.Name] = conn
		// The watch probes it at once and says so if it does not answer: a
		// directory that hangs must not hold up the start of the others.
		d.health.Add(dc.Name, conn)
	}
	if err := d.checkSchemas(ctx); err != nil {
		return err
	}
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &grantsCollector{store: st}, buildInfo(d.opts.Version))
	d.Graph, err = Build(Deps{Config: d.cfg, Store: st, Conns: conns, Clock: d.opts.Clock, Log: log, Metrics: d.reg, Health: d.health})
	return err
}

// resume finishes what a crash interrupted: grants whose add had no
// recorded outcome, requests approved but not yet granted. It runs beside
// the queues (the scheduler takes back its own leases when it starts), so a
// directory that hangs does not hold up the start.
func (d *Daemon) resume(ctx context.Context) error {
	if err := d.Grants.Resume(ctx); err != nil {
		return err
	}
	if err := d.Requests.Resume(ctx); err != nil {
		return err
	}
	if d.SCIM != nil {
		found, err := d.SCIM.ProtectedInArea(ctx)
		for _, g := range found {
			d.opts.Log.Warn("a group jitd's configuration names lies inside scim's provisioning.group_base; SCIM may not touch it, but move it out of that OU or narrow the OU",
				"directory", d.cfg.SCIM.Directory, "group", g)
		}
		if err != nil {
			d.opts.Log.Warn("could not look for configured groups inside the provisioning area", "directory", d.cfg.SCIM.Directory, "err", err)
		}
	}
	return nil
}

func (d *Daemon) serve(ctx context.Context) error {
	log := d.opts.Log
	handler := api.NewServer(api.Deps{Store: d.store, Grants: d.Grants, Accounts: d.Accounts, Mirror: d.Mirror, Reconcile: d.Reconcile,
		Policy: d.Policy, Requests: d.Requests, Reviews: d.Reviews, Invites: d.Invites, Links: d.Links, OIDC: d.OIDC, Sessions: d.Browser, SlackSecrets: d.Notifier.SlackSecrets(),
		SlackHTTP: &http.Client{Timeout: 10 * time.Second}, DefaultDirectory: d.defaultDirectory(), SCIM: d.SCIM, Metrics: d.reg, Ready: d.readiness, Clock: d.opts.Clock, Log: log, AuditKeys: d.auditKeys})
	handler.MountPages(portal.New(portal.Deps{API: handler.Local(), Sessions: d.Browser, OIDC: d.OIDC != nil && d.OIDC.BrowserLogin(), Demo: d.Demo,
		TLS: d.cfg.Server.TLSCertFile != "", Clock: d.opts.Clock, Log: log}))
	srv := api.NewHTTPServer(handler, log)
	ln, err := net.Listen("tcp", d.cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", d.cfg.Server.Listen, err)
	}
	schedCtx, stopSched := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	cp := &audit.Checkpointer{Keys: *d.auditKeys, Head: d.store.AuditHead, File: filepath.Join(d.cfg.DataDir, "audit.checkpoints"), Clock: d.opts.Clock, Log: log,
		Announce: func(ctx context.Context, line string) (int64, error) {
			e, err := store.Append(ctx, d.store, audit.Event{Time: d.opts.Clock.Now(), Actor: "jitd", Action: audit.CheckpointMade, Detail: line})
			return e.Seq, err
		}}
	wg.Add(13)
	go func() {
		defer wg.Done()
		d.Retention.Run(schedCtx)
	}()
	go func() {
		defer wg.Done()
		cp.Run(schedCtx)
	}()
	go func() {
		defer wg.Done()
		d.Sessions.Run(schedCtx)
	}()
	go func() {
		defer wg.Done()
		if err := d.resume(schedCtx); err != nil && schedCtx.Err() == nil {
			errc <- fmt.Errorf("resume interrupted work: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		d.Notifier.Run(schedCtx)
	}()
	go func() {
		defer wg.Done()
		d.SIEM.Run(schedCtx)
	}()
	go func() {
		defer wg.Done()
		d.health.Run(schedCtx)
	}()
	go func() {
		defer wg.Done()
		if err := d.Requests.Run(schedCtx); err != nil {
			errc <- fmt.Errorf("requests: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		d.Mirror.Run(schedCtx)
	}()
	go func() {
		defer wg.Done()
		d.Reviews.Run(schedCtx)
	}()
	go func() {
		defer wg.Done()
		if err := d.Accounts.Run(schedCtx); err != nil {
			errc <- fmt.Errorf("accounts: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := d.Queue.Run(schedCtx); err != nil {
			errc <- fmt.Errorf("expiry: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		var err error
		if d.cfg.Server.TLSCertFile != "" {
			err = srv.ServeTLS(ln, d.cfg.Server.TLSCertFile, d.cfg.Server.TLSKeyFile)
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	scheme := "http"
	if d.cfg.Server.TLSCertFile != "" {
		scheme = "https"
	}
	log.Info("jitd serving", "addr", scheme+"://"+ln.Addr().String(), "directories", len(d.Dirs), "data_dir", d.cfg.DataDir)
	if d.opts.Ready != nil {
		d.opts.Ready(ln.Addr().String())
	}
	sd := newSDNotifier(log)
	sd.send("READY=1\nSTATUS=serving on " + ln.Addr().String())
	wg.Add(1)
	go func() {
		defer wg.Done()
		sd.watchdog(schedCtx, func(ctx context.Context) error {
			_, _, err := d.store.NextDue(ctx) // the store answers
			return err
		})
	}()
	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down: finishing in-flight directory calls")
			break wait
		case runErr = <-errc:
			break wait
		case <-d.opts.Reload:
			sd.send(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
			d.reload()
			sd.send("READY=1")
		}
	}
	sd.send("STOPPING=1")
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv.Shutdown(shutCtx)
	stopSched() // Run returns after the pass in flight has recorded its outcome
	wg.Wait()
	log.Info("stopped")
	return runErr
}

// directoryDown is the watch's alert: a directory has not answered for
// expiry.alert_after. It is audited, so the notifier sends it to the
// channels like any alert.
func (d *Daemon) directoryDown(dir string, since time.Time, err error) {
	detail := fmt.Sprintf("no answer since %s", since.UTC().Format(time.RFC3339))
	if err != nil {
		detail += ": " + err.Error()
	}
	d.auditDirectory(audit.DirectoryUnreachable, dir, detail)
}

// directoryBack wakes every piece of work that waits for a directory that
// answers again: removals and account steps in backoff are due now, and the
// mirror syncs.
func (d *Daemon) directoryBack(dir string, downFor time.Duration, alerted bool) {
	var woken []string
	for _, q := range []struct {
		what  string
		retry func(context.Context, string) (int, error)
	}{{"removals", d.Queue.RetryNow}, {"account steps", d.Accounts.RetryNow}, {"session ends", d.Sessions.RetryNow}} {
		n, err := q.retry(context.Background(), dir)
		if err != nil {
			d.opts.Log.Error("directory answers again, but work waiting for it could not be woken; it keeps its backoff", "directory", dir, "work", q.what, "err", err)
		}
		woken = append(woken, fmt.Sprintf("%d %s", n, q.what))
	}
	d.Mirror.Wake(dir)
	if alerted {
		d.auditDirectory(audit.DirectoryAnswering, dir, fmt.Sprintf("after %s; retried now: %s", downFor.Round(time.Second), strings.Join(woken, ", ")))
	}
}

func (d *Daemon) auditDirectory(action, dir, detail string) {
	_, err := store.Append(context.Background(), d.store, audit.Event{Time: d.opts.Clock.Now(), Actor: "jitd", Action: action, Directory: dir, Detail: detail})
	if err != nil {
		d.opts.Log.Error("audit "+action, "directory", dir, "err", err)
	}
}

// defaultDirectory is the only directory's name, or "".
func (d *Daemon) defaultDirectory() string {
	if len(d.cfg.Directories) == 1 {
		return d.cfg.Directories[0].Name
	}
	return ""
}

func (d *Daemon) readiness(ctx context.Context) map[string]error {
	out := map[string]error{}
	_, _, err := d.store.NextDue(ctx)
	out["store"] = err
	for name, dir := range d.Dirs {
		err := dir.Conn.Check(ctx)
		if st, serr := d.store.SyncState(ctx, name); err == nil && serr == nil && st.LastError != "" {
			err = fmt.Errorf("last sync failed at %s: %s", st.LastErrorAt.Format(time.RFC3339), st.LastError)
		}
		out["directory:"+name] = err
	}
	return out
}

func (d *Daemon) close() {
	for _, c := range d.conns {
		c.Close()
	}
	if d.store != nil {
		d.store.Close()
	}
}

// grantsCollector reports jitd_grants{state} from the store at scrape time.
type grantsCollector struct{ store store.Grants }

var grantsDesc = prometheus.NewDesc("jitd_grants", "Grants by state.", []string{"state"}, nil)

func (c *grantsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- grantsDesc }

func (c *grantsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.store.CountGrants(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(grantsDesc, err)
		return
	}
	for _, s := range store.States {
		ch <- prometheus.MustNewConstMetric(grantsDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}

// buildInfo is jitd_build_info: always 1, labelled with what is running.
func buildInfo(version string) prometheus.Collector {
	commit := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "jitd_build_info", Help: "The running jitd (always 1): its version, commit and Go version."},
		[]string{"version", "commit", "go_version"})
	g.WithLabelValues(cmp.Or(version, "dev"), commit, runtime.Version()).Set(1)
	return g
}
