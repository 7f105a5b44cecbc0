package store

import (
	"context"
	"time"

	"github.com/jitd/jitd/core/audit"
)

// AuditFilter selects audit events, newest first.
type AuditFilter struct {
	GrantID string
	Limit   int
	// Before, when set, lists only events older than this sequence
	// number (the next page, newest first).
	Before int64
	// Ascending lists oldest first, only the events newer than After (a
	// reader catching up; After 0: from the first event).
	Ascending bool
	After     int64
}

// Append records one audit event in a transaction of its own and returns
// it as written.
func Append(ctx context.Context, s Store, e audit.Event) (audit.Event, error) {
	err := s.Update(ctx, func(tx Tx) (err error) {
		e, err = tx.AppendAudit(e)
		return err
	})
	return e, err
}

// Audit is the store's part for the audit log.
type Audit interface {
	AuditEvents(ctx context.Context, f AuditFilter) ([]audit.Event, error)
	// WalkAudit calls fn for every event in sequence order.
	WalkAudit(ctx context.Context, fn func(audit.Event) error) error
	// AuditHead returns the last sequence number and hash written.
	AuditHead(ctx context.Context) (int64, string, error)
	// AuditAfter lists up to limit audit events with Seq > seq, oldest first.
	AuditAfter(ctx context.Context, seq int64, limit int) ([]audit.Event, error)
}

// AuditTx is the write transaction's part for the audit log.
type AuditTx interface {
	// AppendAudit chains e to the log (setting Seq, PrevHash, Hash) and returns it.
	AppendAudit(e audit.Event) (audit.Event, error)
	// ErasePersonalData erases the personal fields (audit.Erase) of up to
	// limit events recorded before before that have a commitment and are
	// not erased yet, oldest first, and returns the first and last
	// sequence numbers erased and how many.
	ErasePersonalData(before time.Time, limit int) (first, last int64, n int, err error)
}

// Uncommitted counts the events recorded before before that have no
// commitment (written before commitments existed): their personal fields
// cannot be erased without breaking the chain.
type UncommittedCounter interface {
	UncommittedBefore(ctx context.Context, before time.Time) (int64, error)
}
