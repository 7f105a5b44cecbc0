package backoff

import (
	"testing"
	"time"
)

func TestDelayDoublesWithinJitterAndStopsAtTheCap(t *testing.T) {
	b := New(time.Second, time.Minute, 1)
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 7: time.Minute, 30: time.Minute} {
		for range 100 {
			if d := b.Delay(n); d < want/2 || d > want {
				t.Fatalf("Delay(%d) = %s, want within [%s, %s]", n, d, want/2, want)
			}
		}
	}
}
