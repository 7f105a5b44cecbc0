package entra

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/entra/entraconfig"
)

// Contractor accounts: members (created in the tenant with an initial
// password) or guests (invited to use their own identity). Every account
// jitd makes has employeeType jitd-ephemeral; jitd never enables, disables
// or deletes a user without it. Disabling also revokes the user's sign-in
// sessions, so refresh tokens stop working at once.

var _ connectors.AccountManager = (*Conn)(nil)

func (c *Conn) accounts() (*entraconfig.AccountsConfig, error) {
	if c.cfg.Accounts == nil {
		return nil, fmt.Errorf("entra: this directory has no accounts: configured: %w", connectors.ErrInvalid)
	}
	return c.cfg.Accounts, nil
}

// CreateAccount creates a member user, or invites a guest.
func (c *Conn) CreateAccount(ctx context.Context, spec connectors.AccountSpec) (connectors.Account, error) {
	a, err := c.accounts()
	if err != nil {
		return connectors.Account{}, err
	}
	local, _, _ := strings.Cut(spec.Login, "@")
	if local == "" || strings.ContainsAny(local, " \"(),:;<>[\\]") {
		return connectors.Account{}, fmt.Errorf("entra: account login %q: not a valid user principal name: %w", spec.Login, connectors.ErrInvalid)
	}
	display := strings.TrimSpace(spec.GivenName + " " + spec.Surname)
	if display == "" {
		display = local
	}
	if a.Kind == "guest" {
		return c.invite(ctx, a, spec, display)
	}
	upn := spec.Login // a login with a domain is the UPN as given; the tenant must have verified the domain
	if !strings.Contains(upn, "@") {
		upn = local + "@" + a.Domain
	}
	password := spec.Password
	if password == "" {
		password = connectors.RandomPassword()
	}
	u := models.NewUser()
	u.SetAccountEnabled(&spec.Activate)
	u.SetDisplayName(&display)
	u.SetMailNickname(&local)
	u.SetUserPrincipalName(&upn)
	marker := Marker
	u.SetEmployeeType(&marker)
	if spec.GivenName != "" {
		u.SetGivenName(&spec.GivenName)
	}
	if spec.Surname != "" {
		u.SetSurname(&spec.Surname)
	}
	profile := models.NewPasswordProfile()
	profile.SetPassword(&password)
	force := true
	profile.SetForceChangePasswordNextSignIn(&force)
	u.SetPasswordProfile(profile)
	if !spec.Until.IsZero() {
		c.setEndDate(u, spec.Until)
	}
	created, err := c.graph.Users().Post(ctx, u, nil)
	if err != nil {
		return connectors.Account{}, mapErr("create account "+upn, permUsers, err)
	}
	return connectors.Account{ID: str(created.GetId()), Login: upn, Enabled: spec.Activate, PasswordSet: spec.Password != ""}, nil
}

// invite invites a guest, then marks the new user as jitd's.
func (c *Conn) invite(ctx context.Context, a *entraconfig.AccountsConfig, spec connectors.AccountSpec, display string) (connectors.Account, error) {
	if spec.Email == "" {
		return connectors.Account{}, fmt.Errorf("entra: a guest account needs the contractor's email: %w", connectors.ErrInvalid)
	}
	inv := models.NewInvitation()
	inv.SetInvitedUserEmailAddress(&spec.Email)
	inv.SetInvitedUserDisplayName(&display)
	inv.SetInviteRedirectUrl(&a.InviteRedirectURL)
	send := true
	inv.SetSendInvitationMessage(&send)
	res, err := c.graph.Invitations().Post(ctx, inv, nil)
	if err != nil {
		return connectors.Account{}, mapErr("invite "+spec.Email, permInvite, err)
	}
	if res.GetInvitedUser() == nil || res.GetInvitedUser().GetId() == nil {
		return connectors.Account{}, fmt.Errorf("entra: invite %s: Graph returned no user: %w", spec.Email, connectors.ErrUnavailable)
	}
	id := *res.GetInvitedUser().GetId()
	patch := models.NewUser()
	marker := Marker
	patch.SetEmployeeType(&marker)
	patch.SetAccountEnabled(&spec.Activate)
	if !spec.Until.IsZero() {
		c.setEndDate(patch, spec.Until)
	}
	if _, err := c.graph.Users().ByUserId(id).Patch(ctx, patch, nil); err != nil {
		return connectors.Account{}, mapErr("mark invited guest "+id, permUsers, err)
	}
	return connectors.Account{ID: id, Login: spec.Email, Enabled: spec.Activate}, nil
}

// setEndDate puts the end date in the configured attribute.
func (c *Conn) setEndDate(u models.Userable, until time.Time) {
	attr := c.cfg.Accounts.EndDateAttr
	if attr == "employeeLeaveDateTime" {
		t := until.UTC()
		u.SetEmployeeLeaveDateTime(&t)
		return
	}
	extra := u.GetAdditionalData()
	if extra == nil {
		extra = map[string]any{}
	}
	v := until.UTC().Format(time.RFC3339)
	extra[attr] = &v
	u.SetAdditionalData(extra)
}

// own reads a user and refuses one jitd did not create.
func (c *Conn) own(ctx context.Context, id string) (models.Userable, error) {
	if _, err := c.accounts(); err != nil {
		return nil, err
	}
	if !entraconfig.GUIDRE.MatchString(id) {
		return nil, fmt.Errorf("entra: account %q: %w", id, connectors.ErrNotFound)
	}
	u, err := c.graph.Users().ByUserId(id).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id", "userPrincipalName", "employeeType", "accountEnabled"}}})
	if err != nil {
		return nil, mapErr("read account "+id, permRead, err)
	}
	if str(u.GetEmployeeType()) != Marker {
		return nil, fmt.Errorf("entra: %s was not created by jitd (its employeeType is not %s); jitd leaves it alone: %w", str(u.GetUserPrincipalName()), Marker, connectors.ErrPermission)
	}
	return u, nil
}

// SetAccountEnabled sets accountEnabled; disabling also revokes sign-in sessions.
func (c *Conn) SetAccountEnabled(ctx context.Context, id string, enabled bool) error {
	u, err := c.own(ctx, id)
	if err != nil {
		return err
	}
	if cur := u.GetAccountEnabled(); cur == nil || *cur != enabled {
		patch := models.NewUser()
		patch.SetAccountEnabled(&enabled)
		if _, err := c.graph.Users().ByUserId(id).Patch(ctx, patch, nil); err != nil {
			return mapErr(fmt.Sprintf("set account %s enabled=%v", id, enabled), permUsers, err)
		}
	}
	if !enabled {
		if _, err := c.graph.Users().ByUserId(id).RevokeSignInSessions().PostAsRevokeSignInSessionsPostResponse(ctx, nil); err != nil {
			return mapErr("revoke the sign-in sessions of "+id, permRevoke, err)
		}
	}
	return nil
}

var _ connectors.SessionEnder = (*Conn)(nil)

// EndSessions revokes the user's sign-in sessions (revokeSignInSessions):
// their refresh tokens stop working, so a membership taken away is not
// still used through a session issued before.
func (c *Conn) EndSessions(ctx context.Context, userID string) error {
	if _, err := c.graph.Users().ByUserId(userID).RevokeSignInSessions().PostAsRevokeSignInSessionsPostResponse(ctx, nil); err != nil {
		return mapErr("revoke the sign-in sessions of "+userID, permRevoke, err)
	}
	return nil
}

// SetAccountExpiry rewrites the end-date attribute.
func (c *Conn) SetAccountExpiry(ctx context.Context, id string, until time.Time) error {
	if _, err := c.own(ctx, id); err != nil {
		return err
	}
	patch := models.NewUser()
	if until.IsZero() {
		if c.cfg.Accounts.EndDateAttr == "employeeLeaveDateTime" {
			patch.SetEmployeeLeaveDateTime(nil)
		}
	} else {
		c.setEndDate(patch, until)
	}
	if _, err := c.graph.Users().ByUserId(id).Patch(ctx, patch, nil); err != nil {
		return mapErr("set the end date of account "+id, "User-LifeCycleInfo.ReadWrite.All", err)
	}
	return nil
}

// DeleteAccount deletes a jitd account (into the tenant's recycle bin); a
// missing one is already deleted.
func (c *Conn) DeleteAccount(ctx context.Context, id string) error {
	if _, err := c.own(ctx, id); errors.Is(err, connectors.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	err := c.graph.Users().ByUserId(id).Delete(ctx, nil)
	if mapped := mapErr("delete account "+id, permUsers, err); err != nil && !errors.Is(mapped, connectors.ErrNotFound) {
		return mapped
	}
	return nil
}
