package work_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/work"
)

// The loop sleeps until the next work falls due (no polling), runs a pass
// at once when woken, backs off after failed passes (longer each time in a
// row, reset by a success), sets no timer when nothing is scheduled, and
// returns when its context ends.
func TestLoop_SleepsUntilDueWakesBacksOffAndStops(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	wake := make(chan struct{}, 1)
	type result struct {
		next time.Time
		ok   bool
		err  error
	}
	results := make(chan result)
	passes := make(chan time.Time)
	var waits []time.Duration
	failed := make(chan time.Duration, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		work.Loop(ctx, clk, wake, func(context.Context) (time.Time, bool, error) {
			passes <- clk.Now()
			r := <-results
			return r.next, r.ok, r.err
		}, func(n int) time.Duration { return time.Duration(n) * time.Minute }, func(err error, wait time.Duration) { failed <- wait })
	}()
	start := clk.Now()
	step := func(want time.Time, r result) {
		t.Helper()
		if got := <-passes; !got.Equal(want) {
			t.Fatalf("a pass ran at %s; want %s", got, want)
		}
		results <- r
	}

	// Work due in an hour: one timer, and the next pass when it fires.
	step(start, result{next: start.Add(time.Hour), ok: true})
	clk.WaitForTimers(1, nil)
	clk.Advance(time.Hour)
	// Nothing scheduled: no timer; a wake runs a pass at once.
	step(start.Add(time.Hour), result{})
	wake <- struct{}{}
	if n := clk.Waiters(); n != 0 {
		t.Fatalf("%d timers with nothing scheduled", n)
	}
	// Two failures in a row back off 1 and 2 minutes; a success resets.
	boom := errors.New("store unavailable")
	step(start.Add(time.Hour), result{err: boom})
	waits = append(waits, <-failed)
	clk.WaitForTimers(1, nil)
	clk.Advance(time.Minute)
	step(start.Add(61*time.Minute), result{err: boom})
	waits = append(waits, <-failed)
	clk.WaitForTimers(1, nil)
	clk.Advance(2 * time.Minute)
	step(start.Add(63*time.Minute), result{next: start.Add(63 * time.Minute), ok: true}) // due now: again at once
	step(start.Add(63*time.Minute), result{err: boom})
	waits = append(waits, <-failed)
	if !slices.Equal(waits, []time.Duration{time.Minute, 2 * time.Minute, time.Minute}) {
		t.Fatalf("backoffs %v; want 1m, 2m, then 1m again after a success", waits)
	}
	cancel()
	<-done
}
