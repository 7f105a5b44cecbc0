package plugins

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/schema/proto/connectorpb"
)

// DefaultCallTimeout bounds a call to a connector child when the Spec sets
// no timeout.
const DefaultCallTimeout = 30 * time.Second

// Observer learns of every call to a directory and how it ended. The
// daemon's health watch is one: a call that hangs or fails tells it the
// directory may be gone, a call that succeeds that it answers.
type Observer interface {
	// Begin is called as a call starts; end is called once with its outcome.
	Begin() (end func(error))
}

// call is one call to the child. Its ctx is bounded by the call timeout (a
// unary call) or by the time since the last message (a stream), so a
// directory that stops answering fails the call instead of hanging it.
type call struct {
	c       *Conn
	parent  context.Context
	ctx     context.Context
	cancel  context.CancelFunc
	rpc     connectorpb.ConnectorClient
	observe func(error)

	// Streams only: the idle timer, and whether it fired.
	idle  *time.Timer
	idled atomic.Bool
}

// begin starts a unary call, bounded by the call timeout.
func (c *Conn) begin(ctx context.Context) (*call, error) { return c.start(ctx, false) }

// beginStream starts a streaming call (a listing, a change feed): it may run
// as long as messages keep coming, but fails when none arrives within the
// call timeout.
func (c *Conn) beginStream(ctx context.Context) (*call, error) { return c.start(ctx, true) }

func (c *Conn) start(ctx context.Context, stream bool) (*call, error) {
	k := &call{c: c, parent: ctx, observe: func(error) {}}
	if c.spec.Observer != nil {
		k.observe = c.spec.Observer.Begin()
	}
	if stream {
		k.ctx, k.cancel = context.WithCancel(ctx)
		k.idle = time.AfterFunc(c.timeout(), func() {
			k.idled.Store(true)
			k.cancel()
		})
	} else {
		k.ctx, k.cancel = context.WithTimeout(ctx, c.timeout())
	}
	rpc, err := c.current(k.ctx)
	if err != nil {
		return nil, k.end(err)
	}
	k.rpc = rpc
	return k, nil
}

// touch restarts a stream's idle timer after a message. A message is an
// answer: the observer hears of it, and times the wait for the next one as
// a new call, so a long listing that keeps flowing never looks hung.
func (k *call) touch() {
	if k.idle != nil {
		k.idle.Reset(k.c.timeout())
	}
	if k.c.spec.Observer != nil {
		k.observe(nil)
		k.observe = k.c.spec.Observer.Begin()
	}
}

// end finishes the call with its outcome, already turned into a connector
// error, and returns it. A call cut by its own deadline is ErrUnavailable
// and says so; one whose caller went away keeps the caller's reason.
func (k *call) end(err error) error {
	if k.idle != nil {
		k.idle.Stop()
	}
	timedOut := k.idled.Load() || (k.ctx.Err() != nil && k.parent.Err() == nil)
	k.cancel()
	if err != nil && timedOut {
		what := "no answer"
		if k.idle != nil {
			what = "no message"
		}
		err = fmt.Errorf("plugins: %s: %s within %s (call_timeout): %w", k.c.spec.Directory, what, k.c.timeout(), connectors.ErrUnavailable)
	} else if err != nil && k.parent.Err() != nil && !errors.Is(err, connectors.ErrUnavailable) {
		err = fmt.Errorf("plugins: %s: %w: %w", k.c.spec.Directory, connectors.ErrUnavailable, k.parent.Err())
	}
	k.observe(err)
	return err
}

func (c *Conn) timeout() time.Duration {
	if c.spec.CallTimeout > 0 {
		return c.spec.CallTimeout
	}
	return DefaultCallTimeout
}
