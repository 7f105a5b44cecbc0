package audit

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jitd/jitd/core/clock"
)

// Head reads where the log ends.
type Head func(ctx context.Context) (int64, string, error)

// Checkpointer publishes signed checkpoints of the log outside the
// database: appended to a file (mode 0600), written to the service log and
// announced to the notification channels that ask for them,
// every Every (default 5m) and after Events new events (default 100) at the
// latest, whenever the log has grown. Whoever keeps them can later prove
// that the log still holds what each one saw (jitd audit verify
// --checkpoint FILE).
type Checkpointer struct {
	Keys   Keys
	Head   Head
	File   string
	Every  time.Duration
	Events int64
	Clock  clock.Clock
	Log    *slog.Logger
	// Announce, when set, records the checkpoint in the log itself (for the
	// notification channels that keep a copy) and returns the new head;
	// that event alone does not make the log "grown" for the next one.
	Announce func(ctx context.Context, line string) (int64, error)

	last int64
	at   time.Time
}

// Run checkpoints until ctx is cancelled, and once more as it stops.
func (c *Checkpointer) Run(ctx context.Context) {
	if c.Every <= 0 {
		c.Every = 5 * time.Minute
	}
	if c.Events <= 0 {
		c.Events = 100
	}
	c.at = c.Clock.Now()
	tick := min(c.Every, 10*time.Second)
	for {
		t := c.Clock.NewTimer(tick)
		select {
		case <-ctx.Done():
			t.Stop()
			c.Once(context.WithoutCancel(ctx), true)
			return
		case <-t.C():
		}
		c.Once(ctx, false)
	}
}

// Once writes a checkpoint if one is due (or force and the log grew).
func (c *Checkpointer) Once(ctx context.Context, force bool) {
	seq, hash, err := c.Head(ctx)
	if err != nil {
		c.Log.Error("audit checkpoint: read the head", "err", err)
		return
	}
	now := c.Clock.Now()
	grew := seq > c.last
	if !grew || (!force && seq-c.last < c.Events && now.Sub(c.at) < c.Every) {
		return
	}
	line := c.Keys.SignCheckpoint(Checkpoint{Seq: seq, Hash: hash, Time: now})
	if err := appendLine(c.File, line); err != nil {
		c.Log.Error("audit checkpoint: write", "file", c.File, "err", err)
		return
	}
	c.Log.Info("audit checkpoint", "seq", seq, "checkpoint", line)
	c.last, c.at = seq, now
	if c.Announce != nil {
		head, err := c.Announce(ctx, line)
		if err != nil {
			c.Log.Error("audit checkpoint: announce", "err", err)
			return
		}
		c.last = head
	}
}

func appendLine(path, line string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, line); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
