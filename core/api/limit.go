package api

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// limiter bounds how often one client address may call the routes that need
// no sign-in (contractor onboarding): a token bucket per address, refilled
// at rate per second up to burst. Buckets full again are forgotten.
type limiter struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rate, burst float64, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: burst, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for addr's client, or says how long until there is one.
func (l *limiter) allow(addr string) (bool, time.Duration) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) > 10000 {
		for k, b := range l.buckets {
			if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
				delete(l.buckets, k)
			}
		}
	}
	b := l.buckets[host]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[host] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
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
