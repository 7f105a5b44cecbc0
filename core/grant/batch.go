package grant

import (
	"context"
	"fmt"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/work"
)

// Grants on one (directory, group) are applied under that group's lock, a
// batch at a time (work.Batches): when several arrive while one is being
// applied, the next batch takes them all — one transaction for their
// intents, one batched directory call, one transaction for their outcomes.
// Each caller waits for its own grant's outcome.

const (
	maxBatch = 256
	// applySlots caps the groups of one directory being applied at once;
	// the expiry queue's removals have their own slots, so applies never
	// hold them up.
	applySlots = 16
)

type pending struct {
	ctx   context.Context
	req   AddRequest
	dir   *directories.Directory
	mm    connectors.MembershipManager
	user  connectors.User
	group connectors.Group
	// starts and expires come from one instant, so a grant for 30s lasts
	// exactly 30s.
	starts, expires time.Time

	done chan result // the outcome, sent once
}

type result struct {
	g   store.Grant
	err error
}

func newApplies(m *Manager) *work.Batches[[2]string, *pending] {
	return &work.Batches[[2]string, *pending]{
		Size:      maxBatch,
		SlotsFor:  func(dir string) chan struct{} { return m.dirs.Slots(directories.PoolApplies, dir, applySlots) },
		Key:       func(p *pending) [2]string { return [2]string{p.dir.Name, p.group.ID} },
		Partition: func(k [2]string) string { return k[0] },
		Run:       func(_ context.Context, _ [2]string, batch []*pending, _ func()) { m.applyBatch(batch) },
	}
}

// enqueue applies p, alone or in a batch, and returns its outcome.
func (m *Manager) enqueue(p *pending) (store.Grant, error) {
	p.done = make(chan result, 1)
	m.applies.Add(context.Background(), p) // each batch runs under its grants' own contexts
	r := <-p.done
	return r.g, r.err
}

// applyBatch records and applies grants that share a directory and group.
func (m *Manager) applyBatch(batch []*pending) {
	first := batch[0]
	unlock := m.dirs.Lock(first.dir.Name, first.group.ID)
	defer unlock()
	ctx := first.ctx
	if len(batch) > 1 {
		// One caller going away must not fail the others' grants.
		ctx = context.WithoutCancel(ctx)
	}
	var live []*pending
	var gs []store.Grant
	for _, p := range batch {
		pre, err := m.preexisting(ctx, p.mm, p.dir.Name, p.group.ID, p.user.ID)
		if err != nil {
			p.done <- result{err: err}
			continue
		}
		now := m.clock.Now()
		g := store.Grant{
			ID: NewID(), Directory: p.dir.Name, GroupID: p.group.ID, GroupName: p.group.Name, UserID: p.user.ID, UserName: p.user.Login,
			State: store.StateApplying, Reason: p.req.Reason, CreatedBy: p.req.Actor, Preexisting: pre,
			StartsAt: p.starts, ExpiresAt: p.expires, CreatedAt: now, UpdatedAt: now,
		}
		live, gs = append(live, p), append(gs, g)
	}
	if len(live) == 0 {
		return
	}
	if err := m.store.Update(ctx, func(tx store.Tx) error {
		for i, p := range live {
			if err := recordIntent(tx, gs[i], p.req); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		if len(live) == 1 {
			live[0].done <- result{err: fmt.Errorf("grant: record intent: %w", err)}
			return
		}
		// One bad grant must not sink the others: record each on its own.
		var okP []*pending
		var okG []store.Grant
		for i, p := range live {
			if err := m.store.Update(ctx, func(tx store.Tx) error { return recordIntent(tx, gs[i], p.req) }); err != nil {
				p.done <- result{err: fmt.Errorf("grant: record intent: %w", err)}
				continue
			}
			okP, okG = append(okP, p), append(okG, gs[i])
		}
		live, gs = okP, okG
		if len(live) == 0 {
			return
		}
	}
	out, errs := m.applyAll(ctx, first.mm, gs)
	for i, p := range live {
		p.done <- result{g: out[i], err: errs[i]}
	}
}

// recordIntent writes a grant in state applying, what made it (Within) and
// its audit event.
func recordIntent(tx store.Tx, g store.Grant, req AddRequest) error {
	if err := tx.InsertGrant(g); err != nil {
		return err
	}
	if req.Within != nil {
		if err := req.Within(tx, g); err != nil {
			return err
		}
	}
	detail := fmt.Sprintf("expires %s; reason: %s", g.ExpiresAt.UTC().Format(time.RFC3339), req.Reason)
	if g.Preexisting {
		detail += "; user was already a member, membership will be left in place"
	}
	return AppendEvent(tx, g, g.CreatedAt, req.Actor, audit.GrantRequested, detail)
}
