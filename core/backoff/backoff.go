// Package backoff computes retry delays for jitd's durable queues: exponential
// from a minimum, capped at a maximum, with jitter so that retries after a
// shared outage do not arrive at the directory all at once.
package backoff

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Backoff hands out delays. It is safe for concurrent use.
type Backoff struct {
	min, max time.Duration
	mu       sync.Mutex
	rng      *rand.Rand
}

// New returns a Backoff from min to max, its jitter seeded with seed.
func New(min, max time.Duration, seed uint64) *Backoff {
	return &Backoff{min: min, max: max, rng: rand.New(rand.NewPCG(seed, 0x6a697464))}
}

// Delay returns the delay after the n-th consecutive failure (n ≥ 1): min
// doubled n-1 times, capped at max, then a random point in [d/2, d].
func (b *Backoff) Delay(n int) time.Duration {
	d := b.min
	for i := 1; i < n && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	b.mu.Lock()
	j := time.Duration(b.rng.Int64N(int64(d/2) + 1))
	b.mu.Unlock()
	return d/2 + j
}
