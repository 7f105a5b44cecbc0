package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/jitd/jitd/connectors"
)

// Ephemeral accounts are SCIM users jitd creates with userType set to its
// marker; it enables, disables and deletes only users carrying the marker.
// SCIM has no standard end date: jitd's queue is the only lock.

// CreateAccount creates the user (active as spec says) and returns its id.
func (c *Conn) CreateAccount(ctx context.Context, spec connectors.AccountSpec) (connectors.Account, error) {
	if !c.cfg.Accounts {
		return connectors.Account{}, fmt.Errorf("scim: this application has no accounts: true: %w", connectors.ErrInvalid)
	}
	body := map[string]any{"schemas": []string{userSchema}, "userName": spec.Login, "active": spec.Activate, "userType": c.cfg.MarkerType,
		"name": map[string]string{"givenName": spec.GivenName, "familyName": spec.Surname}}
	if spec.Email != "" {
		body["emails"] = []map[string]any{{"value": spec.Email, "primary": true, "type": "work"}}
	}
	if spec.Password != "" {
		body["password"] = spec.Password
	}
	var u user
	if err := c.do(ctx, http.MethodPost, "/Users", body, &u); err != nil {
		return connectors.Account{}, fmt.Errorf("scim: create account %s: %w", spec.Login, err)
	}
	if u.ID == "" {
		return connectors.Account{}, fmt.Errorf("scim: create account %s: the answer has no id: %w", spec.Login, connectors.ErrUnavailable)
	}
	return connectors.Account{ID: u.ID, Login: u.UserName, Enabled: spec.Activate, PasswordSet: spec.Password != ""}, nil
}

// own reads a user and checks that jitd created it.
func (c *Conn) own(ctx context.Context, id string) error {
	if !c.cfg.Accounts {
		return fmt.Errorf("scim: this application has no accounts: true: %w", connectors.ErrInvalid)
	}
	u, err := c.user(ctx, id)
	if err != nil {
		return err
	}
	if u.UserType != c.cfg.MarkerType {
		return fmt.Errorf("scim: user %s (%s) was not created by jitd (userType %q); jitd leaves it alone: %w", id, u.UserName, u.UserType, connectors.ErrPermission)
	}
	return nil
}

// SetAccountEnabled replaces active.
func (c *Conn) SetAccountEnabled(ctx context.Context, id string, enabled bool) error {
	if err := c.own(ctx, id); err != nil {
		return err
	}
	return c.do(ctx, http.MethodPatch, "/Users/"+url.PathEscape(id), patch{Schemas: []string{patchSchema},
		Operations: []patchOp{{Op: "replace", Path: "active", Value: enabled}}}, nil)
}

// SetAccountExpiry checks the account is jitd's; SCIM holds no end date.
func (c *Conn) SetAccountExpiry(ctx context.Context, id string, _ time.Time) error {
	return c.own(ctx, id)
}

// DeleteAccount deletes the user; a missing one is already deleted.
func (c *Conn) DeleteAccount(ctx context.Context, id string) error {
	if err := c.own(ctx, id); errors.Is(err, connectors.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	err := c.do(ctx, http.MethodDelete, "/Users/"+url.PathEscape(id), nil, nil)
	if errors.Is(err, connectors.ErrNotFound) {
		return nil
	}
	return err
}
