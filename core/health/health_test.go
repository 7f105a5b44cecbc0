package health

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/clock"
)

var t0 = time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)

// prober answers with whatever the test sets, and tells the test each time
// it was asked.
type prober struct {
	mu    sync.Mutex
	err   error
	asked chan error
}

func (p *prober) set(err error) { p.mu.Lock(); p.err = err; p.mu.Unlock() }

func (p *prober) Check(context.Context) error {
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	p.asked <- err
	return err
}

type event struct {
	kind    string
	at      time.Time
	since   time.Time
	downFor time.Duration
	alerted bool
}

type rig struct {
	t      *testing.T
	clock  *clock.Fake
	watch  *Watch
	probe  *prober
	events chan event
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, clock: clock.NewFake(t0), probe: &prober{asked: make(chan error, 16)}, events: make(chan event, 16)}
	r.watch = New(Config{ProbeEvery: 500 * time.Millisecond, SlowCall: 2 * time.Second, Heartbeat: 30 * time.Second, AlertAfter: 20 * time.Second},
		r.clock, slog.New(slog.DiscardHandler), nil, Hooks{
			Down: func(dir string, since time.Time, err error) {
				r.events <- event{kind: "down " + dir, at: r.clock.Now(), since: since}
			},
			Back: func(dir string, downFor time.Duration, alerted bool) {
				r.events <- event{kind: "back " + dir, at: r.clock.Now(), downFor: downFor, alerted: alerted}
			},
		})
	r.watch.Add("dc", r.probe)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.watch.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := r.probed(); err != nil { // a new directory is probed at once
		t.Fatalf("first probe: %v", err)
	}
	r.idle()
	return r
}

// advance moves the clock once the watch is idle.
func (r *rig) advance(d time.Duration) {
	r.t.Helper()
	r.idle()
	r.clock.Advance(d)
}

// idle waits until the watch is asleep on the clock, with no probe in
// flight and no wake-up it has not taken yet.
func (r *rig) idle() {
	for {
		r.clock.WaitForTimers(1, nil)
		r.watch.mu.Lock()
		probing := r.watch.dirs["dc"].probing
		r.watch.mu.Unlock()
		if !probing && r.watch.woken.Load() == r.watch.pokes.Load() {
			break
		}
		runtime.Gosched()
	}
}

// probed waits for the next probe and returns what it answered.
func (r *rig) probed() error {
	r.t.Helper()
	select {
	case err := <-r.probe.asked:
		return err
	case <-time.After(5 * time.Second):
		r.t.Fatal("the directory was not probed")
		return nil
	}
}

func (r *rig) next() event {
	r.t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(5 * time.Second):
		r.t.Fatal("no alert or recovery")
		return event{}
	}
}

// untilProbed advances the clock in probe steps until the watch probes.
func (r *rig) untilProbed() error {
	r.t.Helper()
	for range 100 {
		select {
		case err := <-r.probe.asked:
			return err
		default:
		}
		r.advance(100 * time.Millisecond)
	}
	return r.probed()
}

var errDown = fmt.Errorf("ldap: connect: %w: connection refused", connectors.ErrUnavailable)

func TestWatch_StoppedDirectoryIsAlertedAfterAlertAfterAndWorkIsWokenWhenItAnswers(t *testing.T) {
	r := newRig(t)
	r.probe.set(errDown)
	r.watch.Report("dc", errDown) // a removal failed: connection refused
	if err := r.untilProbed(); err == nil {
		t.Fatal("probe should have failed")
	}
	if !r.down() {
		t.Fatal("a failed call and a failed probe: the directory should be down")
	}
	// Nothing is alerted before alert_after; then exactly once.
	for r.clock.Now().Before(t0.Add(20 * time.Second)) {
		select {
		case e := <-r.events:
			t.Fatalf("%s at %s, before alert_after", e.kind, e.at.Sub(t0))
		default:
		}
		r.advance(500 * time.Millisecond)
		drain(r.probe.asked)
	}
	e := r.next()
	if e.kind != "down dc" || !e.since.Equal(t0) || e.at.Sub(t0) > 21*time.Second {
		t.Fatalf("alert: %+v, want down dc since t0 at about 20s", e)
	}
	// The directory answers again: the next probe says so, and the work
	// waiting for it is woken at once.
	r.probe.set(nil)
	for {
		r.advance(500 * time.Millisecond)
		if err := r.probed(); err == nil {
			break
		}
	}
	e = r.next()
	if e.kind != "back dc" || !e.alerted || e.downFor < 20*time.Second {
		t.Fatalf("recovery: %+v, want back dc after 20s+, alerted", e)
	}
	if r.down() || !r.watch.BackSince("dc", t0.Add(time.Second)) || r.watch.BackSince("dc", r.clock.Now()) {
		t.Fatal("after the recovery: Down or BackSince wrong")
	}
}

// A frozen directory accepts connections and answers nothing: calls hang
// instead of failing. It must be alerted as soon as a stopped one.
func TestWatch_FrozenDirectoryIsAlertedLikeAStoppedOne(t *testing.T) {
	r := newRig(t)
	end := r.watch.Observer("dc").Begin() // a removal that never returns
	defer end(context.Canceled)
	r.probe.set(fmt.Errorf("probe: %w", context.DeadlineExceeded)) // and probes time out
	if err := r.untilProbed(); err == nil {
		t.Fatal("probe should have failed")
	}
	if at := r.clock.Now().Sub(t0); at < 2*time.Second || at > 3*time.Second {
		t.Fatalf("first probe %s after the call began, want after slow_call (2s)", at)
	}
	for !r.clock.Now().After(t0.Add(20 * time.Second)) {
		r.advance(500 * time.Millisecond)
		drain(r.probe.asked)
	}
	e := r.next()
	if e.kind != "down dc" || !e.since.Equal(t0) || e.at.Sub(t0) > 21*time.Second {
		t.Fatalf("alert: %+v, want down dc since the call began, at about 20s", e)
	}
	// Any call that succeeds is news of a recovery too.
	r.watch.Report("dc", nil)
	if e := r.next(); e.kind != "back dc" {
		t.Fatalf("after a successful call: %+v, want back dc", e)
	}
}

// A directory that refuses, does not know a name, or limits jitd's rate
// answers: that is not an outage. A caller that went away says nothing.
func TestWatch_AnswersThatAreNotOutages(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("bind: %w", connectors.ErrPermission),
		fmt.Errorf("no such user: %w", connectors.ErrNotFound),
		&connectors.RateLimitError{Wait: time.Second, Msg: "slow down"},
		fmt.Errorf("caller gone: %w: %w", connectors.ErrUnavailable, context.Canceled),
	} {
		t.Run(err.Error(), func(t *testing.T) {
			r := newRig(t)
			r.watch.Report("dc", err)
			r.advance(time.Second)
			select {
			case <-r.probe.asked:
				t.Fatalf("%v made the watch probe: it treats an answer as an outage", err)
			default:
			}
			if r.down() {
				t.Fatalf("%v: directory down", err)
			}
		})
	}
}

// A call that fails while probes succeed (a one-off error) is no outage:
// no alert, and no recovery wakes the queues.
func TestWatch_OneFailedCallIsNoOutage(t *testing.T) {
	r := newRig(t)
	r.watch.Report("dc", errDown)
	if err := r.untilProbed(); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		r.advance(time.Second)
		drain(r.probe.asked)
	}
	select {
	case e := <-r.events:
		t.Fatalf("%+v after one failed call and a good probe", e)
	default:
	}
	if r.down() || r.watch.BackSince("dc", t0) {
		t.Fatal("one failed call made an outage")
	}
}

func drain(c chan error) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// down reports whether the watch holds the directory as not answering.
func (r *rig) down() bool {
	r.watch.mu.Lock()
	defer r.watch.mu.Unlock()
	return r.watch.dirs["dc"].status == down
}
