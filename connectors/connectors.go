// Package connectors is the contract between jitd and the directories it manages.
// A connector implements the small capability interfaces its directory supports;
// callers discover them with type assertions or the As* helpers, never by kind.
package connectors

import (
	"context"
	"slices"
	"time"
)

// Capability names one optional interface a connector implements.
type Capability string

// The capabilities a connector can report.
const (
	CapLookup     Capability = "lookup"
	CapList       Capability = "list"
	CapMembership Capability = "membership"
	CapChangeFeed Capability = "changefeed"
)

// Description says what a connector is and what it can do.
type Description struct {
	Kind string
	// NativeTTL is true when the directory can expire a membership on its own.
	NativeTTL bool
}

// Connector is what every connector implements.
type Connector interface {
	// Describe reports the kind and static properties of the connector.
	Describe() Description
	// Check proves the directory is reachable and the credentials work.
	Check(ctx context.Context) error
	// Close releases connections; the connector is unusable afterwards.
	Close() error
}

// User is a directory user. ID is stable across renames and moves.
type User struct {
	ID          string
	Login       string
	DisplayName string
	DN          string // display and LDAP calls only; may change
	Enabled     bool
	// Ref is how groups name this user among their members in a ChangeFeed:
	// the normalised DN in LDAP, the id where groups list ids.
	Ref string
	// Manager names the user's manager as a Ref or an ID ("" for none):
	// policy's reporting line.
	Manager string
	// Attributes are what policy may read of the person (department,
	// title, ...), as the directory's configuration maps them.
	Attributes map[string]string
}

// Group is a directory group. ID is stable across renames and moves.
type Group struct {
	ID   string
	Name string
	DN   string
}

// Resolver finds users and groups by the names people type.
type Resolver interface {
	// LookupUser returns the user whose login is exactly login, or ErrNotFound.
	LookupUser(ctx context.Context, login string) (User, error)
	// LookupGroup returns the group whose name is exactly name, or ErrNotFound.
	LookupGroup(ctx context.Context, name string) (Group, error)
}

// Lister streams a directory's contents without holding it in memory.
// A callback's error stops the listing and is returned.
type Lister interface {
	ListUsers(ctx context.Context, fn func(User) error) error
	ListGroups(ctx context.Context, fn func(Group) error) error
	// ListMembers streams the ids of the direct members of a group.
	ListMembers(ctx context.Context, groupID string, fn func(userID string) error) error
}

// MemberResult is the outcome for one user of a batched membership change.
// A nil Err means the user is now in the wanted state, whether or not this call
// changed anything.
type MemberResult struct {
	UserID string
	Err    error
}

// MembershipManager changes group memberships in batches. Both changes are
// idempotent: adding a present member or removing an absent one succeeds.
// The returned slice has one result per requested user, in request order; a
// non-nil error means the whole call failed and no result can be trusted.
type MembershipManager interface {
	AddMembers(ctx context.Context, groupID string, userIDs []string) ([]MemberResult, error)
	RemoveMembers(ctx context.Context, groupID string, userIDs []string) ([]MemberResult, error)
	// IsMember reports whether the user is a direct member of the group.
	IsMember(ctx context.Context, groupID, userID string) (bool, error)
}

// ChangeOp says what happened to an object in a ChangeFeed.
type ChangeOp int

// Change operations.
const (
	// Upsert: the user or group exists with these attributes (new or changed).
	Upsert ChangeOp = iota + 1
	// Delete: the user (User.ID) or group (Group.ID) is gone.
	Delete
	// MembersChanged: only a group's members changed; Added and Removed say
	// how (Group.ID is set, the rest of Group is not). Feeds whose
	// directory reports membership changes as such (Graph's members@delta)
	// use it instead of re-listing the whole group. A group the receiver
	// does not know is not created by it.
	MembersChanged
)

// Change is one entry of a ChangeFeed. Exactly one of User and Group is set;
// with Delete and MembersChanged only its ID is.
type Change struct {
	Op    ChangeOp
	User  *User
	Group *Group
	// MemberRefs is, with a group's Upsert, its complete list of direct
	// members as User.Ref values. Refs that name no known user (nested
	// groups, placeholders) are ignored.
	MemberRefs []string
	// Added and Removed are, with MembersChanged, the User.Ref values that
	// joined and left the group. Applying them twice is harmless.
	Added, Removed []string
}

// ChangeFeed reports what changed in the directory since a cursor.
type ChangeFeed interface {
	// Changes calls fn for each change since cursor, users before groups,
	// and returns the cursor that resumes after them. The empty cursor asks
	// for a snapshot: every user and group is reported, and whatever is not
	// reported no longer exists. A cursor the directory no longer accepts
	// fails with ErrCursorExpired; the caller then takes a snapshot. A change
	// may be reported more than once (feeds that poll re-read an overlap);
	// applying a change twice must be harmless.
	Changes(ctx context.Context, cursor string, fn func(Change) error) (next string, err error)
}

// capabilityReporter is implemented by proxies (such as plugin clients) that
// satisfy every interface in Go but only some of them on the other side.
type capabilityReporter interface {
	Capabilities() []Capability
}

// Capabilities lists what c can do, sorted.
func Capabilities(c Connector) []Capability {
	if r, ok := c.(capabilityReporter); ok {
		caps := slices.Clone(r.Capabilities())
		slices.Sort(caps)
		return caps
	}
	var caps []Capability
	if _, ok := c.(Lister); ok {
		caps = append(caps, CapList)
	}
	if _, ok := c.(Resolver); ok {
		caps = append(caps, CapLookup)
	}
	if _, ok := c.(MembershipManager); ok {
		caps = append(caps, CapMembership)
	}
	if _, ok := c.(ChangeFeed); ok {
		caps = append(caps, CapChangeFeed)
	}
	if _, ok := c.(AccountManager); ok {
		caps = append(caps, CapAccounts)
	}
	if _, ok := c.(Provisioner); ok {
		caps = append(caps, CapProvision)
	}
	if _, ok := c.(SessionEnder); ok {
		caps = append(caps, CapSessions)
	}
	if _, ok := c.(SchemaChecker); ok {
		caps = append(caps, CapSchema)
	}
	slices.Sort(caps)
	return caps
}

// Has reports whether c has the capability.
func Has(c Connector, capability Capability) bool {
	return slices.Contains(Capabilities(c), capability)
}

// ExpiringMembershipManager adds members that the directory itself removes
// at until (AD link TTL, Entra PIM for Groups): a second lock behind jitd's
// own removal, for when jitd is gone. Adding a user who is already a member
// moves their end to until.
type ExpiringMembershipManager interface {
	AddMembersUntil(ctx context.Context, groupID string, userIDs []string, until time.Time) ([]MemberResult, error)
}

// AsExpiringMembershipManager returns c as an ExpiringMembershipManager when
// it describes itself as having a native TTL.
func AsExpiringMembershipManager(c Connector) (ExpiringMembershipManager, bool) {
	e, ok := c.(ExpiringMembershipManager)
	return e, ok && c.Describe().NativeTTL
}

// AsResolver returns c as a Resolver when it has that capability.
func AsResolver(c Connector) (Resolver, bool) {
	r, ok := c.(Resolver)
	return r, ok && Has(c, CapLookup)
}

// AsLister returns c as a Lister when it has that capability.
func AsLister(c Connector) (Lister, bool) {
	l, ok := c.(Lister)
	return l, ok && Has(c, CapList)
}

// AsMembershipManager returns c as a MembershipManager when it has that capability.
func AsMembershipManager(c Connector) (MembershipManager, bool) {
	m, ok := c.(MembershipManager)
	return m, ok && Has(c, CapMembership)
}

// AsChangeFeed returns c as a ChangeFeed when it has that capability.
func AsChangeFeed(c Connector) (ChangeFeed, bool) {
	f, ok := c.(ChangeFeed)
	return f, ok && Has(c, CapChangeFeed)
}
