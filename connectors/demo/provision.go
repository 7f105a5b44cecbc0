package demo

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jitd/jitd/connectors"
)

// Provisioning in the demo directory. Its provisioning area is what
// provisioning created (marked provisioned in the file): the seed's people
// and groups are outside it, as a directory's built-in objects would be.

var _ connectors.Provisioner = (*Conn)(nil)

// writable are the attributes provisioning may set: the usual person
// attributes by their LDAP names, so the defaults of jitd's SCIM mapping
// work here as they do on OpenLDAP. "manager" holds a user id.
var writable = []string{"givenName", "sn", "middleName", "displayName", "mail", "title", "departmentNumber", "department",
	"o", "company", "employeeNumber", "employeeType", "telephoneNumber", "mobile", "manager", "preferredLanguage", "description"}

func isWritable(a string) bool {
	return slices.ContainsFunc(writable, func(w string) bool { return strings.EqualFold(w, a) })
}

func checkWritable(attrs map[string][]string) error {
	for a := range attrs {
		if !isWritable(a) {
			return fmt.Errorf("demo: provisioning may not write %s: %w", a, connectors.ErrPermission)
		}
	}
	return nil
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

func (u User) entry(attrs []string) connectors.Entry {
	e := connectors.Entry{Kind: connectors.UserEntry, ID: u.ID, Name: u.Login, Enabled: !u.Disabled, Created: u.Created, Modified: u.Modified, Attrs: map[string][]string{}}
	for _, a := range attrs {
		if strings.EqualFold(a, "manager") {
			if u.Manager != "" {
				e.Attrs[a] = []string{u.Manager}
			}
			continue
		}
		for k, v := range u.Attributes {
			if strings.EqualFold(k, a) && v != "" {
				e.Attrs[a] = []string{v}
			}
		}
	}
	return e
}

func (g Group) entry() connectors.Entry {
	return connectors.Entry{Kind: connectors.GroupEntry, ID: g.ID, Name: g.Name, Created: g.Created, Modified: g.Modified, Attrs: map[string][]string{}}
}

// ReadEntries streams the provisioned users or groups the query selects.
func (c *Conn) ReadEntries(ctx context.Context, q connectors.EntryQuery, fn func(connectors.Entry) error) error {
	if len(q.IDs) > connectors.MaxQueryIDs {
		return fmt.Errorf("demo: %d ids in one query; at most %d: %w", len(q.IDs), connectors.MaxQueryIDs, connectors.ErrInvalid)
	}
	id := func(x string) bool {
		return (q.ID == "" || q.ID == x) && (len(q.IDs) == 0 || slices.Contains(q.IDs, x))
	}
	c.mu.Lock()
	var out []connectors.Entry
	switch q.Kind {
	case connectors.UserEntry:
		for _, u := range c.data.Users {
			e := u.entry(append(slices.Clone(q.Attrs), q.Attr))
			if u.Provisioned && id(u.ID) && (q.Name == "" || strings.EqualFold(q.Name, u.Login)) &&
				(q.Attr == "" || slices.ContainsFunc(e.Attrs[q.Attr], func(v string) bool { return strings.EqualFold(v, q.Value) })) {
				out = append(out, u.entry(q.Attrs))
			}
		}
	case connectors.GroupEntry:
		for _, g := range c.data.Groups {
			if g.Provisioned && id(g.ID) && (q.Name == "" || strings.EqualFold(q.Name, g.Name)) && q.Attr == "" {
				out = append(out, g.entry())
			}
		}
	default:
		c.mu.Unlock()
		return fmt.Errorf("demo: unknown entry kind %d: %w", q.Kind, connectors.ErrInvalid)
	}
	c.mu.Unlock()
	for _, e := range out {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// editLocked runs fn on a copy of the directory's lists and saves the
// result; on any error the directory is as it was. fn must copy a user's
// attribute map or a group's member list before changing it.
func (c *Conn) editLocked(fn func() error) error {
	before := c.data
	c.data.Users, c.data.Groups = slices.Clone(c.data.Users), slices.Clone(c.data.Groups)
	err := fn()
	if err == nil {
		err = c.saveLocked()
	}
	if err != nil {
		c.data = before
	}
	return err
}

func newID(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func hashPassword(pw string) string {
	sum := sha256.Sum256([]byte(pw))
	return hex.EncodeToString(sum[:])
}

// setAttrsLocked writes provisioned attributes to a user; an empty list
// removes one, and a manager must be a user of the directory.
func (c *Conn) setAttrsLocked(u *User, attrs map[string][]string) error {
	for a, v := range attrs {
		if strings.EqualFold(a, "manager") {
			u.Manager = ""
			if len(v) > 0 {
				if _, ok := c.userLocked(v[0]); !ok {
					return fmt.Errorf("demo: manager %q is no user of this directory: %w", v[0], connectors.ErrInvalid)
				}
				u.Manager = v[0]
			}
			continue
		}
		if u.Attributes == nil {
			u.Attributes = map[string]string{}
		}
		for k := range u.Attributes {
			if strings.EqualFold(k, a) {
				delete(u.Attributes, k)
			}
		}
		if len(v) > 0 {
			u.Attributes[a] = v[0]
		}
	}
	if dn := u.Attributes["displayName"]; dn != "" {
		u.DisplayName = dn
	}
	return nil
}

// CreateEntry adds a provisioned user or group.
func (c *Conn) CreateEntry(ctx context.Context, spec connectors.EntrySpec) (connectors.Entry, error) {
	if strings.TrimSpace(spec.Name) == "" {
		return connectors.Entry{}, fmt.Errorf("demo: a name is required: %w", connectors.ErrInvalid)
	}
	if err := checkWritable(spec.Attrs); err != nil {
		return connectors.Entry{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := now()
	var out connectors.Entry
	err := c.editLocked(func() error {
		switch spec.Kind {
		case connectors.UserEntry:
			if slices.ContainsFunc(c.data.Users, func(u User) bool { return strings.EqualFold(u.Login, spec.Name) }) {
				return fmt.Errorf("demo: a user %q exists: %w", spec.Name, connectors.ErrConflict)
			}
			password := spec.Password
			if password == "" {
				password = connectors.RandomPassword()
			}
			u := User{ID: newID("u-"), Login: spec.Name, DisplayName: spec.Name, Disabled: !spec.Enabled, PasswordHash: hashPassword(password),
				Provisioned: true, Created: t, Modified: t}
			if err := c.setAttrsLocked(&u, spec.Attrs); err != nil {
				return err
			}
			c.data.Users = append(c.data.Users, u)
			out = u.entry(slices.Collect(maps.Keys(spec.Attrs)))
		case connectors.GroupEntry:
			if slices.ContainsFunc(c.data.Groups, func(g Group) bool { return strings.EqualFold(g.Name, spec.Name) }) {
				return fmt.Errorf("demo: a group %q exists: %w", spec.Name, connectors.ErrConflict)
			}
			g := Group{ID: newID("g-"), Name: spec.Name, Members: []string{}, Provisioned: true, Created: t, Modified: t}
			c.data.Groups = append(c.data.Groups, g)
			out = g.entry()
		default:
			return fmt.Errorf("demo: unknown entry kind %d: %w", spec.Kind, connectors.ErrInvalid)
		}
		return nil
	})
	return out, err
}

// ModifyEntry renames, changes attributes, enables or disables, or sets
// the password of a provisioned entry.
func (c *Conn) ModifyEntry(ctx context.Context, kind connectors.EntryKind, id string, change connectors.EntryChange) error {
	if err := checkWritable(change.Attrs); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.editLocked(func() error {
		switch kind {
		case connectors.UserEntry:
			u, ok := c.userLocked(id)
			if !ok || !u.Provisioned {
				return fmt.Errorf("demo: no provisioned user %s: %w", id, connectors.ErrNotFound)
			}
			u.Attributes = maps.Clone(u.Attributes)
			if change.Name != "" && !strings.EqualFold(change.Name, u.Login) {
				if slices.ContainsFunc(c.data.Users, func(o User) bool { return strings.EqualFold(o.Login, change.Name) }) {
					return fmt.Errorf("demo: a user %q exists: %w", change.Name, connectors.ErrConflict)
				}
				u.Login = change.Name
			}
			if err := c.setAttrsLocked(u, change.Attrs); err != nil {
				return err
			}
			if change.Enabled != nil {
				u.Disabled = !*change.Enabled
			}
			if change.Password != "" {
				u.PasswordHash = hashPassword(change.Password)
			}
			u.Modified = now()
		case connectors.GroupEntry:
			g, err := c.groupLocked(id)
			if err != nil || !g.Provisioned {
				return fmt.Errorf("demo: no provisioned group %s: %w", id, connectors.ErrNotFound)
			}
			if len(change.Attrs) > 0 || change.Password != "" {
				return fmt.Errorf("demo: groups hold only a name: %w", connectors.ErrInvalid)
			}
			if change.Name != "" && !strings.EqualFold(change.Name, g.Name) {
				if slices.ContainsFunc(c.data.Groups, func(o Group) bool { return strings.EqualFold(o.Name, change.Name) }) {
					return fmt.Errorf("demo: a group %q exists: %w", change.Name, connectors.ErrConflict)
				}
				g.Name = change.Name
			}
			g.Modified = now()
		default:
			return fmt.Errorf("demo: unknown entry kind %d: %w", kind, connectors.ErrInvalid)
		}
		return nil
	})
}

// DeleteEntry deletes a provisioned user (and its memberships) or group.
func (c *Conn) DeleteEntry(ctx context.Context, kind connectors.EntryKind, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.editLocked(func() error {
		switch kind {
		case connectors.UserEntry:
			if u, ok := c.userLocked(id); !ok || !u.Provisioned {
				return fmt.Errorf("demo: no provisioned user %s: %w", id, connectors.ErrNotFound)
			}
			c.data.Users = slices.DeleteFunc(c.data.Users, func(u User) bool { return u.ID == id })
			for i := range c.data.Groups {
				c.data.Groups[i].Members = slices.DeleteFunc(slices.Clone(c.data.Groups[i].Members), func(m string) bool { return m == id })
			}
		case connectors.GroupEntry:
			if g, err := c.groupLocked(id); err != nil || !g.Provisioned {
				return fmt.Errorf("demo: no provisioned group %s: %w", id, connectors.ErrNotFound)
			}
			c.data.Groups = slices.DeleteFunc(c.data.Groups, func(g Group) bool { return g.ID == id })
		default:
			return fmt.Errorf("demo: unknown entry kind %d: %w", kind, connectors.ErrInvalid)
		}
		return nil
	})
}

var _ connectors.SchemaChecker = (*Conn)(nil)

// CheckSchema reports each write to an attribute the demo directory does
// not hold.
func (c *Conn) CheckSchema(_ context.Context, writes map[string]string) ([]string, error) {
	var problems []string
	for _, setting := range slices.Sorted(maps.Keys(writes)) {
		a := writes[setting]
		if a != "" && !isWritable(a) {
			problems = append(problems, fmt.Sprintf("%s: the demo directory holds no attribute %s; name one of %s", setting, a, strings.Join(writable, ", ")))
		}
	}
	return problems, nil
}

var _ connectors.ProvisioningSettings = Config{}

// ProvisioningProblem is "": the demo directory can always be provisioned.
func (Config) ProvisioningProblem() string { return "" }

// Dialect is "": the demo directory takes OpenLDAP's attribute names.
func (Config) Dialect() string { return "" }
