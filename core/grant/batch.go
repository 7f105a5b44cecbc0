package grant

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/store"
)

// Grants on one (directory, group) are applied under that group's lock. When
// several arrive while one is being applied, the next holder of the lock
// takes them all as one batch: one transaction for their intents, one
// batched directory call, one transaction for their outcomes. The caller
// whose grant is first in line does the work; the others wait for their
// result, and the first of those left waiting takes over when it is done.

const maxBatch = 256

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

	done   chan result   // the outcome, sent once
	lead   chan struct{} // closed to make this caller apply the next batches
	result result
}

type result struct {
	g   store.Grant
	err error
}

type addQueue struct {
	items   []*pending
	running bool
}

type queues struct {
	mu sync.Mutex
	m  map[[2]string]*addQueue
}

// enqueue applies p, alone or in a batch, and returns its outcome.
func (m *Manager) enqueue(p *pending) (store.Grant, error) {
	p.done, p.lead = make(chan result, 1), make(chan struct{})
	key := [2]string{p.dir.Name, p.group.ID}
	m.queues.mu.Lock()
	if m.queues.m == nil {
		m.queues.m = map[[2]string]*addQueue{}
	}
	q := m.queues.m[key]
	if q == nil {
		q = &addQueue{}
		m.queues.m[key] = q
	}
	q.items = append(q.items, p)
	lead := !q.running
	q.running = true
	m.queues.mu.Unlock()
	if !lead {
		select {
		case r := <-p.done:
			return r.g, r.err
		case <-p.lead:
		}
	}
	m.drain(key, q, p)
	r := <-p.done
	return r.g, r.err
}

// drain applies batches from q until p's is done, then hands the queue to
// the first caller still waiting, or leaves it idle.
func (m *Manager) drain(key [2]string, q *addQueue, p *pending) {
	for {
		m.queues.mu.Lock()
		n := min(len(q.items), maxBatch)
		batch := q.items[:n:n]
		q.items = q.items[n:]
		m.queues.mu.Unlock()
		m.applyBatch(batch)
		m.queues.mu.Lock()
		finished := len(p.done) > 0
		if finished || len(q.items) == 0 {
			if len(q.items) == 0 {
				q.running = false
				delete(m.queues.m, key)
			} else {
				close(q.items[0].lead)
			}
			m.queues.mu.Unlock()
			return
		}
		m.queues.mu.Unlock()
	}
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
