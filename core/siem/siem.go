// Package siem streams the audit log to where a security team reads it,
// at least once: each sink has a cursor (the last event it has durably
// taken) kept in the data directory and moved only once the sink has the
// events, so after a crash or an outage of the sink the stream resumes
// where it stopped; an event may be sent twice, never lost. Sinks: JSON
// lines to a file that rotates by size (for a log shipper to tail), syslog
// (RFC 5424) over TCP with TLS, and batched HTTPS posts to a collector.
package siem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitd/jitd/connectors"
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
	Kind string `yaml:"kind"` // file, syslog or https
	// Path is the file (kind file); it rotates to Path.1, Path.2, ...
	// when it reaches MaxSize, keeping MaxFiles old ones.
	Path     string `yaml:"path"`
	MaxSize  int64  `yaml:"max_size"`  // bytes; default 100 MiB
	MaxFiles int    `yaml:"max_files"` // default 10

	// Address is the syslog receiver's host:port (kind syslog).
	Address string `yaml:"address"`
	// Facility of the syslog messages: authpriv (default), auth, local0..local7.
	Facility string `yaml:"facility"`
	// URL is the collector's endpoint (kind https): each batch is one POST
	// of JSON lines.
	URL       string `yaml:"url"`
	BatchSize int    `yaml:"batch_size"` // events per POST; default 500
	// Token (kind https) is sent as "Authorization: Bearer": a secret, so
	// a file or an environment variable.
	TokenFile string `yaml:"token_file"`
	TokenEnv  string `yaml:"token_env"`

	// TLS (syslog and https): the receiver's CA (default: the system's),
	// the name its certificate must hold (default: the host of address or
	// url), and a client certificate when the receiver asks for one.
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	// Insecure sends in clear text (syslog over plain TCP, http://): the
	// audit log then crosses the network readable and alterable by anyone
	// on the path. Only for a receiver on the same host.
	Insecure bool `yaml:"insecure"`
}

func (c SinkConfig) token() connectors.Secret {
	return connectors.Secret{Key: "token", File: c.TokenFile, Env: c.TokenEnv, What: "the collector's bearer token"}
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
		case "syslog":
			if _, port, err := net.SplitHostPort(s.Address); err != nil || port == "" {
				p.Addf(at+".address", "required: the receiver's host:port, e.g. siem.example.com:6514 (got %q)", s.Address)
			}
			if _, ok := facilities[s.Facility]; !ok && s.Facility != "" {
				p.Addf(at+".facility", "must be authpriv, auth, or local0 to local7 (got %q)", s.Facility)
			}
			p.Add(at, tlsProblems(s))
		case "https":
			u, err := url.Parse(s.URL)
			switch {
			case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
				p.Addf(at+".url", "required: the collector's https:// URL (got %q)", s.URL)
			case u.Scheme == "http" && !s.Insecure:
				p.Addf(at+".url", "must be https:// (the audit log is sensitive); insecure: true allows http:// to a receiver on this host")
			case u.User != nil:
				p.Addf(at+".url", "must not hold credentials: put the token in token_file or token_env")
			}
			if s.BatchSize < 0 || s.BatchSize > 10000 {
				p.Addf(at+".batch_size", "must be between 1 and 10000 (got %d)", s.BatchSize)
			}
			if s.token().Set() {
				p.Add(at, conf.Lift(s.token().Check()))
			}
			p.Add(at, tlsProblems(s))
		case "":
			p.Addf(at+".kind", "is required: file, syslog or https")
		default:
			p.Addf(at+".kind", "must be file, syslog or https (got %q)", s.Kind)
		}
		if s.MaxSize < 0 || s.MaxFiles < 0 {
			p.Addf(at, "max_size and max_files must not be negative")
		}
	}
	return p
}

func tlsProblems(s SinkConfig) conf.Problems {
	var p conf.Problems
	if s.Insecure && (s.CAFile != "" || s.CertFile != "") {
		p.Addf("insecure", "clear text has no ca_file or cert_file: drop one or the other")
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		p.Addf("cert_file", "a client certificate needs both cert_file and key_file")
	}
	if _, err := tlsConfig(s, ""); err != nil {
		p.Add("", conf.Lift(err))
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
	w      writer
	// sent and sentN: written to a sink without receipts (syslog) past the
	// cursor, kept until the connection is seen alive afterwards.
	sent  int64
	sentN int
}

// writer delivers events to one sink. After write returns nil the sink has
// them, except for a confirmer.
type writer interface {
	write(ctx context.Context, evs []audit.Event) error
}

// A confirmer takes events without receipts (a TCP stream): what it wrote
// counts as delivered only once confirm later finds the connection still
// open. When it finds it closed, the events since the cursor are sent again.
type confirmer interface {
	confirm() bool
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
		k := &sink{cfg: c, cursor: filepath.Join(dir, "siem-"+c.Name+".cursor")}
		switch c.Kind {
		case "syslog":
			k.w = newSyslogSink(c)
		case "https":
			k.w = newHTTPSSink(c)
		default:
			k.w = &fileSink{path: c.Path, maxSize: c.MaxSize, maxFiles: c.MaxFiles}
		}
		s.sinks = append(s.sinks, k)
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
	commit := func(seq int64, n int) error {
		// The sink has the events: only now does the cursor move. A crash
		// before this sends them again (at least once).
		if err := writeCursor(k.cursor, seq); err != nil {
			return err
		}
		at = seq
		sent += n
		s.metrics.delivered.WithLabelValues(k.cfg.Name).Add(float64(n))
		return nil
	}
	c, confirms := k.w.(confirmer)
	// confirmPending settles what an earlier write left unconfirmed.
	confirmPending := func() error {
		if !confirms || k.sent <= at {
			return nil
		}
		seq, n := k.sent, k.sentN
		k.sent, k.sentN = 0, 0
		if !c.confirm() {
			s.log.Warn("siem: the receiver closed the connection; sending again from the cursor", "sink", k.cfg.Name, "from", at+1)
			return nil
		}
		return commit(seq, n)
	}
	if err := confirmPending(); err != nil {
		return sent, err
	}
	for {
		pos := max(at, k.sent)
		s.metrics.lag.WithLabelValues(k.cfg.Name).Set(float64(max(head-at, 0)))
		if pos >= head {
			return sent, nil
		}
		evs, err := s.store.AuditEvents(ctx, store.AuditFilter{Ascending: true, After: pos, Limit: batch})
		if err != nil || len(evs) == 0 {
			return sent, err
		}
		if k.sent > at {
			// The previous batch: the connection outlived it.
			if err := confirmPending(); err != nil {
				return sent, err
			}
			if at < pos {
				continue // it did not: read again from the cursor
			}
		}
		if err := k.w.write(ctx, evs); err != nil {
			k.sent, k.sentN = 0, 0
			return sent, err
		}
		last := evs[len(evs)-1].Seq
		if confirms {
			k.sent, k.sentN = last, k.sentN+len(evs)
			continue
		}
		if err := commit(last, len(evs)); err != nil {
			return sent, err
		}
	}
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
