package okta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	oktasdk "github.com/okta/okta-sdk-golang/v2/okta"
	"github.com/okta/okta-sdk-golang/v2/okta/query"

	"github.com/jitd/jitd/connectors"
)

var _ connectors.AccountManager = (*Conn)(nil)

// CreateAccount creates a contractor user, staged (activate: false) or
// active, tagged with jitd's marker and, when configured, its end date.
func (c *Conn) CreateAccount(ctx context.Context, spec connectors.AccountSpec) (connectors.Account, error) {
	if spec.Login == "" || spec.Email == "" || spec.GivenName == "" || spec.Surname == "" {
		return connectors.Account{}, fmt.Errorf("okta: create account: login, email, given name and surname are required: %w", connectors.ErrInvalid)
	}
	profile := oktasdk.UserProfile{
		"login": spec.Login, "email": spec.Email, "firstName": spec.GivenName, "lastName": spec.Surname,
		c.cfg.AccountMarkerAttr: c.cfg.AccountMarkerValue,
	}
	if c.cfg.AccountEndDateAttr != "" && !spec.Until.IsZero() {
		profile[c.cfg.AccountEndDateAttr] = spec.Until.UTC().Format("2006-01-02")
	}
	u, resp, err := c.client.User.CreateUser(ctx, oktasdk.CreateUserRequest{Profile: &profile},
		query.NewQueryParams(query.WithActivate(spec.Activate)))
	if err != nil {
		return connectors.Account{}, mapErr("create account "+spec.Login, resp, err)
	}
	out := toUser(u)
	return connectors.Account{ID: out.ID, Login: out.Login, Enabled: out.Enabled}, nil
}

// managed reads a user and refuses one that jitd did not create.
func (c *Conn) managed(ctx context.Context, id string) (*oktasdk.User, string, error) {
	seg, ok := segment(id)
	if !ok {
		return nil, "", fmt.Errorf("okta: account %q: %w", id, connectors.ErrNotFound)
	}
	u, resp, err := c.client.User.GetUser(ctx, seg)
	if err != nil {
		return nil, seg, mapErr("read account "+id, resp, err)
	}
	if u.Profile == nil || (*u.Profile)[c.cfg.AccountMarkerAttr] != c.cfg.AccountMarkerValue {
		return nil, seg, fmt.Errorf("okta: account %s was not created by jitd (its %s is not %q); jitd leaves it alone: %w",
			id, c.cfg.AccountMarkerAttr, c.cfg.AccountMarkerValue, connectors.ErrPermission)
	}
	return u, seg, nil
}

// SetAccountEnabled activates (or unsuspends) or deactivates a jitd account.
func (c *Conn) SetAccountEnabled(ctx context.Context, id string, enabled bool) error {
	u, seg, err := c.managed(ctx, id)
	if err != nil {
		return err
	}
	var resp *oktasdk.Response
	switch {
	case enabled && u.Status == "SUSPENDED":
		resp, err = c.client.User.UnsuspendUser(ctx, seg)
	case enabled && !enabledStatus(u.Status):
		_, resp, err = c.client.User.ActivateUser(ctx, seg, query.NewQueryParams(query.WithSendEmail(false)))
	case !enabled && u.Status != "DEPROVISIONED":
		resp, err = c.client.User.DeactivateUser(ctx, seg, query.NewQueryParams(query.WithSendEmail(false)))
	}
	return mapErr(fmt.Sprintf("set account %s enabled=%v", id, enabled), resp, err)
}

func enabledStatus(s string) bool { return enabled(s) && s != "PROVISIONED" }

var _ connectors.SessionEnder = (*Conn)(nil)

// EndSessions clears the user's Okta sessions (DELETE
// /api/v1/users/{id}/sessions), so a membership taken away is not still
// used through a session issued before.
func (c *Conn) EndSessions(ctx context.Context, userID string) error {
	seg, ok := segment(userID)
	if !ok {
		return fmt.Errorf("okta: user %q: %w", userID, connectors.ErrNotFound)
	}
	resp, err := c.client.User.ClearUserSessions(ctx, seg, nil)
	return mapErr("end the sessions of "+userID, resp, err)
}

// SetAccountExpiry rewrites the end-date profile attribute, when one is
// configured, with a partial profile update.
func (c *Conn) SetAccountExpiry(ctx context.Context, id string, until time.Time) error {
	u, seg, err := c.managed(ctx, id)
	if err != nil || c.cfg.AccountEndDateAttr == "" {
		return err
	}
	profile := *u.Profile
	var v any // nil clears it
	if !until.IsZero() {
		v = until.UTC().Format("2006-01-02")
	}
	profile[c.cfg.AccountEndDateAttr] = v
	_, resp, err := c.client.User.PartialUpdateUser(ctx, seg, oktasdk.User{Profile: &profile}, nil)
	return mapErr("set the end date of account "+id, resp, err)
}

// DeleteAccount deletes a jitd account (deactivating it first, as Okta
// requires). A missing account is success.
func (c *Conn) DeleteAccount(ctx context.Context, id string) error {
	u, seg, err := c.managed(ctx, id)
	if errors.Is(err, connectors.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if u.Status != "DEPROVISIONED" {
		if resp, err := c.client.User.DeactivateUser(ctx, seg, query.NewQueryParams(query.WithSendEmail(false))); err != nil {
			return mapErr("deactivate account "+id+" before deleting it", resp, err)
		}
	}
	resp, err := c.client.User.DeactivateOrDeleteUser(ctx, seg, nil)
	if err != nil && !strings.Contains(mapErr("", resp, err).Error(), connectors.ErrNotFound.Error()) {
		return mapErr("delete account "+id, resp, err)
	}
	return nil
}
