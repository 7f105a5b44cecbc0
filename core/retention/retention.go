// Package retention erases the personal fields of audit events once they
// are older than the retention period. The chain covers a salted
// commitment of those fields, not the fields themselves, so `audit verify`
// still passes after an erasure; each erasure is itself an audit event.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/conf"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/work"
)

// Store is what the eraser needs.
type Store interface {
	store.Store
	store.UncommittedCounter
}

// Eraser erases what is past the retention period.
type Eraser struct {
	Store     Store
	Clock     clock.Clock
	Log       *slog.Logger
	Retention time.Duration // 0: personal data is kept
}

// chunk is how many events one transaction erases.
const chunk = 2000

// Once erases every event recorded before now minus the retention period
// and not erased yet, and returns how many it erased.
func (e *Eraser) Once(ctx context.Context) (int, error) {
	if e.Retention <= 0 {
		return 0, nil
	}
	before := e.Clock.Now().Add(-e.Retention)
	total := 0
	var first, last int64
	for {
		var f, l int64
		var n int
		err := e.Store.Update(ctx, func(tx store.Tx) (err error) {
			f, l, n, err = tx.ErasePersonalData(before, chunk)
			return err
		})
		if err != nil {
			return total, err
		}
		if n > 0 {
			if first == 0 {
				first = f
			}
			last, total = l, total+n
		}
		if n < chunk {
			break
		}
	}
	if total == 0 {
		return 0, nil
	}
	detail := fmt.Sprintf("the actor, user and detail of %d events (sequence %d to %d) recorded before %s were erased after the personal-data retention period of %s; their commitments keep the chain verifiable",
		total, first, last, before.UTC().Format(time.RFC3339), conf.FormatDuration(e.Retention))
	if old, err := e.Store.UncommittedBefore(ctx, before); err == nil && old > 0 {
		detail += fmt.Sprintf("; %d older events, recorded before commitments, keep theirs", old)
	}
	if _, err := store.Append(ctx, e.Store, audit.Event{Time: e.Clock.Now(), Actor: "jitd", Action: audit.PersonalDataErased, Detail: detail}); err != nil {
		return total, err
	}
	e.Log.Info("audit: personal data past its retention period erased", "events", total, "first", first, "last", last, "before", before)
	return total, nil
}

// Run erases once at start and then every hour until ctx is cancelled.
func (e *Eraser) Run(ctx context.Context) {
	if e.Retention <= 0 {
		return
	}
	work.Loop(ctx, e.Clock, nil, func(ctx context.Context) (time.Time, bool, error) {
		_, err := e.Once(ctx)
		return e.Clock.Now().Add(time.Hour), true, err
	}, func(n int) time.Duration { return min(time.Duration(n)*time.Minute, time.Hour) }, func(err error, wait time.Duration) {
		e.Log.Error("audit: erasing personal data past its retention period failed; retrying", "err", err, "retry_in", wait)
	})
}
