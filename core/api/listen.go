package api

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits on what one client can hold of the server. Together with the guard
// on unauthenticated requests they keep health checks and signed-in calls
// answering while hostile clients open connections and send nothing, send
// headers and hold back a promised body, or keep idle connections open.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute // the whole request, body included
	writeTimeout      = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	// Connections that have not sent a request yet: per client address and
	// overall. Past either, a new connection is closed at once.
	maxNewPerAddr = 256
	maxNew        = 4096
)

// NewHTTPServer returns the server jitd serves h with: read, write and idle
// timeouts, and bounded connections that have sent no request yet. Handlers
// that may run long (a sync of a large directory, a walk of the audit log)
// lift their own write deadline.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	c := &connCaps{perAddr: map[string]int{}, fresh: map[net.Conn]string{}}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         c.track,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// connCaps counts the connections that have not sent a request yet.
type connCaps struct {
	mu      sync.Mutex
	perAddr map[string]int
	fresh   map[net.Conn]string // conn -> its client address
}

func (c *connCaps) track(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if state == http.StateNew {
		host, _, err := net.SplitHostPort(conn.RemoteAddr().String())
		if err != nil {
			host = conn.RemoteAddr().String()
		}
		if c.perAddr[host] >= maxNewPerAddr || len(c.fresh) >= maxNew {
			conn.Close()
			return
		}
		c.perAddr[host]++
		c.fresh[conn] = host
		return
	}
	// Any other state: it sent a request, went away, or was taken over.
	if host, ok := c.fresh[conn]; ok {
		delete(c.fresh, conn)
		if c.perAddr[host]--; c.perAddr[host] <= 0 {
			delete(c.perAddr, host)
		}
	}
}

// noWriteDeadline lifts the write deadline of a request that may take long.
func noWriteDeadline(w http.ResponseWriter) {
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
}

// dropConn ends the connection of a request that is refused before its body
// is read (no credentials, too many): the answer is sent, and the body the
// client promised is not waited for, which the server would otherwise do
// until the read timeout to keep the connection.
func dropConn(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	http.NewResponseController(w).SetReadDeadline(time.Now())
}
