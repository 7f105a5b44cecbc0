package siem_test

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/siem"
	"github.com/jitd/jitd/fixtures/poll"
	"github.com/jitd/jitd/fixtures/rsyslog"
)

var (
	rsys    *rsyslog.Server
	rsysErr error
)

func TestMain(m *testing.M) { os.Exit(rsyslog.Main(m, &rsys, &rsysErr)) }

// received returns the sequence numbers rsyslog has, in arrival order,
// checking that each message is a well-formed RFC 5424 message of jitd's.
func received(t *testing.T) []int64 {
	t.Helper()
	msgs, err := rsys.Messages()
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	var out []int64
	for _, m := range msgs {
		var e audit.Event
		if err := json.Unmarshal([]byte(m.Msg), &e); err != nil {
			t.Fatalf("rsyslog's message is not the event as JSON: %v\n%+v", err, m)
		}
		if m.App != "jitd" || m.MsgID != e.Action || m.Host != host || m.ProcID != fmt.Sprint(os.Getpid()) {
			t.Fatalf("rsyslog parsed the header as %+v", m)
		}
		if want := e.Time.UTC().Format("2006-01-02T15:04:05.000000Z"); m.Time != want {
			t.Fatalf("timestamp %q, want %q", m.Time, want)
		}
		if m.Pri != 10*8+5 { // authpriv.notice
			t.Fatalf("priority %d for %s", m.Pri, e.Action)
		}
		if audit.ComputeHash(e) != e.Hash {
			t.Fatalf("event %d arrived altered", e.Seq)
		}
		out = append(out, e.Seq)
	}
	return out
}

// everyOnce reports what of 1..head is missing and how many arrived twice.
func everyOnce(got []int64, head int64) (missing []int64, twice int) {
	seen := map[int64]int{}
	for _, s := range got {
		seen[s]++
	}
	for i := int64(1); i <= head; i++ {
		switch n := seen[i]; {
		case n == 0:
			missing = append(missing, i)
		case n > 1:
			twice += n - 1
		}
	}
	return missing, twice
}

func lag(t *testing.T, e *env) float64 {
	return testutil.ToFloat64(metric(t, e.reg, "jitd_siem_lag_events"))
}

// The audit log reaches a real rsyslog over TLS as RFC 5424 messages that
// it parses field by field; rsyslog stopped for minutes loses nothing: the
// stream notices the closed connection, keeps its place while the
// receiver is away (the lag shows it), and sends from its cursor when it
// is back, repeating at most the batch it could not confirm.
func TestSyslog_ReceiverDownForMinutesLosesNothing(t *testing.T) {
	rsyslog.Need(t, rsys, rsysErr)
	e := newEnv(t)
	s := e.stream(siem.SinkConfig{Name: "soc", Kind: "syslog", Address: rsys.Addr, CAFile: rsys.CAFile, ServerName: "127.0.0.1"})
	ctx := context.Background()
	e.append(40)
	if _, err := s.Once(ctx); err != nil {
		t.Fatal(err)
	}
	head, _, _ := e.store.AuditHead(ctx)
	poll.Until(t, 10*time.Second, "rsyslog to write the first batch", func() bool { return len(received(t)) >= int(head) })
	// The next pass finds the connection open: the batch is confirmed.
	if _, err := s.Once(ctx); err != nil || lag(t, e) != 0 {
		t.Fatalf("confirming: %v, lag %v", err, lag(t, e))
	}

	e.append(10) // written just before the receiver stops
	if _, err := s.Once(ctx); err != nil {
		t.Fatal(err)
	}
	rsys.Halt()
	for minute := range 3 {
		e.clock.Advance(time.Minute)
		e.append(20)
		if _, err := s.Once(ctx); err == nil {
			t.Fatalf("minute %d: the stream reports a stopped receiver as fine", minute)
		}
		head, _, _ = e.store.AuditHead(ctx)
		if got := lag(t, e); got < float64(20*(minute+1)) {
			t.Fatalf("minute %d: lag %v while the receiver is down", minute, got)
		}
	}
	if err := rsys.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Once(ctx); err != nil {
		t.Fatalf("back: %v", err)
	}
	if _, err := s.Once(ctx); err != nil || lag(t, e) != 0 {
		t.Fatalf("confirming after the outage: %v, lag %v", err, lag(t, e))
	}
	poll.Until(t, 10*time.Second, "rsyslog to have everything", func() bool {
		missing, _ := everyOnce(received(t), head)
		return len(missing) == 0
	})
	missing, twice := everyOnce(received(t), head)
	if len(missing) > 0 || twice > 10 {
		t.Fatalf("after the outage: missing %v, %d sent twice (at most the 10 unconfirmed)", missing, twice)
	}
	t.Logf("%d events, %d sent twice", head, twice)
}

// collector is an HTTPS endpoint that takes batches of JSON lines, or
// refuses them while down.
type collector struct {
	mu      sync.Mutex
	down    bool
	seqs    []int64
	batches []string
	auth    []string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.auth = append(c.auth, r.Header.Get("Authorization"))
	if c.down {
		http.Error(w, "index is read-only", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-ndjson" {
		http.Error(w, "want a POST of JSON lines", http.StatusBadRequest)
		return
	}
	sc := bufio.NewScanner(r.Body)
	var got []int64
	for sc.Scan() {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || audit.ComputeHash(e) != e.Hash {
			http.Error(w, "a line is not an intact event", http.StatusBadRequest)
			return
		}
		got = append(got, e.Seq)
	}
	c.seqs = append(c.seqs, got...)
	c.batches = append(c.batches, r.Header.Get("X-Jitd-Batch"))
	w.WriteHeader(http.StatusAccepted)
}

// Batches reach an HTTPS collector with the bearer token from its file;
// while the collector refuses them the cursor stays and the lag grows; when
// it takes them again, everything arrives, each event once.
func TestHTTPS_BatchesSurviveACollectorOutage(t *testing.T) {
	e := newEnv(t)
	c := &collector{}
	srv := httptest.NewTLSServer(c)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	token := filepath.Join(t.TempDir(), "token")
	os.WriteFile(token, []byte("s3cret\n"), 0o600)
	cfg := siem.SinkConfig{Name: "collector", Kind: "https", URL: srv.URL + "/ingest", CAFile: ca, TokenFile: token, BatchSize: 7}
	if p := (siem.Config{Sinks: []siem.SinkConfig{cfg}}).Validate(); len(p) != 0 {
		t.Fatal(p)
	}
	s := e.stream(cfg)
	ctx := context.Background()
	e.append(20)
	if _, err := s.Once(ctx); err != nil {
		t.Fatal(err)
	}
	head, _, _ := e.store.AuditHead(ctx)
	if len(c.batches) != int(head+6)/7 || !strings.HasPrefix(c.batches[0], "1-7") || c.auth[0] != "Bearer s3cret" {
		t.Fatalf("batches %v, authorization %q", c.batches, c.auth[0])
	}

	c.down = true
	e.append(15)
	for range 3 {
		if _, err := s.Once(ctx); err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("a collector answering 503: %v", err)
		}
	}
	if got := lag(t, e); got != 15 {
		t.Fatalf("lag %v while the collector is down, want 15", got)
	}
	c.down = false
	if _, err := s.Once(ctx); err != nil || lag(t, e) != 0 {
		t.Fatalf("back: %v, lag %v", err, lag(t, e))
	}
	head, _, _ = e.store.AuditHead(ctx)
	missing, twice := everyOnce(c.seqs, head)
	if len(missing) > 0 || twice > 0 || !slices.IsSorted(c.seqs) {
		t.Fatalf("the collector has %v: missing %v, %d twice", c.seqs, missing, twice)
	}

	// A collector that redirects is not followed (the log and the token
	// would go elsewhere), and a certificate from another CA is refused.
	redirect := httptest.NewTLSServer(http.RedirectHandler(srv.URL+"/ingest", http.StatusTemporaryRedirect))
	defer redirect.Close()
	e.append(1)
	for _, bad := range []siem.SinkConfig{{Name: "r", Kind: "https", URL: redirect.URL, CAFile: ca}, {Name: "u", Kind: "https", URL: srv.URL}} {
		if _, err := siem.New(siem.Config{Sinks: []siem.SinkConfig{bad}}, e.dir, e.store, e.clock, slog.New(slog.DiscardHandler), nil).Once(ctx); err == nil {
			t.Errorf("%s: delivered", bad.Name)
		}
	}
}
