package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/fixtures/poll"
)

// dialFrom connects to addr from a loopback source address of its own, so
// that the server sees distinct clients.
func dialFrom(t *testing.T, source, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", source, err)
	}
	return c
}

// Hostile clients cannot take the daemon down (loopback only, bounded):
// 5,000 connections that send a request's headers and hold back the body
// they promise, and 1,000 that send nothing at all. Health checks and
// signed-in calls keep answering; the silent connections past the bound
// are closed at once; and once the clients go, so do the server's
// goroutines.
func TestFlood_SlowClientsCannotTakeTheDaemonDown(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 6,000 connections")
	}
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := api.NewHTTPServer(e.srv.Config.Handler, slog.New(slog.DiscardHandler))
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	addr := ln.Addr().String()
	baseline := runtime.NumGoroutine()

	// From 127.0.0.1: headers, then a body that never comes.
	var slow []net.Conn
	for range slowConns {
		c := dialFrom(t, "127.0.0.1", addr)
		fmt.Fprintf(c, "POST /api/v1/grants HTTP/1.1\r\nHost: jitd\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
		slow = append(slow, c)
	}
	// From 127.0.0.3: nothing at all.
	var silent []net.Conn
	for range 1000 {
		silent = append(silent, dialFrom(t, "127.0.0.3", addr))
	}
	t.Cleanup(func() {
		for _, c := range append(slow, silent...) {
			c.Close()
		}
	})

	// Another client (127.0.0.2) is served as ever.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
		return d.DialContext(ctx, network, a)
	}}}
	resp, err := hc.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz during the flood: %v %v", resp, err)
	}
	resp.Body.Close()
	c := apiclient.New("http://"+addr, e.tokens[auth.RoleAdmin], hc)
	if _, err := c.AddGrant(context.Background(), api.AddGrantRequest{User: "alice", Group: "prod-db-admins", For: "1h", Reason: "INC-7"}); err != nil {
		t.Fatalf("a grant during the flood: %v", err)
	}

	// The slow requests were refused (no credentials) and their
	// connections closed, without waiting for the body.
	refused := 0
	var others []string
	for _, c := range slow {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		// 401 (no credentials), or 503 past the bound on requests in flight
		// that have not signed in: refused and closed either way.
		// A server that closes with the promised body unread may reset the
		// connection before the client reads the answer (TCP sends RST
		// for unread data): closed all the same.
		// Closed with nothing said (the connection bound for its address
		// was reached first) is closed too.
		b, err := io.ReadAll(c)
		switch {
		case err == nil && len(b) > 12 && (string(b[:12]) == "HTTP/1.1 401" || string(b[:12]) == "HTTP/1.1 503"):
			refused++
		case errors.Is(err, syscall.ECONNRESET), err == nil && len(b) == 0:
			refused++
		default:
			others = append(others, fmt.Sprintf("%.12q, %v", b, err))
		}
	}
	if refused != len(slow) {
		t.Fatalf("%d of %d requests holding back their body were refused and closed; the others: %v", refused, len(slow), others)
	}
	// Silent connections past the bound per address were closed at once.
	var closed atomic.Int32
	var wg sync.WaitGroup
	for _, c := range silent {
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err == io.EOF {
				closed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := closed.Load(); n < 700 {
		t.Fatalf("only %d of 1,000 silent connections from one address were closed; the bound is 256", n)
	}

	for _, c := range append(slow, silent...) {
		c.Close()
	}
	poll.Until(t, 15*time.Second, "the server's goroutines to return to their baseline", func() bool {
		return runtime.NumGoroutine() <= baseline+20
	})
}
