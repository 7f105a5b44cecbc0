package audit

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/core/clock"
)

// Checkpoints are written when the log has grown by Events or Every has
// passed, never for a log that did not grow, and once more at the stop;
// each line verifies with the keys.
func TestCheckpointer_WritesSignedCheckpointsWhenTheLogGrows(t *testing.T) {
	dir := t.TempDir()
	keys, err := LoadKeys(filepath.Join(dir, "audit.key"), 0)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	var seq int64
	c := &Checkpointer{Keys: keys, File: filepath.Join(dir, "audit.checkpoints"), Every: 5 * time.Minute, Events: 100, Clock: clk, Log: slog.New(slog.DiscardHandler),
		Head: func(context.Context) (int64, string, error) { return seq, strings.Repeat("0", 64), nil }}
	c.at = clk.Now()
	lines := func() []string {
		b, _ := os.ReadFile(c.File)
		return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", "_"))
	}
	seq = 50
	c.Once(context.Background(), false)
	if n := len(lines()); n != 0 {
		t.Fatalf("%d checkpoints after 50 events and no time", n)
	}
	seq = 120
	c.Once(context.Background(), false)
	if n := len(lines()); n != 1 {
		t.Fatalf("%d checkpoints after 120 events, want 1", n)
	}
	seq = 121
	clk.Advance(5 * time.Minute)
	c.Once(context.Background(), false)
	clk.Advance(5 * time.Minute)
	c.Once(context.Background(), false) // no growth: nothing
	c.Once(context.Background(), true)  // the stop, no growth: nothing
	got := lines()
	if len(got) != 2 {
		t.Fatalf("%d checkpoints, want 2", len(got))
	}
	for _, l := range got {
		if cp, err := keys.ParseCheckpoint(strings.ReplaceAll(l, "_", " ")); err != nil || cp.Seq == 0 {
			t.Fatalf("checkpoint %q: %+v %v", l, cp, err)
		}
	}
	if fi, _ := os.Stat(c.File); fi.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint file mode %v", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Join(dir, "audit.key")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
}

// Announcing a checkpoint adds an event to the log; that event alone does
// not count as growth, so an idle log is not checkpointed forever.
func TestCheckpointer_ItsOwnAnnouncementIsNoGrowth(t *testing.T) {
	dir := t.TempDir()
	keys, _ := LoadKeys(filepath.Join(dir, "audit.key"), 0)
	clk := clock.NewFake(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	seq, announced := int64(5), 0
	c := &Checkpointer{Keys: keys, File: filepath.Join(dir, "cp"), Every: time.Minute, Events: 100, Clock: clk, Log: slog.New(slog.DiscardHandler),
		Head:     func(context.Context) (int64, string, error) { return seq, strings.Repeat("0", 64), nil },
		Announce: func(context.Context, string) (int64, error) { announced++; seq++; return seq, nil }}
	c.at = clk.Now()
	for range 5 {
		clk.Advance(2 * time.Minute)
		c.Once(context.Background(), false)
	}
	if announced != 1 {
		t.Fatalf("%d checkpoints announced for a log that grew once", announced)
	}
}
