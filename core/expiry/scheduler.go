// Package expiry is the durable queue that takes memberships away when their
// grants end. One scheduler sleeps on a timer until the earliest due grant and
// is woken early by changes; due grants are claimed under a lease, removed in
// batches per (directory, group) and retried with backoff until they are gone.
package expiry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jitd/jitd/core/backoff"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/conf"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/work"
)

// Store is the part of jitd's store the expiry queue uses.
type Store interface {
	store.Updater
	store.Grants
	store.SessionEnds
}

// Config tunes the queue. Zero fields take the defaults from Defaults.
type Config struct {
	// Owner names this instance in leases; stable across restarts so that a
	// restarted daemon takes its own expired work back at once.
	Owner string `yaml:"-"`
	// Lease is how long a claim is held before another instance may take it.
	Lease time.Duration `yaml:"lease"`
	// BatchSize caps the users in one RemoveMembers call.
	BatchSize int `yaml:"batch_size"`
	// Concurrency caps the directory calls in flight per directory.
	Concurrency int `yaml:"concurrency"`
	// ClaimLimit caps the grants claimed in one transaction.
	ClaimLimit int `yaml:"-"`
	// MaxAttempts failed removals move a grant to revoke_failed (still retried).
	MaxAttempts int `yaml:"max_attempts"`
	// MinBackoff and MaxBackoff bound the exponential retry delay.
	MinBackoff time.Duration `yaml:"-"`
	MaxBackoff time.Duration `yaml:"-"`
	// MaxThrottle: a removal held back by rate limits for longer than this
	// past its grant's end becomes revoke_failed (alerted; still retried).
	MaxThrottle time.Duration `yaml:"-"`
	// AlertAfter: a removal that has failed and is this far past its grant's
	// end becomes revoke_failed (alerted; still retried) whatever its number
	// of attempts, so that calls which hang until their timeout are alerted
	// as soon as calls which fail at once. The same delay makes a directory
	// that does not answer an alert, and a failing account disable one.
	AlertAfter time.Duration `yaml:"alert_after"`
	// CallTimeout bounds every directory call, on every path (a listing or
	// change feed: the wait for its next page); the directory registry
	// holds it.
	CallTimeout time.Duration `yaml:"call_timeout"`
}

// Validate returns every problem, at its key in the expiry section.
func (c Config) Validate() conf.Problems {
	var p conf.Problems
	if c.MaxAttempts < 1 {
		p.Addf("max_attempts", "must be at least 1")
	}
	if c.BatchSize < 1 || c.BatchSize > 5000 {
		p.Addf("batch_size", "must be between 1 and 5000")
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		p.Addf("concurrency", "must be between 1 and 64")
	}
	if c.Lease < 10*time.Second {
		p.Addf("lease", "must be at least 10s")
	}
	if c.CallTimeout <= 0 || c.CallTimeout >= c.Lease {
		p.Addf("call_timeout", "must be positive and shorter than expiry.lease (%s)", c.Lease)
	}
	if c.AlertAfter < time.Second {
		p.Addf("alert_after", "must be at least 1s")
	}
	return p
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		Owner: "jitd", Lease: 2 * time.Minute, BatchSize: 500, Concurrency: 4, ClaimLimit: 10000,
		MaxAttempts: 6, MinBackoff: time.Second, MaxBackoff: 5 * time.Minute,
		MaxThrottle: 15 * time.Minute, AlertAfter: 20 * time.Second, CallTimeout: 30 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := Defaults()
	if c.Owner == "" {
		c.Owner = d.Owner
	}
	if c.Lease <= 0 {
		c.Lease = d.Lease
	}
	if c.BatchSize <= 0 {
		c.BatchSize = d.BatchSize
	}
	if c.Concurrency <= 0 {
		c.Concurrency = d.Concurrency
	}
	if c.ClaimLimit <= 0 {
		c.ClaimLimit = d.ClaimLimit
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = d.MinBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(d.MaxBackoff, c.MinBackoff)
	}
	if c.MaxThrottle <= 0 {
		c.MaxThrottle = d.MaxThrottle
	}
	if c.AlertAfter <= 0 {
		c.AlertAfter = d.AlertAfter
	}
	return c
}

// Alerter is told when a grant's removal keeps failing (revoke_failed).
type Alerter func(g store.Grant, err error)

// Health says whether a directory came back from an outage after a moment:
// a removal that failed in a call begun before then is retried at once
// instead of after its backoff.
type Health interface {
	BackSince(directory string, t time.Time) bool
}

// Scheduler runs the expiry queue.
type Scheduler struct {
	cfg     Config
	store   Store
	dirs    *directories.Registry
	clock   clock.Clock
	log     *slog.Logger
	metrics *Metrics
	alert   Alerter
	// Health, when set before Run, tells whether a directory came back
	// during a failed call.
	Health Health
	// Sessions, when set, is woken when removals queue session ends.
	Sessions *Sessions
	wake     chan struct{}
	// afterPass and afterBatch, when set (tests), are called after every pass
	// of Run and after every batch.
	afterPass  func()
	afterBatch func(directory, groupID string)

	// Claimed grants gather per (directory, group) in batches: one drainer
	// per group takes everything gathered as one RemoveMembers call, at most
	// Concurrency groups per directory at a time, in goroutines the
	// scheduler owns, so a slow or unreachable directory never holds up
	// another directory's revocations. A grant claimed here is in flight
	// until its batch is recorded, and never claimed twice.
	batches *work.Batches[groupKey, store.Grant]

	delays  *backoff.Backoff
	retry   work.Retry
	commits groupCommit
}

// New returns a scheduler. metrics and alert may be nil.
func New(cfg Config, st Store, dirs *directories.Registry, clk clock.Clock, log *slog.Logger, metrics *Metrics, alert Alerter) *Scheduler {
	if alert == nil {
		alert = func(store.Grant, error) {}
	}
	cfg = cfg.withDefaults()
	delays := backoff.New(cfg.MinBackoff, cfg.MaxBackoff, uint64(clk.Now().UnixNano()))
	s := &Scheduler{
		cfg: cfg, store: st, dirs: dirs, clock: clk, log: log,
		metrics: metrics, alert: alert, wake: make(chan struct{}, 1),
		delays: delays,
		retry:  work.Retry{MaxAttempts: cfg.MaxAttempts, AlertAfter: cfg.AlertAfter, MaxThrottle: cfg.MaxThrottle, Backoff: delays},
	}
	s.batches = &work.Batches[groupKey, store.Grant]{
		Size:      cfg.BatchSize,
		SlotsFor:  func(dir string) chan struct{} { return dirs.Slots(directories.PoolRemovals, dir, cfg.Concurrency) },
		Key:       func(g store.Grant) groupKey { return groupKey{g.Directory, g.GroupID} },
		Partition: func(k groupKey) string { return k.directory },
		ID:        func(g store.Grant) string { return g.ID },
		Run:       s.removeBatch,
		Ran:       s.ranBatch,
	}
	return s
}

// Wake makes the scheduler look at the queue again now. It never blocks.
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// RetryNow makes a directory's removals that wait out a backoff due now and
// wakes the queue: the directory answers again, and nothing that was
// overdue while it did not should wait any longer. They go through the same
// batches, bounded by the same per-directory concurrency, as any removal.
func (s *Scheduler) RetryNow(ctx context.Context, directory string) (int, error) {
	var n int
	err := s.store.Update(ctx, func(tx store.Tx) (err error) {
		n, err = tx.RetryGrantsNow(directory, s.clock.Now())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expiry: retry %s now: %w", directory, err)
	}
	s.Wake()
	return n, nil
}

// Recover takes back the leases this instance held before a restart, so
// interrupted removals are retried at once instead of after the lease, and
// makes every removal waiting out a backoff due now: the backoff was
// earned by the last run against a directory that may have come back while
// jitd was down, and this run has no outage of its own to wait for.
func (s *Scheduler) Recover(ctx context.Context) error {
	var n, due int
	now := s.clock.Now()
	err := s.store.Update(ctx, func(tx store.Tx) (err error) {
		if n, err = tx.ReleaseLeases(s.cfg.Owner); err != nil {
			return err
		}
		for name := range s.dirs.Set {
			m, err := tx.RetryGrantsNow(name, now)
			if err != nil {
				return err
			}
			due += m
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("expiry: recover leases: %w", err)
	}
	if n+due > 0 {
		s.log.Info("expiry: took back interrupted removals and retries them now", "leased", n, "in_backoff", due)
	}
	return nil
}

// Run processes due grants until ctx is cancelled. It sleeps until the next
// grant is due, or until Wake. Directory calls already in flight when ctx is
// cancelled are finished and their outcome recorded before Run returns.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.batches.Wait()
	if err := s.Recover(ctx); err != nil {
		return err
	}
	calls := context.WithoutCancel(ctx) // in-flight calls outlive a shutdown request
	empty := 0
	work.Loop(ctx, s.clock, s.wake, func(ctx context.Context) (time.Time, bool, error) {
		if s.afterPass != nil {
			defer s.afterPass()
		}
		claimed, err := s.dispatchDue(calls)
		if err != nil {
			return time.Time{}, false, err
		}
		next, ok, err := s.store.NextDue(ctx)
		now := s.clock.Now()
		switch {
		case err != nil || !ok || next.After(now): // an error, something later, or nothing at all
			empty = 0
			return next, ok, err
		case claimed > 0 || empty == 0:
			// Due now: a grant can fall due between the claim and this
			// look. Look again at once.
			empty++
			return now, true, nil
		}
		// Twice nothing claimable although something is due: it is in
		// flight here (its lease ran out while it queued behind a slow
		// directory). A finishing batch wakes us; a second at the latest.
		return now.Add(time.Second), true, nil
	}, s.delays.Delay, func(err error, wait time.Duration) {
		s.log.Error("expiry: queue pass failed; retrying", "err", err, "retry_in", wait)
	})
	return nil
}

// dispatchDue claims everything due now and starts its batches; it returns
// how many grants it claimed without waiting for the directory calls.
func (s *Scheduler) dispatchDue(ctx context.Context) (int, error) {
	total := 0
	for {
		claimed, err := s.claim(ctx)
		if err != nil {
			return total, err
		}
		s.batches.Add(ctx, claimed...) // started, not waited for
		total += len(claimed)
		if len(claimed) < s.cfg.ClaimLimit {
			return total, nil
		}
	}
}

// RunOnce claims and processes everything due now, waits until every batch
// has recorded its outcome, and returns how many grants it claimed. Tests
// drive the queue with RunOnce and a fake clock.
func (s *Scheduler) RunOnce(ctx context.Context) (int, error) {
	n, err := s.dispatchDue(ctx)
	s.batches.Wait()
	return n, err
}

// backoff returns the delay after the n-th consecutive failure.

var errNoDirectory = errors.New("directory is not configured")
