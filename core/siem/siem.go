// Package siem streams the audit log to where a security team reads it,
// at least once: each sink has a cursor (the last event it has durably
// taken) kept in the data directory and moved only after a batch is
// written and synced, so after a crash or an outage of the sink the stream
// resumes where it stopped; an event may be sent twice, never lost. Today's
// sink is JSON lines to a file that rotates by size (for a log shipper to
// tail).
package siem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/backoff"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/conf"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/work"
)

// Config is the siem: block.
type Config struct {
	Sinks []SinkConfig `yaml:"sinks"`
}

// SinkConfig is one place the audit log goes.
type SinkConfig struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"` // file
	// Path is the file (kind file); it rotates to Path.1, Path.2, ...
	// when it reaches MaxSize, keeping MaxFiles old ones.
	Path     string `yaml:"path"`
	MaxSize  int64  `yaml:"max_size"`  // bytes; default 100 MiB
	MaxFiles int    `yaml:"max_files"` // default 10
}

// Validate returns every problem, each at its key.
func (c Config) Validate() conf.Problems {
	var p conf.Problems
	seen := map[string]bool{}
	for i, s := range c.Sinks {
		at := fmt.Sprintf("sinks[%d]", i)
		switch {
		case s.Name == "" || strings.ContainsAny(s.Name, `/\ `) || s.Name != strings.ToLower(s.Name):
			p.Addf(at+".name", "required: lower-case, no spaces or slashes (it names the sink's cursor file)")
		case seen[s.Name]:
			p.Addf(at+".name", "%q is used by another sink", s.Name)
		}
		seen[s.Name] = true
		switch s.Kind {
		case "file":
			if s.Path == "" || !filepath.IsAbs(s.Path) {
				p.Addf(at+".path", "required: an absolute file path (got %q)", s.Path)
			}
		case "syslog", "https":
			p.Addf(at+".kind", "%s is not built yet; use file and let a log shipper forward it", s.Kind)
		default:
			p.Addf(at+".kind", "must be file (got %q)", s.Kind)
		}
		if s.MaxSize < 0 || s.MaxFiles < 0 {
			p.Addf(at, "max_size and max_files must not be negative")
		}
	}
	return p
}

// Store is what the stream reads.
type Store interface {
	store.Audit
}

// Metrics are the stream's gauges and counters.
type Metrics struct {
	lag       *prometheus.GaugeVec
	delivered *prometheus.CounterVec
}

// NewMetrics registers the stream's metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lag:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "jitd_siem_lag_events", Help: "Audit events a sink has not taken yet."}, []string{"sink"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jitd_siem_delivered_events_total", Help: "Audit events written to a sink."}, []string{"sink"}),
	}
	if reg != nil {
		reg.MustRegister(m.lag, m.delivered)
	}
	return m
}

// Stream sends the audit log to every sink.
type Stream struct {
	sinks   []*sink
	store   Store
	clock   clock.Clock
	log     *slog.Logger
	metrics *Metrics
	wake    chan struct{}
}

type sink struct {
	cfg    SinkConfig
	cursor string // the cursor file
	w      *fileSink
}

// New returns the stream of cfg; cursors live in dir.
func New(cfg Config, dir string, st Store, clk clock.Clock, log *slog.Logger, m *Metrics) *Stream {
	if m == nil {
		m = NewMetrics(nil)
	}
	s := &Stream{store: st, clock: clk, log: log, metrics: m, wake: make(chan struct{}, 1)}
	for _, c := range cfg.Sinks {
		if c.MaxSize == 0 {
			c.MaxSize = 100 << 20
		}
		if c.MaxFiles == 0 {
			c.MaxFiles = 10
		}
		s.sinks = append(s.sinks, &sink{cfg: c, cursor: filepath.Join(dir, "siem-"+c.Name+".cursor"), w: &fileSink{path: c.Path, maxSize: c.MaxSize, maxFiles: c.MaxFiles}})
		m.lag.WithLabelValues(c.Name)
		m.delivered.WithLabelValues(c.Name)
	}
	return s
}

// Wake makes the stream look for new events now. It never blocks.
func (s *Stream) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// batch is how many events one pass takes from the log per sink.
const batch = 1000

// Once sends every sink what it has not taken yet and returns how many
// events it wrote in all.
func (s *Stream) Once(ctx context.Context) (int, error) {
	head, _, err := s.store.AuditHead(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, k := range s.sinks {
		n, err := s.drain(ctx, k, head)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("sink %s: %w", k.cfg.Name, err))
		}
	}
	return total, errors.Join(errs...)
}

func (s *Stream) drain(ctx context.Context, k *sink, head int64) (int, error) {
	at, err := readCursor(k.cursor)
	if err != nil {
		return 0, err
	}
	sent := 0
	for at < head {
		s.metrics.lag.WithLabelValues(k.cfg.Name).Set(float64(head - at))
		evs, err := s.store.AuditEvents(ctx, store.AuditFilter{Ascending: true, After: at, Limit: batch})
		if err != nil || len(evs) == 0 {
			return sent, err
		}
		if err := k.w.write(evs); err != nil {
			return sent, err
		}
		// Written and synced: only now does the cursor move. A crash in
		// between sends this batch again (at least once).
		at = evs[len(evs)-1].Seq
		if err := writeCursor(k.cursor, at); err != nil {
			return sent, err
		}
		sent += len(evs)
		s.metrics.delivered.WithLabelValues(k.cfg.Name).Add(float64(len(evs)))
	}
	s.metrics.lag.WithLabelValues(k.cfg.Name).Set(float64(max(head-at, 0)))
	return sent, nil
}

// Run streams until ctx is cancelled: after every audit append (Wake),
// and every few seconds anyway; a failing sink is retried with backoff,
// and its lag shows in jitd_siem_lag_events.
func (s *Stream) Run(ctx context.Context) {
	if len(s.sinks) == 0 {
		return
	}
	work.Loop(ctx, s.clock, s.wake, func(ctx context.Context) (time.Time, bool, error) {
		_, err := s.Once(ctx)
		return s.clock.Now().Add(5 * time.Second), true, err
	}, backoff.New(time.Second, time.Minute, uint64(s.clock.Now().UnixNano())).Delay, func(err error, wait time.Duration) {
		s.log.Error("siem: a sink could not take the audit log; retrying", "err", err, "retry_in", wait)
	})
}

func readCursor(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is damaged (%v): remove it to send the whole log again", path, err)
	}
	return n, nil
}

// writeCursor replaces the cursor file at once (write, sync, rename).
func writeCursor(path string, seq int64) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%d\n", seq); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// fileSink appends JSON lines to a file that rotates by size.
type fileSink struct {
	path     string
	maxSize  int64
	maxFiles int
}

func (f *fileSink) write(evs []audit.Event) error {
	if fi, err := os.Stat(f.path); err == nil && fi.Size() >= f.maxSize {
		if err := f.rotate(); err != nil {
			return err
		}
	}
	out, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	for _, e := range evs {
		if err := enc.Encode(e); err != nil {
			out.Close()
			return err
		}
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// rotate moves path to path.1, path.1 to path.2, ..., dropping the oldest.
func (f *fileSink) rotate() error {
	os.Remove(fmt.Sprintf("%s.%d", f.path, f.maxFiles))
	for i := f.maxFiles - 1; i >= 1; i-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", f.path, i), fmt.Sprintf("%s.%d", f.path, i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return os.Rename(f.path, f.path+".1")
}
