// Package demo is a directory kept in a JSON file, so that jitd can be tried
// with nothing else installed. It implements the whole connector contract.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/jitd/jitd/connectors"
)

// Config is the demo directory's configuration.
type Config struct {
	// File holds the directory; it is created from Seed when missing.
	File string `yaml:"file" json:"file"`
	// Seed is a JSON file copied to File on first start (optional).
	Seed string `yaml:"seed" json:"seed,omitempty"`
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.File == "" {
		errs = append(errs, errors.New("file: required (path of the demo directory's JSON file)"))
	}
	if c.Seed != "" {
		if _, err := os.Stat(c.Seed); err != nil {
			errs = append(errs, fmt.Errorf("seed: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Data is the file's content.
type Data struct {
	Users  []User  `json:"users"`
	Groups []Group `json:"groups"`
}

// User is a demo user.
type User struct {
	ID          string `json:"id"`
	Login       string `json:"login"`
	DisplayName string `json:"display_name"`
	Disabled    bool   `json:"disabled,omitempty"`
	// Ephemeral marks an account jitd created; Expires is its end date.
	Ephemeral bool      `json:"ephemeral,omitempty"`
	Email     string    `json:"email,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
	// PasswordHash is the SHA-256 of an account's initial password: the
	// demo directory, like a real one, never keeps the password itself.
	PasswordHash string `json:"password_sha256,omitempty"`
	// Manager is the id of the user's manager; Attributes are what
	// policy reads (department, title).
	Manager    string            `json:"manager,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	// Provisioned marks a user a provisioning client (SCIM) created: only
	// those can be changed or deleted through provisioning.
	Provisioned bool      `json:"provisioned,omitempty"`
	Created     time.Time `json:"created,omitzero"`
	Modified    time.Time `json:"modified,omitzero"`
}

// Group is a demo group and its member ids.
type Group struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Members []string `json:"members"`
	// Provisioned marks a group a provisioning client created.
	Provisioned bool      `json:"provisioned,omitempty"`
	Created     time.Time `json:"created,omitzero"`
	Modified    time.Time `json:"modified,omitzero"`
}

// Conn is a demo directory.
type Conn struct {
	path string
	mu   sync.Mutex
	data Data
}

var (
	_ connectors.Connector         = (*Conn)(nil)
	_ connectors.Resolver          = (*Conn)(nil)
	_ connectors.Lister            = (*Conn)(nil)
	_ connectors.MembershipManager = (*Conn)(nil)
)

// New opens the directory file, seeding it first when it does not exist.
func New(cfg Config) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if _, err := os.Stat(cfg.File); errors.Is(err, os.ErrNotExist) {
		seed := []byte(`{"users":[],"groups":[]}`)
		if cfg.Seed != "" {
			if seed, err = os.ReadFile(cfg.Seed); err != nil {
				return nil, fmt.Errorf("demo: seed: %w", err)
			}
		}
		if err := writeFile(cfg.File, seed); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
	}
	b, err := os.ReadFile(cfg.File)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	c := &Conn{path: cfg.File}
	if err := json.Unmarshal(b, &c.data); err != nil {
		return nil, fmt.Errorf("demo: %s: %w", cfg.File, err)
	}
	return c, nil
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (c *Conn) saveLocked() error {
	b, err := json.MarshalIndent(c.data, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(c.path, b); err != nil {
		return fmt.Errorf("demo: save: %w: %w", connectors.ErrUnavailable, err)
	}
	return nil
}

// Describe reports the kind.
func (c *Conn) Describe() connectors.Description { return connectors.Description{Kind: "demo"} }

// Check always succeeds: the file was read at start.
func (c *Conn) Check(ctx context.Context) error { return ctx.Err() }

// Close does nothing.
func (c *Conn) Close() error { return nil }

func (c *Conn) groupLocked(id string) (*Group, error) {
	for i := range c.data.Groups {
		if c.data.Groups[i].ID == id {
			return &c.data.Groups[i], nil
		}
	}
	return nil, fmt.Errorf("demo: group %q: %w", id, connectors.ErrNotFound)
}

func (c *Conn) userLocked(id string) (*User, bool) {
	for i := range c.data.Users {
		if c.data.Users[i].ID == id {
			return &c.data.Users[i], true
		}
	}
	return nil, false
}

func (u User) public() connectors.User {
	return connectors.User{ID: u.ID, Login: u.Login, DisplayName: u.DisplayName, Enabled: !u.Disabled, Manager: u.Manager, Attributes: maps.Clone(u.Attributes)}
}

func (g Group) public() connectors.Group { return connectors.Group{ID: g.ID, Name: g.Name} }

// LookupUser finds a user by login.
func (c *Conn) LookupUser(ctx context.Context, login string) (connectors.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range c.data.Users {
		if u.Login == login {
			return u.public(), nil
		}
	}
	return connectors.User{}, fmt.Errorf("demo: user %q: %w", login, connectors.ErrNotFound)
}

// LookupGroup finds a group by name.
func (c *Conn) LookupGroup(ctx context.Context, name string) (connectors.Group, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.data.Groups {
		if g.Name == name {
			return g.public(), nil
		}
	}
	return connectors.Group{}, fmt.Errorf("demo: group %q: %w", name, connectors.ErrNotFound)
}

// ListUsers streams every user.
func (c *Conn) ListUsers(ctx context.Context, fn func(connectors.User) error) error {
	c.mu.Lock()
	users := slices.Clone(c.data.Users)
	c.mu.Unlock()
	for _, u := range users {
		if err := fn(u.public()); err != nil {
			return err
		}
	}
	return nil
}

// ListGroups streams every group.
func (c *Conn) ListGroups(ctx context.Context, fn func(connectors.Group) error) error {
	c.mu.Lock()
	groups := slices.Clone(c.data.Groups)
	c.mu.Unlock()
	for _, g := range groups {
		if err := fn(g.public()); err != nil {
			return err
		}
	}
	return nil
}

// ListMembers streams a group's member ids.
func (c *Conn) ListMembers(ctx context.Context, groupID string, fn func(string) error) error {
	c.mu.Lock()
	g, err := c.groupLocked(groupID)
	var members []string
	if err == nil {
		members = slices.Clone(g.Members)
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	for _, m := range members {
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// IsMember reports whether the user is a member of the group.
func (c *Conn) IsMember(ctx context.Context, groupID, userID string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.groupLocked(groupID)
	if err != nil {
		return false, err
	}
	return slices.Contains(g.Members, userID), nil
}

// AddMembers adds users to a group; present members are left alone.
func (c *Conn) AddMembers(ctx context.Context, groupID string, userIDs []string) ([]connectors.MemberResult, error) {
	return c.change(ctx, groupID, userIDs, func(g *Group, id string) {
		if !slices.Contains(g.Members, id) {
			g.Members = append(g.Members, id)
		}
	})
}

// RemoveMembers removes users from a group; absent members are success.
func (c *Conn) RemoveMembers(ctx context.Context, groupID string, userIDs []string) ([]connectors.MemberResult, error) {
	return c.change(ctx, groupID, userIDs, func(g *Group, id string) {
		g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == id })
	})
}

func (c *Conn) change(ctx context.Context, groupID string, userIDs []string, apply func(*Group, string)) ([]connectors.MemberResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("demo: %w: %w", connectors.ErrUnavailable, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.groupLocked(groupID)
	if err != nil {
		return nil, err
	}
	results := make([]connectors.MemberResult, len(userIDs))
	for i, id := range userIDs {
		results[i].UserID = id
		if _, ok := c.userLocked(id); !ok {
			results[i].Err = fmt.Errorf("demo: user %q: %w", id, connectors.ErrNotFound)
			continue
		}
		apply(g, id)
	}
	if err := c.saveLocked(); err != nil {
		return nil, err
	}
	return results, nil
}
