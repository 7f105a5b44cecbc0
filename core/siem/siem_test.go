package siem_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/siem"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
)

type env struct {
	t     *testing.T
	store *sqlite.Store
	dir   string
	clock *clock.Fake
	reg   *prometheus.Registry
}

func newEnv(t *testing.T) *env {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{t: t, store: st, dir: t.TempDir(), clock: clock.NewFake(time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)), reg: prometheus.NewRegistry()}
}

func (e *env) append(n int) {
	e.t.Helper()
	for i := range n {
		if _, err := store.Append(context.Background(), e.store, audit.Event{Time: e.clock.Now(), Actor: "alice", Action: "grant.requested", Detail: fmt.Sprint("event ", i)}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) stream(cfg siem.SinkConfig) *siem.Stream {
	return siem.New(siem.Config{Sinks: []siem.SinkConfig{cfg}}, e.dir, e.store, e.clock, slog.New(slog.DiscardHandler), siem.NewMetrics(e.reg))
}

// seqs reads the sequence numbers in the files, oldest file first.
func seqs(t *testing.T, paths ...string) []int64 {
	t.Helper()
	var out []int64
	for _, p := range paths {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var e audit.Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			out = append(out, e.Seq)
		}
		f.Close()
	}
	return out
}

// Every event reaches the file, in order; a restart after a crash between
// the write and the cursor sends the last batch again, loses nothing.
func TestStream_AtLeastOnceAcrossARestart(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "audit.jsonl")
	s := e.stream(siem.SinkConfig{Name: "shipper", Kind: "file", Path: path})
	base, _, _ := e.store.AuditHead(context.Background()) // what opening the store wrote
	e.append(5)
	if n, err := s.Once(context.Background()); err != nil || n != int(base)+5 {
		t.Fatalf("first pass: %d %v", n, err)
	}
	e.append(3)
	if n, err := s.Once(context.Background()); err != nil || n != 3 {
		t.Fatalf("second pass: %d %v", n, err)
	}
	want := func(from, to int64) (out []int64) {
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
		return out
	}
	if got := seqs(t, path); fmt.Sprint(got) != fmt.Sprint(want(1, base+8)) {
		t.Fatalf("the file holds %v", got)
	}
	// jitd stopped after writing the last 3 but before moving the cursor.
	os.WriteFile(filepath.Join(e.dir, "siem-shipper.cursor"), []byte(fmt.Sprintf("%d\n", base+5)), 0o600)
	e.append(2)
	restarted := siem.New(siem.Config{Sinks: []siem.SinkConfig{{Name: "shipper", Kind: "file", Path: path}}}, e.dir, e.store, e.clock, slog.New(slog.DiscardHandler), nil)
	if n, err := restarted.Once(context.Background()); err != nil || n != 5 {
		t.Fatalf("after the restart: %d %v", n, err)
	}
	if got := seqs(t, path); fmt.Sprint(got) != fmt.Sprint(append(want(1, base+8), want(base+6, base+10)...)) {
		t.Fatalf("after the restart the file holds %v (the last batch twice is at least once; none may be missing)", got)
	}
}

// A sink that cannot be written keeps its place and shows its lag; when it
// comes back, it catches up.
func TestStream_ASinkDownCatchesUpAndShowsItsLag(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.dir, "later")
	path := filepath.Join(dir, "audit.jsonl")
	s := e.stream(siem.SinkConfig{Name: "shipper", Kind: "file", Path: path})
	e.append(4)
	head, _, _ := e.store.AuditHead(context.Background())
	if _, err := s.Once(context.Background()); err == nil {
		t.Fatal("a sink whose directory is missing took the log")
	}
	if lag := testutil.ToFloat64(metric(t, e.reg, "jitd_siem_lag_events")); lag != float64(head) {
		t.Fatalf("lag while down: %v, want %d", lag, head)
	}
	os.MkdirAll(dir, 0o700)
	if n, err := s.Once(context.Background()); err != nil || n != int(head) {
		t.Fatalf("back: %d %v", n, err)
	}
	if lag := testutil.ToFloat64(metric(t, e.reg, "jitd_siem_lag_events")); lag != 0 {
		t.Fatalf("lag after catching up: %v", lag)
	}
}

// The file rotates by size, keeping max_files old ones.
func TestStream_TheFileRotates(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "audit.jsonl")
	s := e.stream(siem.SinkConfig{Name: "shipper", Kind: "file", Path: path, MaxSize: 600, MaxFiles: 2})
	for range 6 {
		e.append(2)
		if _, err := s.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Fatal("more old files kept than max_files")
	}
	head, _, _ := e.store.AuditHead(context.Background())
	got := seqs(t, path+".2", path+".1", path)
	if len(got) == 0 || got[len(got)-1] != head {
		t.Fatalf("after rotating: %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("a gap inside what is kept: %v", got)
		}
	}
}

func TestConfig_SaysWhatIsWrong(t *testing.T) {
	t.Setenv("JITD_SIEM_TOKEN", "")
	p := siem.Config{Sinks: []siem.SinkConfig{{Name: "a", Kind: "file", Path: "rel.jsonl"}, {Name: "a", Kind: "syslog"}, {Name: "B c", Kind: "kafka"},
		{Name: "d", Kind: "https", URL: "http://siem.example.com/in"}, {Name: "e", Kind: "https", URL: "https://u:p@siem.example.com/in", TokenEnv: "JITD_SIEM_TOKEN"},
		{Name: "f", Kind: "syslog", Address: "siem.example.com:6514", Facility: "kern", CertFile: "/x.pem", CAFile: "/nonexistent/ca.pem"}}}.Validate()
	out := strings.Join(p.Lines(), "\n")
	for _, want := range []string{"sinks[0].path: required: an absolute file path", `sinks[1].name: "a" is used by another sink`, "sinks[1].address: required: the receiver's host:port",
		"sinks[2].name: required: lower-case", "sinks[2].kind: must be file, syslog or https", "sinks[3].url: must be https://",
		"sinks[4].url: must not hold credentials", "sinks[4].token_env: environment variable JITD_SIEM_TOKEN is not set",
		"sinks[5].facility: must be authpriv", "sinks[5].cert_file: a client certificate needs both", "sinks[5].ca_file:"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if p := (siem.Config{Sinks: []siem.SinkConfig{{Name: "local", Kind: "syslog", Address: "127.0.0.1:514", Insecure: true}}}).Validate(); len(p) != 0 {
		t.Errorf("plain TCP to a local receiver, said insecure: %v", p)
	}
}

func metric(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return gaugeOf(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

func gaugeOf(v float64) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	g.Set(v)
	return g
}
