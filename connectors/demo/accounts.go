package demo

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitd/jitd/connectors"
)

// Ephemeral accounts in the demo directory: users marked as jitd's own.

var _ connectors.AccountManager = (*Conn)(nil)

// CreateAccount adds a user marked as jitd's.
func (c *Conn) CreateAccount(ctx context.Context, spec connectors.AccountSpec) (connectors.Account, error) {
	if strings.TrimSpace(spec.Login) == "" {
		return connectors.Account{}, fmt.Errorf("demo: create account: login required: %w", connectors.ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if slices.ContainsFunc(c.data.Users, func(u User) bool { return strings.EqualFold(u.Login, spec.Login) }) {
		return connectors.Account{}, fmt.Errorf("demo: create account %s: the login exists: %w", spec.Login, connectors.ErrInvalid)
	}
	var b [8]byte
	rand.Read(b[:])
	u := User{ID: "u-" + hex.EncodeToString(b[:]), Login: spec.Login, Email: spec.Email, Ephemeral: true, Disabled: !spec.Activate,
		DisplayName: strings.TrimSpace(spec.GivenName + " " + spec.Surname), Expires: spec.Until.UTC()}
	if spec.Password != "" {
		sum := sha256.Sum256([]byte(spec.Password))
		u.PasswordHash = hex.EncodeToString(sum[:])
	}
	c.data.Users = append(c.data.Users, u)
	if err := c.saveLocked(); err != nil {
		c.data.Users = c.data.Users[:len(c.data.Users)-1]
		return connectors.Account{}, err
	}
	return connectors.Account{ID: u.ID, Login: u.Login, Enabled: spec.Activate, PasswordSet: u.PasswordHash != ""}, nil
}

// ownLocked finds an account and refuses a user jitd did not create.
func (c *Conn) ownLocked(id string) (*User, error) {
	u, ok := c.userLocked(id)
	if !ok {
		return nil, fmt.Errorf("demo: account %s: %w", id, connectors.ErrNotFound)
	}
	if !u.Ephemeral {
		return nil, fmt.Errorf("demo: %s was not created by jitd; jitd leaves it alone: %w", u.Login, connectors.ErrPermission)
	}
	return u, nil
}

// SetAccountEnabled enables or disables a jitd account.
func (c *Conn) SetAccountEnabled(ctx context.Context, id string, enabled bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, err := c.ownLocked(id)
	if err != nil {
		return err
	}
	if u.Disabled == !enabled {
		return nil
	}
	u.Disabled = !enabled
	if err := c.saveLocked(); err != nil {
		u.Disabled = enabled
		return err
	}
	return nil
}

// SetAccountExpiry records the end date.
func (c *Conn) SetAccountExpiry(ctx context.Context, id string, until time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, err := c.ownLocked(id)
	if err != nil {
		return err
	}
	old := u.Expires
	u.Expires = until.UTC()
	if err := c.saveLocked(); err != nil {
		u.Expires = old
		return err
	}
	return nil
}

// DeleteAccount removes a jitd account and its memberships.
func (c *Conn) DeleteAccount(ctx context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.ownLocked(id); err != nil {
		if errors.Is(err, connectors.ErrNotFound) {
			return nil
		}
		return err
	}
	before := slices.Clone(c.data.Users)
	c.data.Users = slices.DeleteFunc(c.data.Users, func(u User) bool { return u.ID == id })
	for i := range c.data.Groups {
		c.data.Groups[i].Members = slices.DeleteFunc(c.data.Groups[i].Members, func(m string) bool { return m == id })
	}
	if err := c.saveLocked(); err != nil {
		c.data.Users = before
		return err
	}
	return nil
}
