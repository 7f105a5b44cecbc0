package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/web"
)

// The access log and the HTTP metrics: one line and one observation per
// request (SCIM keeps its own, with its own request ids), with the route
// it matched, the status, the time taken, who made it and a request id
// that is also the X-Request-Id answer header. Paths that carry a secret
// (an action link, an invite) are logged by their route only.

// reqInfo is what the handlers tell the access log of a request.
type reqInfo struct {
	route     string
	principal string
}

type infoKey struct{}

func infoOf(r *http.Request) *reqInfo {
	if i, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

type access struct {
	next     http.Handler
	log      *slog.Logger
	clock    clock.Clock
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newAccess(next http.Handler, log *slog.Logger, clk clock.Clock, reg prometheus.Registerer) *access {
	a := &access{next: next, log: log, clock: clk,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jitd_http_requests_total", Help: "HTTP API requests by method, route and status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jitd_http_request_duration_seconds", Help: "Time to answer HTTP API requests, by method and route.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route"}),
	}
	if reg != nil {
		a.requests = registered(reg, a.requests)
		a.latency = registered(reg, a.latency)
	}
	return a
}

// registered registers c, or returns the collector registered before it
// under the same name.
func registered[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
	}
	return c
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (a *access) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/scim/") {
		a.next.ServeHTTP(w, r)
		return
	}
	start := a.clock.Now()
	id := r.Header.Get("X-Request-Id")
	if !requestIDRE.MatchString(id) {
		var b [8]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	w.Header().Set("X-Request-Id", id)
	info := &reqInfo{}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	sw := &web.StatusWriter{ResponseWriter: w}
	a.next.ServeHTTP(sw, r)
	took := a.clock.Now().Sub(start)
	status := sw.Status
	if status == 0 {
		status = http.StatusOK
	}
	route := info.route
	if route == "" {
		route = "unmatched"
	}
	routePath := route
	if _, p, ok := strings.Cut(route, " "); ok {
		routePath = p
	}
	a.requests.WithLabelValues(r.Method, routePath, strconv.Itoa(status)).Inc()
	a.latency.WithLabelValues(r.Method, routePath).Observe(took.Seconds())
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case routePath == "/healthz" || routePath == "/readyz" || routePath == "/metrics":
		level = slog.LevelDebug
	}
	attrs := []any{"method", r.Method, "route", routePath, "status", status, "duration", took, "request_id", id}
	if !strings.Contains(routePath, "{token}") {
		attrs = append(attrs, "path", r.URL.Path)
	}
	if info.principal != "" {
		attrs = append(attrs, "principal", info.principal)
	}
	a.log.Log(r.Context(), level, "http request", append(attrs, "remote", r.RemoteAddr)...)
}
