package expiry

import (
	"context"
	"sync"
)

// groupCommit records the outcomes of batches that finish while another's
// is being committed together, in one transaction: one durable commit for
// many batches when the directory is faster than the disk. The first
// outcome to arrive commits; the ones that arrive meanwhile wait and go in
// its next transaction.
type groupCommit struct {
	mu      sync.Mutex
	queue   []*outcome
	leading bool
}

// commit records o with whatever else is waiting, by write, and returns
// o's result. When a shared transaction fails, each of its outcomes is
// tried alone, so that one bad outcome does not hold the others back.
func (c *groupCommit) commit(ctx context.Context, o *outcome, write func(context.Context, []*outcome) error) error {
	o.done = make(chan error, 1)
	c.mu.Lock()
	c.queue = append(c.queue, o)
	if c.leading {
		c.mu.Unlock()
		return <-o.done
	}
	c.leading = true
	for len(c.queue) > 0 {
		group := c.queue
		c.queue = nil
		c.mu.Unlock()
		err := write(ctx, group)
		for _, g := range group {
			if err != nil && len(group) > 1 {
				g.done <- write(ctx, []*outcome{g})
			} else {
				g.done <- err
			}
		}
		c.mu.Lock()
	}
	c.leading = false
	c.mu.Unlock()
	return <-o.done
}
