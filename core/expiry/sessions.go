package expiry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/backoff"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/work"
)

// Sessions ends the sessions of people whose membership of a group with
// end_sessions was removed: removal from a group does not end a cloud
// session already issued (tokens live up to an hour), so the directory is
// asked to end them too. Each is recorded with the removal, retried with
// backoff until done, alerted after MaxAttempts, and audited apart from
// the removal ("removed from the directory" and "sessions ended" are
// separate facts).
type Sessions struct {
	cfg   Config
	store store.Store
	dirs  *directories.Registry
	clock clock.Clock
	log   *slog.Logger
	alert func(e store.SessionEnd, err error)
	wake  chan struct{}

	delays *backoff.Backoff
	retry  work.Retry
}

// NewSessions returns the worker; alert may be nil.
func NewSessions(cfg Config, st store.Store, dirs *directories.Registry, clk clock.Clock, log *slog.Logger, alert func(store.SessionEnd, error)) *Sessions {
	cfg = cfg.withDefaults()
	if alert == nil {
		alert = func(store.SessionEnd, error) {}
	}
	delays := backoff.New(cfg.MinBackoff, cfg.MaxBackoff, uint64(clk.Now().UnixNano()))
	return &Sessions{cfg: cfg, store: st, dirs: dirs, clock: clk, log: log, alert: alert, wake: make(chan struct{}, 1),
		delays: delays, retry: work.Retry{MaxAttempts: cfg.MaxAttempts, Backoff: delays}}
}

// Wake makes the worker look again now. It never blocks.
func (s *Sessions) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// RetryNow makes a directory's session ends waiting out a backoff due now.
func (s *Sessions) RetryNow(ctx context.Context, directory string) (int, error) {
	var n int
	err := s.store.Update(ctx, func(tx store.Tx) (err error) {
		n, err = tx.RetrySessionEndsNow(directory, s.clock.Now())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expiry: retry session ends in %s now: %w", directory, err)
	}
	s.Wake()
	return n, nil
}

// Run works until ctx is cancelled.
func (s *Sessions) Run(ctx context.Context) {
	work.Loop(ctx, s.clock, s.wake, func(ctx context.Context) (time.Time, bool, error) {
		if _, err := s.RunOnce(ctx); err != nil {
			return time.Time{}, false, err
		}
		return s.store.NextSessionEndDue(ctx)
	}, s.delays.Delay, func(err error, wait time.Duration) {
		s.log.Error("expiry: ending sessions failed; retrying", "err", err, "retry_in", wait)
	})
}

// RunOnce ends the sessions due now and returns how many it tried.
func (s *Sessions) RunOnce(ctx context.Context) (int, error) {
	var due []store.SessionEnd
	err := s.store.Update(ctx, func(tx store.Tx) (err error) {
		due, err = tx.DueSessionEnds(s.clock.Now(), 100)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expiry: due session ends: %w", err)
	}
	for _, e := range due {
		if err := s.end(ctx, e); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

// end makes one call and records its outcome.
func (s *Sessions) end(ctx context.Context, e store.SessionEnd) error {
	err := fmt.Errorf("directory %s is not configured: %w", e.Directory, connectors.ErrInvalid)
	if d, ok := s.dirs.Set[e.Directory]; ok {
		err = fmt.Errorf("directory %s cannot end sessions: %w", e.Directory, connectors.ErrInvalid)
		if se, ok := connectors.AsSessionEnder(d.Conn); ok {
			cctx, cancel := s.dirs.Deadline(ctx)
			err = se.EndSessions(cctx, e.UserID)
			cancel()
		}
	}
	now := s.clock.Now()
	action, detail := "", ""
	switch {
	case err == nil || errors.Is(err, connectors.ErrNotFound):
		e.State, e.EndedAt, e.LastError, e.NextAttempt = store.SessionsEnded, now, "", time.Time{}
		action, detail = audit.SessionsEnded, "sessions ended in "+e.Directory
		if err != nil {
			detail = "no sessions to end: the user is gone from " + e.Directory
		}
	default:
		v := s.retry.After(work.Attempt{Attempts: e.Attempts, Due: e.CreatedAt, Now: now, Err: err, Failed: e.State != store.SessionsPending})
		e.Attempts, e.NextAttempt, e.LastError = v.Attempts, v.Next, err.Error()
		if v.Fail {
			e.State = store.SessionsFailed
			action, detail = audit.SessionsEndFailed, fmt.Sprintf("ending the sessions failed %d times, still retrying: %v", e.Attempts, err)
		}
	}
	uerr := s.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.UpdateSessionEnd(e); err != nil {
			return err
		}
		if action == "" {
			return nil
		}
		_, err := tx.AppendAudit(audit.Event{Time: now, Actor: "jitd", Action: action, GrantID: e.GrantID, Directory: e.Directory, Group: e.GroupName, User: e.UserName, Detail: detail})
		return err
	})
	if uerr != nil {
		return fmt.Errorf("expiry: record session end of %s: %w", e.GrantID, uerr)
	}
	if action == audit.SessionsEndFailed {
		s.log.Error("ALERT: ending a user's sessions keeps failing; still retried", "grant_id", e.GrantID, "directory", e.Directory, "user", e.UserName, "err", err)
		s.alert(e, err)
	}
	return nil
}
