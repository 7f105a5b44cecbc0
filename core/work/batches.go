package work

import (
	"context"
	"sync"
)

// Batches gathers work by key and drains each key's work a batch at a time:
// one drainer per key, at most Slots drainers in flight per partition (a
// directory), each taking everything gathered for its key up to Size. So
// batches grow by themselves when a directory is slower than work falls
// due, and a slow directory never holds up another's work. An item is in
// flight from Add until the run of its batch returns; InFlight says so, so
// that a claim never takes it twice.
type Batches[K comparable, T any] struct {
	// Size caps the items in one run (default 1).
	Size int
	// Slots caps the drainers in flight per partition (default 1), unless
	// SlotsFor gives the partition's pool.
	Slots int
	// SlotsFor, when set, returns a partition's pool of slots (the
	// directory registry's).
	SlotsFor func(partition string) chan struct{}
	// Key is the key of an item.
	Key func(T) K
	// Partition names the partition of a key (default: one for all).
	Partition func(K) string
	// ID names an item, for InFlight.
	ID func(T) string
	// Run does one batch of a key's work. It holds one of the partition's
	// slots until it calls release (at most once counts), or returns: work
	// that follows the directory call, such as recording its outcome,
	// need not keep another batch from the directory.
	Run func(ctx context.Context, key K, batch []T, release func())
	// Ran, when set, is called after each batch, once its items are no
	// longer in flight (to wake the loop that claims more).
	Ran func(key K)

	mu       sync.Mutex
	inFlight map[string]bool
	pending  map[K][]T
	draining map[K]bool
	slots    map[string]chan struct{}
	wg       sync.WaitGroup
}

// Add hands items to their keys' drainers, starting one where none runs.
// Items added together are gathered before any drainer takes them. It does
// not wait; ctx is the drainers'.
func (b *Batches[K, T]) Add(ctx context.Context, items ...T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending == nil {
		b.inFlight, b.pending, b.draining, b.slots = map[string]bool{}, map[K][]T{}, map[K]bool{}, map[string]chan struct{}{}
	}
	for _, it := range items {
		if b.ID != nil {
			b.inFlight[b.ID(it)] = true
		}
		key := b.Key(it)
		b.pending[key] = append(b.pending[key], it)
		if !b.draining[key] {
			b.draining[key] = true
			b.wg.Add(1)
			go b.drain(ctx, key)
		}
	}
}

// InFlight says whether the item called id was added and its batch has not
// finished.
func (b *Batches[K, T]) InFlight(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inFlight[id]
}

// Pending is how many of key's items wait for a batch.
func (b *Batches[K, T]) Pending(key K) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending[key])
}

// Wait returns when every batch added so far has run.
func (b *Batches[K, T]) Wait() { b.wg.Wait() }

func (b *Batches[K, T]) drain(ctx context.Context, key K) {
	defer b.wg.Done()
	slots := b.slotsFor(key)
	size := max(b.Size, 1)
	for {
		// The batch is taken once a slot is free: what gathers meanwhile
		// goes with it.
		slots <- struct{}{}
		var once sync.Once
		release := func() { once.Do(func() { <-slots }) }
		b.mu.Lock()
		batch := b.pending[key]
		if len(batch) == 0 {
			delete(b.pending, key)
			delete(b.draining, key)
			b.mu.Unlock()
			release()
			return
		}
		if len(batch) > size {
			batch, b.pending[key] = batch[:size:size], batch[size:]
		} else {
			b.pending[key] = nil
		}
		b.mu.Unlock()

		b.Run(ctx, key, batch, release)
		release()

		if b.ID != nil {
			b.mu.Lock()
			for _, it := range batch {
				delete(b.inFlight, b.ID(it))
			}
			b.mu.Unlock()
		}
		if b.Ran != nil {
			b.Ran(key)
		}
	}
}

func (b *Batches[K, T]) slotsFor(key K) chan struct{} {
	part := ""
	if b.Partition != nil {
		part = b.Partition(key)
	}
	if b.SlotsFor != nil {
		return b.SlotsFor(part)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.slots[part]
	if !ok {
		c = make(chan struct{}, max(b.Slots, 1))
		b.slots[part] = c
	}
	return c
}
