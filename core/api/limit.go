package api

import (
	"net"
	"net/http"
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
			writeErr(w, &Error{Status: http.StatusTooManyRequests, Code: CodeTooMany, Message: "too many requests from this address; retry later",
				RetryAfter: max(1, int(wait.Seconds()+0.999))})
			return
		}
		h(w, r)
	}
}
