package ratelimit_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/ratelimit"
)

func TestBucket_BurstThenRate(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	b := ratelimit.NewBucket(2, 3, clk.Now)
	for i := range 3 {
		if ok, _ := b.Allow(); !ok {
			t.Fatalf("call %d of the burst refused", i)
		}
	}
	ok, wait := b.Allow()
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("past the burst: %v, wait %v; want refused, 500ms", ok, wait)
	}
	clk.Advance(500 * time.Millisecond)
	if ok, _ := b.Allow(); !ok {
		t.Fatal("refused after waiting as told")
	}
	clk.Advance(time.Hour)
	for i := range 3 {
		if ok, _ := b.Allow(); !ok {
			t.Fatalf("a refilled bucket refused call %d", i)
		}
	}
	if ok, _ := b.Allow(); ok {
		t.Fatal("a bucket filled beyond its burst")
	}
}

func TestPerKey_KeysDoNotShareAndIdleOnesAreForgotten(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	p := ratelimit.NewPerKey(1, 1, clk.Now)
	if ok, _ := p.Allow("a"); !ok {
		t.Fatal("first call of a refused")
	}
	if ok, _ := p.Allow("a"); ok {
		t.Fatal("a's second call allowed")
	}
	if ok, _ := p.Allow("b"); !ok {
		t.Fatal("b pays for a")
	}
	// A flood of new keys: each costs little, and idle ones are dropped.
	for i := range 100000 {
		p.Allow(fmt.Sprint("k", i))
	}
	clk.Advance(time.Minute)
	if ok, _ := p.Allow("a"); !ok {
		t.Fatal("a refused after a minute")
	}
	for i := range 100000 {
		p.Allow(fmt.Sprint("n", i))
	}
	if n := p.Len(); n > 200001 || n < 100000 {
		t.Fatalf("%d buckets kept", n)
	}
}
