package work_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/jitd/jitd/core/work"
)

type job struct{ dir, group, id string }

// Work gathers per key into batches of at most Size; a partition runs at
// most Slots keys at once while another partition is not held up; an item
// is in flight until its batch has run, and Ran follows each batch once its
// items are no longer in flight.
func TestBatches_GatherBoundAndReport(t *testing.T) {
	release := make(chan struct{})
	started := make(chan [2]string, 16)
	var mu sync.Mutex
	var runs [][]string
	byKey := map[[2]string][]string{} // the items each key's batches ran
	var b *work.Batches[[2]string, job]
	ranClean := true
	b = &work.Batches[[2]string, job]{
		Size: 2, Slots: 1,
		Key:       func(j job) [2]string { return [2]string{j.dir, j.group} },
		Partition: func(k [2]string) string { return k[0] },
		ID:        func(j job) string { return j.id },
		Run: func(_ context.Context, k [2]string, batch []job, _ func()) {
			started <- k
			if k[0] == "slow" {
				<-release
			}
			var ids []string
			for _, j := range batch {
				ids = append(ids, j.id)
			}
			mu.Lock()
			runs = append(runs, ids)
			byKey[k] = append(byKey[k], ids...)
			mu.Unlock()
		},
		// Ran for a key: that key's batches are over. (Another key's batch
		// may have run and not be over yet: drainers finish side by side.)
		Ran: func(k [2]string) {
			mu.Lock()
			defer mu.Unlock()
			for _, id := range byKey[k] {
				if b.InFlight(id) {
					ranClean = false
				}
			}
		},
	}
	ctx := context.Background()
	b.Add(ctx, job{"slow", "g1", "a"})
	if k := <-started; k != [2]string{"slow", "g1"} {
		t.Fatalf("first run for %v", k)
	}
	// The slow directory's one slot is taken: g2 waits, and more work for
	// g1 gathers meanwhile. The fast directory is not held up.
	b.Add(ctx, job{"slow", "g2", "x"})
	b.Add(ctx, job{"slow", "g1", "b"}, job{"slow", "g1", "c"}, job{"slow", "g1", "d"})
	b.Add(ctx, job{"fast", "g1", "f"})
	if k := <-started; k != [2]string{"fast", "g1"} {
		t.Fatalf("the fast directory waited for the slow one: %v ran first", k)
	}
	if !b.InFlight("b") || b.InFlight("nope") {
		t.Fatal("in-flight items not reported")
	}
	close(release)
	b.Wait()
	if b.InFlight("a") || b.InFlight("d") {
		t.Fatal("items still in flight after Wait")
	}
	slices.SortFunc(runs, func(x, y []string) int { return slices.Compare(x, y) })
	want := [][]string{{"a"}, {"b", "c"}, {"d"}, {"f"}, {"x"}}
	if !slices.EqualFunc(runs, want, slices.Equal) {
		t.Fatalf("batches %v; want %v", runs, want)
	}
	if !ranClean {
		t.Fatal("Ran saw items of finished batches still in flight")
	}
}

// A run that releases its slot lets the partition's next batch start while
// it finishes its own work (recording an outcome after the directory call).
func TestBatches_ReleaseLetsTheNextBatchStart(t *testing.T) {
	second := make(chan struct{})
	finish := make(chan struct{})
	b := &work.Batches[string, job]{
		Slots: 1,
		Key:   func(j job) string { return j.group },
		Run: func(_ context.Context, k string, _ []job, release func()) {
			if k == "g1" {
				release()
				release() // twice is once
				<-finish  // still running: g2 must not wait for this
				return
			}
			close(second)
		},
	}
	b.Add(context.Background(), job{"d", "g1", "a"}, job{"d", "g2", "b"})
	<-second
	close(finish)
	b.Wait()
}
