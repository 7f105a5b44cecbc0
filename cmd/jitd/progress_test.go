package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitd/jitd/core/api"
)

// The progress line names each sync under way with its phase, what it has
// read and the rate; directories not syncing are left out.
func TestProgressLine(t *testing.T) {
	now := time.Date(2026, 12, 4, 9, 0, 10, 0, time.UTC)
	line := progressLine([]api.SyncStatus{
		{Directory: "corp", Running: &api.SyncProgress{Full: true, Phase: "reading members", Objects: 50000, StartedAt: now.Add(-10 * time.Second)}},
		{Directory: "idle"},
	}, now)
	if line != "corp: full sync, reading members: 50000 objects, 5000/s, 10s" {
		t.Fatalf("line %q", line)
	}
	if progressLine([]api.SyncStatus{{Directory: "idle"}}, now) != "" {
		t.Fatal("a line with nothing under way")
	}
}

// The reporter rewrites one line while the sync runs and clears it at the
// end, so the result that follows starts on a clean line.
func TestSyncProgress_RewritesOneLineAndClearsIt(t *testing.T) {
	var mu sync.Mutex
	var out strings.Builder
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	calls := 0
	polled := make(chan struct{}, 8)
	status := func(context.Context) ([]api.SyncStatus, error) {
		calls++
		polled <- struct{}{}
		return []api.SyncStatus{{Directory: "corp", Running: &api.SyncProgress{Phase: "reading changes", Objects: int64(calls), StartedAt: time.Now()}}}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		syncProgress(ctx, w, time.Millisecond, status)
	}()
	<-polled
	<-polled
	cancel()
	<-finished
	mu.Lock()
	defer mu.Unlock()
	s := out.String()
	if !strings.HasPrefix(s, "\rcorp: incremental sync, reading changes: 1 objects") || !strings.Contains(s, "\rcorp: incremental sync, reading changes: 2 objects") || !strings.HasSuffix(s, "\r") {
		t.Fatalf("output %q", s)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
