// Package directories is the registry of configured directories: each one's
// connector and JIT-managed groups, and how work on them is serialised (one
// lock per directory and group, or per account). Grants, the expiry queue,
// the account lifecycle and reconciliation all reach directories through it.
package directories

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jitd/jitd/connectors"
)

// Directory is a configured directory.
type Directory struct {
	Name string
	Conn connectors.Connector
	// Groups are the JIT-managed groups, by name, as constructed. Grants are
	// refused for any other group. Read them with Group, replace them with
	// SetGroups: a configuration reload changes them while work runs.
	Groups map[string]GroupPolicy

	mu sync.RWMutex
}

// Group returns the policy of the JIT-managed group called name.
func (d *Directory) Group(name string) (GroupPolicy, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	g, ok := d.Groups[name]
	return g, ok
}

// GroupNames returns the names of the JIT-managed groups, sorted.
func (d *Directory) GroupNames() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	names := make([]string, 0, len(d.Groups))
	for n := range d.Groups {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// SetGroups replaces the JIT-managed groups (a configuration reload).
// Grants already made keep their end.
func (d *Directory) SetGroups(groups map[string]GroupPolicy) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.Groups = groups
}

// GroupPolicy is what configuration says about one JIT-managed group.
type GroupPolicy struct {
	// MaxDuration caps a grant on this group; 0 means the global maximum.
	MaxDuration time.Duration
	// EndSessions: when a membership of this group goes, the user's
	// sessions in the directory are ended too (Okta, Entra ID).
	EndSessions bool
	// Owners are the people who answer for the group: they review its
	// standing members in an access review.
	Owners []string
}

// Set maps directory names to directories.
type Set map[string]*Directory

// Locks serialises work per key pair. Grants lock (directory, group), so that
// a grant being applied and another being revoked for the same user never
// interleave their check and their directory call (the grant manager and the
// expiry queue share one Locks); the account lifecycle locks ("account", id).
// A key's lock is dropped when nobody holds or waits for it.
type Locks struct {
	mu sync.Mutex
	m  map[[2]string]*lockEntry
}

type lockEntry struct {
	mu   sync.Mutex
	refs int
}

// Lock locks (directory, group) and returns its unlock function.
func (l *Locks) Lock(directory, groupID string) (unlock func()) {
	key := [2]string{directory, groupID}
	l.mu.Lock()
	if l.m == nil {
		l.m = map[[2]string]*lockEntry{}
	}
	e := l.m[key]
	if e == nil {
		e = &lockEntry{}
		l.m[key] = e
	}
	e.refs++
	l.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}

// DefaultCallTimeout bounds a directory call when no timeout is configured.
const DefaultCallTimeout = 30 * time.Second

// Registry is the configured directories and the rules for working on
// them: the locks that serialise work on a (directory, group) or an
// account, the slots that bound the calls in flight per directory, and the
// deadline every directory call runs under, whatever makes it (applying a
// grant, revoking, an account step, ending sessions), so that a hung call
// holds a lock no longer than the call timeout.
type Registry struct {
	Set
	locks   Locks
	timeout time.Duration

	mu    sync.Mutex
	slots map[[2]string]chan struct{}
}

// The pools of slots. Each kind of work has its own per directory, so
// removals never wait behind grant applies or account steps: revocation
// comes first by construction, not by a scheduler.
const (
	PoolRemovals = "removals"
	PoolApplies  = "applies"
	PoolAccounts = "accounts"
)

// Slots returns the pool of n slots for one kind of work on directory (a
// slot is held by sending to the channel and freed by receiving). The size
// is fixed by the first caller.
func (r *Registry) Slots(pool, directory string, n int) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.slots == nil {
		r.slots = map[[2]string]chan struct{}{}
	}
	key := [2]string{pool, directory}
	c, ok := r.slots[key]
	if !ok {
		c = make(chan struct{}, max(n, 1))
		r.slots[key] = c
	}
	return c
}

// NewRegistry returns the registry of set; callTimeout 0 means
// DefaultCallTimeout.
func NewRegistry(set Set, callTimeout time.Duration) *Registry {
	if set == nil {
		set = Set{}
	}
	if callTimeout <= 0 {
		callTimeout = DefaultCallTimeout
	}
	return &Registry{Set: set, timeout: callTimeout}
}

// Lock locks (directory, key) — a group's id, or "account" and an
// account's id — and returns its unlock function.
func (r *Registry) Lock(directory, key string) (unlock func()) { return r.locks.Lock(directory, key) }

// CallTimeout is the deadline of one directory call.
func (r *Registry) CallTimeout() time.Duration { return r.timeout }

// Deadline bounds ctx by the call timeout, for one directory call.
func (r *Registry) Deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}
