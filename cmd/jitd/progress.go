package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jitd/jitd/core/api"
)

// isTerminal says whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// syncProgress shows, on w, what the syncs under way have done: one line,
// rewritten every period until ctx ends, then cleared. status reads the
// daemon's sync status.
func syncProgress(ctx context.Context, w io.Writer, period time.Duration, status func(context.Context) ([]api.SyncStatus, error)) {
	t := time.NewTicker(period)
	defer t.Stop()
	width := 0
	defer func() {
		if width > 0 {
			fmt.Fprintf(w, "\r%s\r", strings.Repeat(" ", width))
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := status(ctx)
		if err != nil {
			continue
		}
		line := progressLine(st, time.Now())
		if line == "" {
			continue
		}
		pad := max(width-len(line), 0)
		fmt.Fprintf(w, "\r%s%s", line, strings.Repeat(" ", pad))
		width = max(width, len(line))
	}
}

// progressLine describes the syncs under way: directory, kind, phase,
// objects read and the rate.
func progressLine(st []api.SyncStatus, now time.Time) string {
	var parts []string
	for _, s := range st {
		p := s.Running
		if p == nil {
			continue
		}
		kind := "incremental"
		if p.Full {
			kind = "full"
		}
		took := now.Sub(p.StartedAt)
		rate := ""
		if took >= time.Second {
			rate = fmt.Sprintf(", %.0f/s", float64(p.Objects)/took.Seconds())
		}
		parts = append(parts, fmt.Sprintf("%s: %s sync, %s: %d objects%s, %s", s.Directory, kind, p.Phase, p.Objects, rate, took.Round(time.Second)))
	}
	return strings.Join(parts, "; ")
}
