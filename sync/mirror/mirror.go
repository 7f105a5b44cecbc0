// Package mirror keeps a local copy of each directory's users, groups and
// memberships. A full sync streams the directory into the store in batches and
// sweeps what it did not see; an incremental sync applies the changes since the
// stored cursor and commits the new cursor in the same transaction.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/work"
)

// Store is the part of jitd's store the mirror uses.
type Store interface {
	store.Updater
	store.Mirror
}

// Config tunes the mirror.
type Config struct {
	// BatchSize is the number of objects written per transaction;
	// MaxBatchRefs bounds the group members written in one, so that memory
	// stays flat however large the groups are and no sync holds the write
	// lock (and with it the expiry queue) for long.
	BatchSize    int
	MaxBatchRefs int
	// MaxPending caps the changes an incremental sync holds before writing
	// them with their cursor; past it, a full sync is cheaper.
	MaxPending int
}

func (c Config) withDefaults() Config {
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.MaxBatchRefs <= 0 {
		c.MaxBatchRefs = 5_000 // about 50 ms of the write lock
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 100_000
	}
	return c
}

// Source is a directory to mirror.
type Source struct {
	Conn connectors.Connector
	// Interval between syncs (incremental where the connector has a change
	// feed, full otherwise); 5 minutes when zero.
	Interval time.Duration
}

// Mirror syncs directories into the store.
type Mirror struct {
	cfg     Config
	store   Store
	sources map[string]Source
	clock   clock.Clock
	log     *slog.Logger
	metrics *Metrics

	mu      sync.Mutex
	locks   map[string]*sync.Mutex // one sync per directory at a time
	wakes   map[string]chan struct{}
	running trackers // the syncs under way, for Progress

	// OnSynced, when set, runs after each successful sync, still holding the
	// directory's sync lock, with the time the sync started reading
	// (reconciliation hooks in here).
	OnSynced func(ctx context.Context, directory string, asOf time.Time) error
}

// New returns a mirror of the given directories. metrics may be nil.
func New(cfg Config, st Store, sources map[string]Source, clk clock.Clock, log *slog.Logger, metrics *Metrics) *Mirror {
	wakes := map[string]chan struct{}{}
	for dir := range sources {
		wakes[dir] = make(chan struct{}, 1)
		metrics.start(dir)
	}
	return &Mirror{cfg: cfg.withDefaults(), store: st, sources: sources, clock: clk, log: log, metrics: metrics, locks: map[string]*sync.Mutex{}, wakes: wakes}
}

// Wake makes Run sync a directory now rather than at its next interval:
// jitd itself changed it (a SCIM client created or disabled someone), and
// the mirror, offboarding and requests should know at once. Wakes that
// arrive while a sync runs fold into one more sync.
func (m *Mirror) Wake(dir string) {
	select {
	case m.wakes[dir] <- struct{}{}:
	default:
	}
}

// Directories lists the mirrored directories, sorted.
func (m *Mirror) Directories() []string {
	var out []string
	for d := range m.sources {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Result describes one sync.
type Result struct {
	Directory string             `json:"directory"`
	Full      bool               `json:"full"`
	Changes   int                `json:"changes"`
	Removed   int                `json:"removed"`
	Duration  time.Duration      `json:"duration_ns"`
	Counts    store.MirrorCounts `json:"counts"`           // after a full sync only
	Reason    string             `json:"reason,omitempty"` // why a full sync ran
	State     store.SyncState    `json:"-"`
}

// ErrNoDirectory: no such directory is configured.
var ErrNoDirectory = errors.New("no such directory")

func (m *Mirror) lock(dir string) func() {
	m.mu.Lock()
	l, ok := m.locks[dir]
	if !ok {
		l = &sync.Mutex{}
		m.locks[dir] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Sync brings one directory's mirror up to date: incrementally when it can,
// fully when asked, when there is no cursor yet, when the connector has no
// change feed, or when the directory no longer accepts the cursor. A sync
// already running for the directory is waited for.
func (m *Mirror) Sync(ctx context.Context, dir string, full bool) (Result, error) {
	src, ok := m.sources[dir]
	if !ok {
		return Result{}, fmt.Errorf("mirror: %q: %w", dir, ErrNoDirectory)
	}
	conn := src.Conn
	defer m.lock(dir)()
	tr := m.running.begin(dir, full, m.clock.Now())
	defer m.running.end(dir)
	ctx = withTracker(ctx, tr)
	start := m.clock.Now()
	state, err := m.store.SyncState(ctx, dir)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Result{}, fmt.Errorf("mirror: %s: %w", dir, err)
	}
	res := Result{Directory: dir}
	feed, hasFeed := connectors.AsChangeFeed(conn)
	switch {
	case full:
		res.Reason = "requested"
	case !hasFeed:
		res.Reason = "the connector has no change feed"
	case state.Cursor == "":
		res.Reason = "no cursor yet"
	default:
		res, err = m.incremental(ctx, feed, state)
		if errors.Is(err, connectors.ErrCursorExpired) || errors.Is(err, errTooManyChanges) {
			m.log.Warn("mirror: cursor not usable; running a full sync", "directory", dir, "reason", err)
			if errors.Is(err, connectors.ErrCursorExpired) {
				state.CursorExpired++
				m.metrics.cursorExpired(dir)
			}
			res = Result{Directory: dir, Reason: err.Error()}
			err = nil
		} else {
			return m.finish(ctx, res, start, err, state)
		}
	}
	res.Full = true
	res, err = m.full(ctx, conn, feed, hasFeed, state, res)
	return m.finish(ctx, res, start, err, state)
}

// afterSync runs the OnSynced hook.
func (m *Mirror) afterSync(ctx context.Context, dir string, asOf time.Time) error {
	if m.OnSynced == nil {
		return nil
	}
	return m.OnSynced(ctx, dir, asOf)
}

// finish records an error in the sync state, and measures.
func (m *Mirror) finish(ctx context.Context, res Result, start time.Time, err error, state store.SyncState) (Result, error) {
	res.Duration = m.clock.Now().Sub(start)
	kind := "incremental"
	if res.Full {
		kind = "full"
	}
	m.metrics.observe(res.Directory, kind, res.Duration, res.Changes, err)
	if err != nil {
		now := m.clock.Now()
		uerr := m.store.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
			cur, gerr := tx.SyncState(res.Directory)
			if gerr != nil && !errors.Is(gerr, store.ErrNotFound) {
				return gerr
			}
			if errors.Is(gerr, store.ErrNotFound) {
				cur = state
			}
			cur.LastError, cur.LastErrorAt = err.Error(), now
			cur.CursorExpired = max(cur.CursorExpired, state.CursorExpired)
			return tx.PutSyncState(cur)
		})
		return res, errors.Join(fmt.Errorf("mirror: %s %s sync: %w", res.Directory, kind, err), uerr)
	}
	if res.Full {
		// Counting reads the whole mirror (5,000,000 memberships take a
		// third of a second): after a full sync only, not after each
		// incremental one, which must cost what its changes cost.
		res.Counts, err = m.store.MirrorCounts(ctx, res.Directory)
	}
	res.State, _ = m.store.SyncState(ctx, res.Directory)
	if herr := m.afterSync(ctx, res.Directory, start); herr != nil {
		err = errors.Join(err, herr)
	}
	if res.Full {
		m.log.Info("mirror: synced", "directory", res.Directory, "kind", kind, "changes", res.Changes, "removed", res.Removed,
			"users", res.Counts.Users, "groups", res.Counts.Groups, "memberships", res.Counts.Members, "duration", res.Duration)
	} else {
		m.log.Info("mirror: synced", "directory", res.Directory, "kind", kind, "changes", res.Changes, "duration", res.Duration)
	}
	return res, err
}

var errTooManyChanges = errors.New("too many changes for one incremental sync")

// incremental applies the changes since the stored cursor. The changes are
// read first (no transaction is held while the directory answers), then
// written in transactions of at most BatchSize objects and MaxBatchRefs
// members, so that a sync of large groups never holds the write lock long
// enough to delay the expiry queue. The cursor is committed with the last
// of them: a sync cut short in between is read again from the old cursor,
// and changes are whole objects, so applying one twice is harmless.
func (m *Mirror) incremental(ctx context.Context, feed connectors.ChangeFeed, state store.SyncState) (Result, error) {
	res := Result{Directory: state.Directory}
	var pending []connectors.Change
	tr := trackerOf(ctx)
	tr.set("reading changes")
	next, err := feed.Changes(ctx, state.Cursor, func(c connectors.Change) error {
		if len(pending) >= m.cfg.MaxPending {
			return errTooManyChanges
		}
		pending = append(pending, c)
		tr.add(1)
		return nil
	})
	if err != nil {
		return res, err
	}
	for len(pending) > 0 {
		n, refs := 0, 0
		for n < len(pending) && n < m.cfg.BatchSize && (n == 0 || refs+refCount(pending[n]) <= m.cfg.MaxBatchRefs) {
			refs += refCount(pending[n])
			n++
		}
		batch, last := pending[:n], n == len(pending)
		err = m.store.Update(ctx, func(tx store.Tx) error {
			for _, c := range batch {
				if err := apply(tx, state.Directory, c, state.Gen); err != nil {
					return err
				}
			}
			if !last {
				return nil
			}
			return m.putCursor(tx, &state, next)
		})
		if err != nil {
			return res, err
		}
		res.Changes += n
		pending = pending[n:]
	}
	if res.Changes == 0 {
		err = m.store.Update(ctx, func(tx store.Tx) error { return m.putCursor(tx, &state, next) })
	}
	return res, err
}

// refCount is how many member refs a change writes.
func refCount(c connectors.Change) int { return len(c.MemberRefs) + len(c.Added) + len(c.Removed) }

// putCursor records a successful incremental sync up to next.
func (m *Mirror) putCursor(tx store.Tx, state *store.SyncState, next string) error {
	now := m.clock.Now()
	state.Cursor, state.CursorAt, state.LastIncrementalAt = next, now, now
	state.LastError, state.LastErrorAt = "", time.Time{}
	state.IncrementalSyncs++
	return tx.PutSyncState(*state)
}

// apply writes one change to the mirror.
func apply(tx store.Tx, dir string, c connectors.Change, gen int64) error {
	switch {
	case c.Op == connectors.Delete && c.User != nil:
		return tx.DeleteMirrorUser(dir, c.User.ID)
	case c.Op == connectors.Delete && c.Group != nil:
		return tx.DeleteMirrorGroup(dir, c.Group.ID)
	case c.Op == connectors.MembersChanged && c.Group != nil:
		return tx.ChangeMirrorMembers(dir, c.Group.ID, c.Added, c.Removed)
	case c.User != nil:
		return tx.UpsertMirrorUser(dir, *c.User, gen)
	case c.Group != nil:
		if err := tx.UpsertMirrorGroup(dir, *c.Group, gen); err != nil {
			return err
		}
		return tx.ReplaceMirrorMembers(dir, c.Group.ID, c.MemberRefs, false)
	}
	return fmt.Errorf("mirror: change with nothing in it: %w", connectors.ErrInvalid)
}

// full streams the whole directory into the mirror under a new generation, a
// batch per transaction, then sweeps the rest and commits the cursor.
func (m *Mirror) full(ctx context.Context, conn connectors.Connector, feed connectors.ChangeFeed, hasFeed bool, state store.SyncState, res Result) (Result, error) {
	dir := state.Directory
	gen := state.Gen + 1
	var batch []connectors.Change
	refs := 0
	tr := trackerOf(ctx)
	tr.markFull()
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		refs = 0
		err := m.store.Update(ctx, func(tx store.Tx) error {
			for _, c := range batch {
				if err := apply(tx, dir, c, gen); err != nil {
					return err
				}
			}
			return nil
		})
		res.Changes += len(batch)
		batch = batch[:0]
		return err
	}
	add := func(c connectors.Change) error {
		tr.add(1)
		batch = append(batch, c)
		refs += len(c.MemberRefs)
		if len(batch) >= m.cfg.BatchSize || refs >= m.cfg.MaxBatchRefs {
			return flush()
		}
		return nil
	}
	var next string
	var err error
	if hasFeed {
		tr.set("reading users and groups")
		next, err = feed.Changes(ctx, "", add)
	} else {
		err = m.list(ctx, conn, dir, gen, add, flush)
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		return res, err
	}
	now := m.clock.Now()
	tr.set("sweeping what is gone")
	err = m.store.Update(ctx, func(tx store.Tx) error {
		n, err := tx.SweepMirror(dir, gen)
		if err != nil {
			return err
		}
		res.Removed = n
		state.Gen, state.Cursor, state.CursorAt, state.LastFullAt = gen, next, now, now
		state.LastError, state.LastErrorAt = "", time.Time{}
		state.FullSyncs++
		return tx.PutSyncState(state)
	})
	return res, err
}

// list reads a directory through its Lister: users, then groups, then each
// group's members. Only the group ids are held in memory.
func (m *Mirror) list(ctx context.Context, conn connectors.Connector, dir string, gen int64, add func(connectors.Change) error, flush func() error) error {
	l, ok := connectors.AsLister(conn)
	if !ok {
		return fmt.Errorf("mirror: %s can neither list nor report changes: %w", dir, connectors.ErrInvalid)
	}
	tr := trackerOf(ctx)
	tr.set("reading users")
	if err := l.ListUsers(ctx, func(u connectors.User) error { return add(connectors.Change{Op: connectors.Upsert, User: &u}) }); err != nil {
		return err
	}
	tr.set("reading groups")
	var groups []string
	if err := l.ListGroups(ctx, func(g connectors.Group) error {
		groups = append(groups, g.ID)
		return add(connectors.Change{Op: connectors.Upsert, Group: &g})
	}); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	tr.set("reading members")
	for _, id := range groups {
		var members []string
		if err := l.ListMembers(ctx, id, func(uid string) error { members = append(members, uid); return nil }); err != nil {
			if errors.Is(err, connectors.ErrNotFound) {
				continue // deleted meanwhile; the next sync sweeps it
			}
			return err
		}
		tr.add(len(members))
		slices.Sort(members)
		if err := m.store.Update(ctx, func(tx store.Tx) error { return tx.ReplaceMirrorMembers(dir, id, members, true) }); err != nil {
			return err
		}
	}
	return nil
}

// Run syncs every directory now and then every Interval until ctx ends, one
// goroutine per directory. A failed sync is retried at the next interval.
func (m *Mirror) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for dir, src := range m.sources {
		interval := src.Interval
		if interval <= 0 {
			interval = 5 * time.Minute
		}
		wg.Go(func() {
			work.Loop(ctx, m.clock, m.wakes[dir], func(ctx context.Context) (time.Time, bool, error) {
				_, err := m.Sync(ctx, dir, false)
				return m.clock.Now().Add(interval), true, err
			}, func(int) time.Duration { return interval }, func(err error, _ time.Duration) {
				m.log.Error("mirror: sync failed; retrying at the next interval", "directory", dir, "err", err)
			})
		})
	}
	wg.Wait()
}

// Metrics are the mirror's Prometheus metrics.
type Metrics struct {
	duration      *prometheus.HistogramVec
	objects       *prometheus.CounterVec
	errors        *prometheus.CounterVec
	cursorExpires *prometheus.CounterVec
}

// NewMetrics registers the mirror's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jitd_sync_duration_seconds", Help: "Duration of directory syncs.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"directory", "kind"}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jitd_sync_objects_total", Help: "Users, groups and deletions written to the mirror by syncs.",
		}, []string{"directory", "kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jitd_sync_errors_total", Help: "Failed directory syncs.",
		}, []string{"directory"}),
		cursorExpires: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jitd_sync_cursor_expired_total", Help: "Incremental syncs that fell back to a full sync because the directory no longer accepted the cursor.",
		}, []string{"directory"}),
	}
	reg.MustRegister(m.duration, m.objects, m.errors, m.cursorExpires)
	return m
}

func (m *Metrics) observe(dir, kind string, d time.Duration, changes int, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.errors.WithLabelValues(dir).Inc()
		return
	}
	m.duration.WithLabelValues(dir, kind).Observe(d.Seconds())
	m.objects.WithLabelValues(dir, kind).Add(float64(changes))
}

// start makes a directory's counters present, at 0, before anything
// happened.
func (m *Metrics) start(dir string) {
	if m == nil {
		return
	}
	m.errors.WithLabelValues(dir)
	m.cursorExpires.WithLabelValues(dir)
	for _, kind := range []string{"full", "incremental"} {
		m.objects.WithLabelValues(dir, kind)
	}
}

func (m *Metrics) cursorExpired(dir string) {
	if m != nil {
		m.cursorExpires.WithLabelValues(dir).Inc()
	}
}
