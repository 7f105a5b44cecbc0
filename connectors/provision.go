package connectors

import (
	"context"
	"time"
)

// CapProvision is the capability of Provisioner.
const CapProvision Capability = "provision"

// EntryKind says whether an Entry is a user or a group.
type EntryKind int

// Entry kinds.
const (
	UserEntry EntryKind = iota + 1
	GroupEntry
)

func (k EntryKind) String() string {
	switch k {
	case UserEntry:
		return "user"
	case GroupEntry:
		return "group"
	}
	return "unknown"
}

// Entry is a user or group as provisioning sees it: its identity and the
// directory attributes that were asked for, by the directory's own names.
type Entry struct {
	Kind EntryKind
	ID   string
	DN   string
	// Name is the user's login or the group's name.
	Name string
	// Enabled is meaningful for users only.
	Enabled bool
	// Created and Modified are the directory's own timestamps (zero when
	// it keeps none).
	Created  time.Time
	Modified time.Time
	Attrs    map[string][]string
}

// EntryQuery selects entries. With ID set it names one entry; with Name,
// the entry of that login or group name; with Attr, those whose Attr equals
// Value under the directory's matching rule (case-insensitive for names in
// LDAP); with none of them, all.
type EntryQuery struct {
	Kind EntryKind
	ID   string
	// IDs asks for any of these entries at once (at most MaxQueryIDs);
	// ids that are not this directory's match nothing.
	IDs   []string
	Name  string
	Attr  string
	Value string
	// Attrs are the attributes to return in Entry.Attrs.
	Attrs []string
	// IDsOnly says the entries need carry only their ID (a listing's
	// count and order, read before the page itself); a connector may
	// return more.
	IDsOnly bool
}

// MaxQueryIDs bounds EntryQuery.IDs.
const MaxQueryIDs = 200

// EntrySpec describes a user or group to create.
type EntrySpec struct {
	Kind EntryKind
	// Name is the user's login or the group's name.
	Name string
	// Enabled creates a user enabled (groups ignore it).
	Enabled bool
	// Password is a user's initial password; never stored or logged.
	// Empty: a random one nobody knows.
	Password string
	Attrs    map[string][]string
}

// EntryChange changes an entry. Zero fields change nothing.
type EntryChange struct {
	// Name renames a group, or changes a user's login.
	Name string
	// Attrs replace the named attributes; an empty slice removes one.
	Attrs    map[string][]string
	Enabled  *bool
	Password string
}

// Provisioner creates, changes and deletes users and groups — what a SCIM
// client asks of jitd. It works only inside the area configured for it
// (a base DN, for LDAP), refuses (ErrPermission) anything outside it or
// any attribute that decides security on its own (object classes,
// memberships, passwords other than through Password, jitd's marker),
// and never touches a directory's built-in or protected objects.
// Memberships are changed with MembershipManager. An attribute that names
// another user (the manager) carries that user's ID, in both directions;
// the connector translates it to the directory's own reference (a DN).
type Provisioner interface {
	ReadEntries(ctx context.Context, q EntryQuery, fn func(Entry) error) error
	CreateEntry(ctx context.Context, spec EntrySpec) (Entry, error)
	ModifyEntry(ctx context.Context, kind EntryKind, id string, change EntryChange) error
	// DeleteEntry deletes the entry; deleting a missing one fails with
	// ErrNotFound (SCIM answers 404).
	DeleteEntry(ctx context.Context, kind EntryKind, id string) error
}

// AsProvisioner returns c as a Provisioner when it has that capability.
func AsProvisioner(c Connector) (Provisioner, bool) {
	p, ok := c.(Provisioner)
	return p, ok && Has(c, CapProvision)
}

// ProvisioningSettings is implemented by the settings of a kind that can be
// provisioned (by jitd's SCIM server), so that configuration checks and
// wiring ask the settings, never the kind.
type ProvisioningSettings interface {
	// ProvisioningProblem says what these settings lack to be provisioned
	// into, naming the setting; "" when nothing.
	ProvisioningProblem() string
	// Dialect names the directory's dialect for the default attribute
	// mapping: "ad" for Active Directory, "" otherwise.
	Dialect() string
}
