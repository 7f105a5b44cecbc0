package mirror

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Progress is what a sync under way has done so far.
type Progress struct {
	Full    bool
	Phase   string // "reading changes", "reading users", "reading groups", "reading members", "sweeping"
	Objects int64  // users, groups, changes and group members read
	Started time.Time
}

// tracker is one directory's sync under way.
type tracker struct {
	full    atomic.Bool
	started time.Time
	phase   atomic.Pointer[string]
	objects atomic.Int64
}

func (t *tracker) set(phase string) {
	if t != nil {
		t.phase.Store(&phase)
	}
}

func (t *tracker) markFull() {
	if t != nil {
		t.full.Store(true)
	}
}

func (t *tracker) add(n int) {
	if t != nil {
		t.objects.Add(int64(n))
	}
}

type trackers struct {
	mu sync.Mutex
	m  map[string]*tracker
}

func (ts *trackers) begin(dir string, full bool, now time.Time) *tracker {
	t := &tracker{started: now}
	t.full.Store(full)
	t.set("starting")
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.m == nil {
		ts.m = map[string]*tracker{}
	}
	ts.m[dir] = t
	return t
}

func (ts *trackers) end(dir string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.m, dir)
}

// Progress reports the sync of dir under way, if one is.
func (m *Mirror) Progress(dir string) (Progress, bool) {
	m.running.mu.Lock()
	t, ok := m.running.m[dir]
	m.running.mu.Unlock()
	if !ok {
		return Progress{}, false
	}
	return Progress{Full: t.full.Load(), Phase: *t.phase.Load(), Objects: t.objects.Load(), Started: t.started}, true
}

type trackerKey struct{}

func withTracker(ctx context.Context, t *tracker) context.Context {
	return context.WithValue(ctx, trackerKey{}, t)
}

// trackerOf is the sync's tracker (nil, which records nothing, outside one).
func trackerOf(ctx context.Context) *tracker {
	t, _ := ctx.Value(trackerKey{}).(*tracker)
	return t
}
