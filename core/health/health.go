// Package health knows whether each directory answers. It learns from the
// outcome of every call jitd makes to a directory and, while one looks
// unwell, from a cheap probe of its own; it alerts when a directory stops
// answering (stopped and frozen alike), and the moment it answers again it
// wakes the work that was waiting for it, instead of leaving that work to
// sit out its backoff.
package health

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/clock"
)

// Config tunes the watch. Zero fields take the defaults.
type Config struct {
	// ProbeEvery is how often a directory that looks unwell is probed (500ms).
	ProbeEvery time.Duration
	// ProbeTimeout bounds one probe (5s). A probe still waiting when the
	// directory comes back answers at once, so a short timeout gains nothing.
	ProbeTimeout time.Duration
	// SlowCall: a call in flight this long makes its directory look unwell
	// (2s), so a frozen directory is probed like a stopped one.
	SlowCall time.Duration
	// Heartbeat is how often a directory that looks well is probed anyway
	// (30s), so one that stops answering while nothing calls it is noticed.
	Heartbeat time.Duration
	// AlertAfter: a directory that has not answered for this long is
	// alerted (20s).
	AlertAfter time.Duration
}

func (c Config) withDefaults() Config {
	if c.ProbeEvery <= 0 {
		c.ProbeEvery = 500 * time.Millisecond
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 5 * time.Second
	}
	if c.SlowCall <= 0 {
		c.SlowCall = 2 * time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 30 * time.Second
	}
	if c.AlertAfter <= 0 {
		c.AlertAfter = 20 * time.Second
	}
	return c
}

// Prober is the probe: one cheap round trip to the directory.
type Prober interface {
	Check(ctx context.Context) error
}

// Hooks are what the watch tells the rest of jitd. Each may be nil; they run
// on the watch's goroutine, one at a time.
type Hooks struct {
	// Down: the directory has not answered for AlertAfter.
	Down func(directory string, since time.Time, err error)
	// Back: the directory answers again after it stopped answering; work
	// waiting for it should be retried now. alerted says whether Down was
	// called for this outage.
	Back func(directory string, downFor time.Duration, alerted bool)
}

type status int

const (
	up      status = iota
	suspect        // a call failed or hangs: probe it
	down           // a probe failed too
)

type directory struct {
	name    string
	probe   Prober
	status  status
	since   time.Time // when it stopped answering; zero while up
	lastErr error
	alerted bool
	warned  bool // the outage was logged
	// calls in flight, by start time
	calls  map[uint64]time.Time
	nextID uint64

	probing   bool
	lastProbe time.Time
	back      time.Time // the last return after an outage
}

// Watch watches the directories.
type Watch struct {
	cfg   Config
	clock clock.Clock
	log   *slog.Logger
	hooks Hooks
	up    *prometheus.GaugeVec

	mu    sync.Mutex
	dirs  map[string]*directory
	wake  chan struct{}
	probe sync.WaitGroup
	// pokes sent and taken: tests wait for the watch to have seen them all.
	pokes, woken atomic.Int64
	// events are hooks to run, queued under mu and run outside it, one at
	// a time under hookMu.
	events []func()
	hookMu sync.Mutex
}

// New returns a watch with no directories yet. reg may be nil.
func New(cfg Config, clk clock.Clock, log *slog.Logger, reg prometheus.Registerer, hooks Hooks) *Watch {
	w := &Watch{cfg: cfg.withDefaults(), clock: clk, log: log, hooks: hooks, dirs: map[string]*directory{}, wake: make(chan struct{}, 1)}
	w.up = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "jitd_directory_up",
		Help: "1 while the directory answers, 0 while it does not (as jitd's calls and probes see it).",
	}, []string{"directory"})
	if reg != nil {
		reg.MustRegister(w.up)
	}
	return w
}

// Add watches a directory, probed with p. Calls reported for a directory
// before it is added are not counted.
func (w *Watch) Add(name string, p Prober) {
	w.mu.Lock()
	// Probed at once: a directory that does not answer at start is known
	// before any work fails on it.
	w.dirs[name] = &directory{name: name, probe: p, calls: map[uint64]time.Time{}, lastProbe: w.clock.Now().Add(-w.cfg.Heartbeat)}
	w.mu.Unlock()
	w.up.WithLabelValues(name).Set(1)
	w.poke()
}

// Observer returns what a directory's connector reports its calls to (it
// satisfies plugins.Observer).
func (w *Watch) Observer(name string) Observer { return Observer{w: w, name: name} }

// Observer reports one directory's calls to the watch.
type Observer struct {
	w    *Watch
	name string
}

// Begin records a call as started; end records its outcome.
func (o Observer) Begin() (end func(error)) {
	w := o.w
	w.mu.Lock()
	d := w.dirs[o.name]
	if d == nil {
		w.mu.Unlock()
		return func(error) {}
	}
	id := d.nextID
	d.nextID++
	d.calls[id] = w.clock.Now()
	first := len(d.calls) == 1
	w.mu.Unlock()
	if first {
		w.poke() // the watch times a call that may hang
	}
	return func(err error) {
		w.mu.Lock()
		delete(d.calls, id)
		w.mu.Unlock()
		w.Report(o.name, err)
	}
}

// answers says whether an outcome shows that the directory answered. A
// refusal, an unknown name or a rate limit is an answer; a network error, a
// restart of the connector or a call cut by its deadline is not; a caller
// that went away says nothing either way.
func answers(err error) (answered, known bool) {
	switch {
	case err == nil:
		return true, true
	case errors.Is(err, context.Canceled):
		return false, false
	case errors.Is(err, connectors.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return false, true
	}
	return true, true
}

// Report records the outcome of a call to a directory.
func (w *Watch) Report(name string, err error) {
	w.mu.Lock()
	d := w.dirs[name]
	if d == nil {
		w.mu.Unlock()
		return
	}
	w.observe(d, err, false)
	w.mu.Unlock()
	w.flush()
	w.poke()
}

// observe moves d's status on an outcome. Callers hold mu.
func (w *Watch) observe(d *directory, err error, probe bool) {
	answered, known := answers(err)
	if !known {
		return
	}
	now := w.clock.Now()
	if answered {
		if d.status == down {
			downFor, alerted := now.Sub(d.since), d.alerted
			d.back = now
			w.log.Info("directory answers again; retrying the work that waited for it", "directory", d.name, "down_for", downFor.Round(time.Millisecond).String())
			if w.hooks.Back != nil {
				w.events = append(w.events, func() { w.hooks.Back(d.name, downFor, alerted) })
			}
		}
		d.status, d.since, d.lastErr, d.alerted, d.warned = up, time.Time{}, nil, false, false
		w.up.WithLabelValues(d.name).Set(1)
		return
	}
	d.lastErr = err
	switch {
	case d.status == up:
		d.status, d.since = suspect, now
		if probe {
			d.status = down
		}
	case d.status == suspect && probe:
		d.status = down
	}
	if d.status == down && !d.warned {
		d.warned = true
		w.log.Warn("directory does not answer; jitd probes it and retries its work the moment it answers", "directory", d.name, "err", err)
	}
	if d.status == down {
		w.up.WithLabelValues(d.name).Set(0)
	}
}

// BackSince reports whether the directory came back from an outage after t:
// a failure of a call started before then is stale news, worth retrying at
// once.
func (w *Watch) BackSince(name string, t time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.dirs[name]
	return d != nil && !d.back.IsZero() && d.back.After(t)
}

func (w *Watch) poke() {
	select {
	case w.wake <- struct{}{}:
		w.pokes.Add(1)
	default:
	}
}

func (w *Watch) flush() {
	w.hookMu.Lock()
	defer w.hookMu.Unlock()
	w.mu.Lock()
	evs := w.events
	w.events = nil
	w.mu.Unlock()
	for _, fn := range evs {
		fn()
	}
}

// Run watches until ctx is cancelled, then waits for probes in flight.
func (w *Watch) Run(ctx context.Context) {
	defer w.probe.Wait()
	for {
		wait := w.step(ctx)
		w.flush()
		t := w.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w.wake:
			t.Stop()
			w.woken.Add(1)
			continue
		case <-t.C():
		}
		t.Stop()
	}
}

// step does what is due now (probes, alerts) and returns how long until
// something else may be.
func (w *Watch) step(ctx context.Context) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clock.Now()
	next := now.Add(w.cfg.Heartbeat)
	for _, n := range slices.Sorted(maps.Keys(w.dirs)) {
		d := w.dirs[n]
		if d.status == up {
			if oldest, ok := d.oldestCall(); ok {
				if now.Sub(oldest) >= w.cfg.SlowCall {
					d.status, d.since = suspect, oldest
				} else {
					next = earliest(next, oldest.Add(w.cfg.SlowCall))
				}
			}
		}
		probeAt := d.lastProbe.Add(w.cfg.Heartbeat)
		if d.status != up {
			probeAt = d.lastProbe.Add(w.cfg.ProbeEvery)
		}
		if !d.probing {
			if !now.Before(probeAt) {
				w.startProbe(ctx, d, now)
				probeAt = now.Add(w.cfg.ProbeEvery)
			}
			next = earliest(next, probeAt)
		}
		if d.status == down && !d.alerted {
			alertAt := d.since.Add(w.cfg.AlertAfter)
			if !now.Before(alertAt) {
				d.alerted = true
				since, err := d.since, d.lastErr
				w.log.Error("ALERT: directory does not answer; removals and account disables wait for it and are retried the moment it answers",
					"directory", d.name, "since", since, "err", err)
				if w.hooks.Down != nil {
					w.events = append(w.events, func() { w.hooks.Down(d.name, since, err) })
				}
			} else {
				next = earliest(next, alertAt)
			}
		}
	}
	return max(next.Sub(now), 0)
}

func (d *directory) oldestCall() (time.Time, bool) {
	var oldest time.Time
	for _, t := range d.calls {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return oldest, !oldest.IsZero()
}

// startProbe probes d in its own goroutine: a probe that hangs on a frozen
// directory holds up nothing else. Callers hold mu.
func (w *Watch) startProbe(ctx context.Context, d *directory, now time.Time) {
	d.probing, d.lastProbe = true, now
	w.probe.Add(1)
	go func() {
		defer w.probe.Done()
		pctx, cancel := context.WithTimeout(ctx, w.cfg.ProbeTimeout)
		err := d.probe.Check(pctx)
		cancel()
		if ctx.Err() != nil {
			err = nil // shutting down: no news
		}
		w.mu.Lock()
		if ctx.Err() == nil {
			w.observe(d, err, true)
		}
		w.mu.Unlock()
		w.flush()
		w.mu.Lock()
		d.probing = false // only now: what it learnt has been acted on
		w.mu.Unlock()
		w.poke()
	}()
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
