package api

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jitd/jitd/core/ratelimit"
)

// limiter bounds how often one client address may call the routes that need
// no sign-in (contractor onboarding): a token bucket per address.
type limiter struct{ buckets *ratelimit.PerKey }

func newLimiter(rate, burst float64, now func() time.Time) *limiter {
	return &limiter{buckets: ratelimit.NewPerKey(rate, burst, now)}
}

// allow takes a token for addr's client, or says how long until there is one.
func (l *limiter) allow(addr string) (bool, time.Duration) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return l.buckets.Allow(host)
}

// limited wraps h with the limiter: over the limit is a 429 with Retry-After.
func (l *limiter) limited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := l.allow(r.RemoteAddr); !ok {
			dropConn(w)
			writeErr(w, &Error{Status: http.StatusTooManyRequests, Code: CodeTooMany, Message: "too many requests from this address; retry later",
				RetryAfter: max(1, int(wait.Seconds()+0.999))})
			return
		}
		h(w, r)
	}
}

// guard bounds, per client address, the requests in flight that have not
// shown who they are: a flood of requests that send their headers and then
// hold back a promised body is refused at once past the bound, before its
// body is read, while requests that authenticated (and health checks) are
// never counted. The server's read timeout ends those under the bound.
type guard struct {
	perAddr int
	mu      sync.Mutex
	open    map[string]int
}

func newGuard(perAddr int) *guard { return &guard{perAddr: perAddr, open: map[string]int{}} }

// enter counts an unauthenticated request from addr, or refuses it; the
// release it returns is safe to call more than once.
func (g *guard) enter(addr string) (release func(), ok bool) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open[host] >= g.perAddr {
		return nil, false
	}
	g.open[host]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			if g.open[host]--; g.open[host] <= 0 {
				delete(g.open, host)
			}
			g.mu.Unlock()
		})
	}, true
}

type authenticatedKey struct{}

// authenticated tells the guard that the request showed valid credentials:
// it no longer counts against its address.
func authenticated(r *http.Request) {
	if release, ok := r.Context().Value(authenticatedKey{}).(func()); ok {
		release()
	}
}

// unguarded are the paths monitoring must always reach: cheap, bodiless.
var unguarded = map[string]bool{"/healthz": true, "/readyz": true}

// guarded wraps h with the guard.
func (g *guard) guarded(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unguarded[r.URL.Path] {
			h.ServeHTTP(w, r)
			return
		}
		release, ok := g.enter(r.RemoteAddr)
		if !ok {
			dropConn(w)
			writeErr(w, &Error{Status: http.StatusServiceUnavailable, Code: CodeTooMany,
				Message: "too many requests from this address have not signed in yet; retry later", RetryAfter: 5})
			return
		}
		defer release()
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authenticatedKey{}, release)))
	})
}
