package okta

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jitd/jitd/connectors"
)

// transport is the HTTP layer under the SDK. It carries jitd's policy instead
// of the SDK's: the org's rate-limit budget is read from every response, and
// once jitd's share of it is spent (or Okta answers 429) calls fail at once
// with a RateLimitError that says how long to wait — a worker is never
// parked for a minute inside a call, and the expiry queue reschedules. 5xx
// answers and network errors are retried a few times, briefly.
type transport struct {
	base  http.RoundTripper
	now   func() time.Time
	sleep func(time.Duration)
	token func() (string, error) // API token, read on every request: a rotated file takes effect at once; nil with OAuth
	share int                    // percent of a bucket jitd may use (Config.RateLimitShare)

	mu           sync.Mutex
	blockedUntil time.Time
	inFlight     int // requests sent and not answered: they spend budget the last answer does not show yet
}

const (
	retries5xx = 3
	backoff5xx = 200 * time.Millisecond
)

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	wait := t.blockedUntil.Sub(t.now())
	if wait <= 0 {
		t.inFlight++
	}
	t.mu.Unlock()
	if wait > 0 {
		return nil, &connectors.RateLimitError{Wait: wait, Msg: "okta: rate limit budget spent"}
	}
	answered := false
	defer func() {
		if !answered {
			t.mu.Lock()
			t.inFlight--
			t.mu.Unlock()
		}
	}()
	var err error
	if t.token != nil { // API token mode; with OAuth the SDK sets its Bearer token
		token, terr := t.token()
		if terr != nil {
			return nil, terr
		}
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "SSWS "+token)
	}
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		if req.GetBody != nil && attempt > 0 {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		resp, err = t.base.RoundTrip(req)
		retry := err != nil || resp.StatusCode >= 500
		if !retry || attempt >= retries5xx || req.Context().Err() != nil {
			break
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
		}
		t.sleep(backoff5xx << attempt)
	}
	if err != nil {
		return nil, fmt.Errorf("okta: %w: %v", connectors.ErrUnavailable, err)
	}
	t.mu.Lock()
	t.inFlight--
	answered = true
	others := t.inFlight
	t.mu.Unlock()
	if wait, spent := budget(resp, t.share, others); spent {
		t.mu.Lock()
		if until := t.now().Add(wait); until.After(t.blockedUntil) {
			t.blockedUntil = until
		}
		t.mu.Unlock()
		if resp.StatusCode == http.StatusTooManyRequests {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			return nil, &connectors.RateLimitError{Wait: wait, Msg: "okta: 429 Too Many Requests"}
		}
	}
	return resp, nil
}

// budget reports whether the response says jitd's share of the rate-limit
// bucket is spent — (100 - share)% of X-Rate-Limit-Limit or less remains
// once the other requests in flight are answered, or none remains — and how
// long until it refills: X-Rate-Limit-Reset (epoch seconds) measured
// against the response's Date, so that clock skew does not matter.
func budget(resp *http.Response, share, others int) (time.Duration, bool) {
	remaining, err := strconv.Atoi(resp.Header.Get("X-Rate-Limit-Remaining"))
	reserve := 0
	if limit, lerr := strconv.Atoi(resp.Header.Get("X-Rate-Limit-Limit")); lerr == nil && share > 0 && share < 100 {
		reserve = limit*(100-share)/100 + others
	}
	if resp.StatusCode != http.StatusTooManyRequests && (err != nil || remaining > reserve) {
		return 0, false
	}
	reset, err := strconv.ParseInt(resp.Header.Get("X-Rate-Limit-Reset"), 10, 64)
	if err != nil {
		return 30 * time.Second, true // no reset given: a conservative pause
	}
	now := time.Now()
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		now = d
	}
	return max(time.Unix(reset, 0).Sub(now), 0) + time.Second, true
}
