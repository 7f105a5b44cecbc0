// Package ratelimit bounds how often something may happen: token buckets,
// one for a whole service or one per client key. Time comes from the
// caller's clock, so tests move it instead of sleeping.
package ratelimit

import (
	"sync"
	"time"
)

// Bucket refills at Rate tokens a second up to Burst; each allowed event
// takes one.
type Bucket struct {
	rate, burst float64
	now         func() time.Time

	mu     sync.Mutex
	tokens float64
	at     time.Time
}

// NewBucket returns a full bucket.
func NewBucket(rate, burst float64, now func() time.Time) *Bucket {
	return &Bucket{rate: rate, burst: burst, now: now, tokens: burst, at: now()}
}

// Allow takes a token, or says how long until there is one.
func (b *Bucket) Allow() (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.takeLocked(b.now())
}

func (b *Bucket) takeLocked(now time.Time) (bool, time.Duration) {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.at).Seconds()*b.rate)
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// full reports whether the bucket has refilled by now.
func (b *Bucket) full(now time.Time) bool {
	return b.tokens+now.Sub(b.at).Seconds()*b.rate >= b.burst
}

// PerKey is a bucket per key (a client address), all alike. Buckets that
// have refilled are forgotten once there are many, so memory stays bounded
// by the clients active in the last burst/rate seconds. The sweep runs
// when the map has doubled since the last one, so a flood of new keys
// costs amortised constant time per call.
type PerKey struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	buckets map[string]*Bucket
	sweepAt int // sweep when the map reaches this size
}

const minSweep = 10000

// NewPerKey returns buckets of rate and burst per key.
func NewPerKey(rate, burst float64, now func() time.Time) *PerKey {
	return &PerKey{rate: rate, burst: burst, now: now, buckets: map[string]*Bucket{}, sweepAt: minSweep}
}

// Allow takes a token from key's bucket, or says how long until there is one.
func (p *PerKey) Allow(key string) (bool, time.Duration) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buckets) >= p.sweepAt {
		for k, b := range p.buckets {
			if b.full(now) {
				delete(p.buckets, k)
			}
		}
		p.sweepAt = max(minSweep, 2*len(p.buckets))
	}
	b := p.buckets[key]
	if b == nil {
		b = &Bucket{rate: p.rate, burst: p.burst, now: p.now, tokens: p.burst, at: now}
		p.buckets[key] = b
	}
	return b.takeLocked(now)
}
