package expiry

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// Outcomes that arrive while one commits wait and share the next
// transaction; when a shared transaction fails, each is tried alone, so
// only the bad one fails.
func TestGroupCommit_SharesTransactionsAndIsolatesFailures(t *testing.T) {
	var c groupCommit
	bad := &outcome{}
	first := &outcome{}
	inFirst := make(chan struct{})
	letGo := make(chan struct{})
	var mu sync.Mutex
	var groups []int
	write := func(_ context.Context, os []*outcome) error {
		mu.Lock()
		groups = append(groups, len(os))
		mu.Unlock()
		if os[0] == first {
			close(inFirst)
			<-letGo
		}
		for _, o := range os {
			if o == bad {
				return errors.New("bad outcome")
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.commit(context.Background(), first, write); err != nil {
			t.Errorf("first: %v", err)
		}
	})
	<-inFirst
	errs := make([]error, 4)
	others := []*outcome{{}, {}, bad, {}}
	for i, o := range others {
		wg.Go(func() { errs[i] = c.commit(context.Background(), o, write) })
	}
	for {
		c.mu.Lock()
		n := len(c.queue)
		c.mu.Unlock()
		if n == len(others) {
			break
		}
		runtime.Gosched() // until all four wait behind the first
	}
	close(letGo)
	wg.Wait()
	for i, err := range errs {
		if (others[i] == bad) != (err != nil) {
			t.Fatalf("outcome %d: %v", i, err)
		}
	}
	// The first alone, the four together (failing), then each alone.
	if want := []int{1, 4, 1, 1, 1, 1}; !slices.Equal(groups, want) {
		t.Fatalf("transactions of %v outcomes, want %v", groups, want)
	}
}
