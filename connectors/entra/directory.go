package entra

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/entra/entraconfig"
)

// The fields jitd reads; Graph returns only what is selected.
var (
	userFields  = []string{"id", "userPrincipalName", "displayName", "accountEnabled", "userType", "onPremisesSyncEnabled", "employeeType", "department", "jobTitle"}
	groupFields = []string{"id", "displayName", "securityEnabled", "mailEnabled", "groupTypes", "membershipRule", "onPremisesSyncEnabled", "isAssignableToRole"}
)

const pageSize = 999 // Graph's maximum for users and groups

// managerExpand reads each user's manager (its id) with the user. Graph
// pages a listing with $expand at 100 users, against 999 without: ten
// times the pages, and still a fraction of the 1 + N/20 calls that reading
// the managers afterwards in JSON batches would take.
var managerExpand = []string{"manager($select=id)"}

func listUsersConfig(top int32) *users.UsersRequestBuilderGetRequestConfiguration {
	return &users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: userFields, Top: &top, Expand: managerExpand}}
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func toUser(u models.Userable) connectors.User {
	enabled := u.GetAccountEnabled() != nil && *u.GetAccountEnabled()
	id := str(u.GetId())
	out := connectors.User{ID: id, Login: str(u.GetUserPrincipalName()), DisplayName: str(u.GetDisplayName()), Enabled: enabled, Ref: id}
	if m := u.GetManager(); m != nil {
		out.Manager = str(m.GetId())
	}
	for name, v := range map[string]*string{"department": u.GetDepartment(), "title": u.GetJobTitle()} {
		if v != nil && *v != "" {
			if out.Attributes == nil {
				out.Attributes = map[string]string{}
			}
			out.Attributes[name] = *v
		}
	}
	return out
}

func toGroup(g models.Groupable) connectors.Group {
	return connectors.Group{ID: str(g.GetId()), Name: str(g.GetDisplayName())}
}

// odataQuote quotes a value for an OData $filter literal.
func odataQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// LookupUser finds a user by userPrincipalName (or object id).
func (c *Conn) LookupUser(ctx context.Context, login string) (connectors.User, error) {
	if login == "" || strings.ContainsAny(login, "/?#%") {
		return connectors.User{}, fmt.Errorf("entra: user %q: %w", login, connectors.ErrNotFound)
	}
	u, err := c.graph.Users().ByUserId(login).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userFields, Expand: managerExpand}})
	if err != nil {
		return connectors.User{}, mapErr("look up user "+login, permRead, err)
	}
	return toUser(u), nil
}

// LookupGroup finds a group by display name, which must be unique.
func (c *Conn) LookupGroup(ctx context.Context, name string) (connectors.Group, error) {
	if name == "" {
		return connectors.Group{}, fmt.Errorf("entra: empty group name: %w", connectors.ErrNotFound)
	}
	filter := "displayName eq " + odataQuote(name)
	top := int32(2)
	resp, err := c.graph.Groups().Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Filter: &filter, Select: groupFields, Top: &top}})
	if err != nil {
		return connectors.Group{}, mapErr("look up group "+name, permRead, err)
	}
	switch found := resp.GetValue(); len(found) {
	case 0:
		return connectors.Group{}, fmt.Errorf("entra: group %q: %w", name, connectors.ErrNotFound)
	case 1:
		return toGroup(found[0]), nil
	}
	return connectors.Group{}, fmt.Errorf("entra: group %q: more than one group has this display name; rename one of them: %w", name, connectors.ErrInvalid)
}

// ListUsers streams every user, a page at a time.
func (c *Conn) ListUsers(ctx context.Context, fn func(connectors.User) error) error {
	resp, err := c.graph.Users().Get(ctx, listUsersConfig(pageSize))
	for {
		if err != nil {
			return mapErr("list users", permRead, err)
		}
		for _, u := range resp.GetValue() {
			if err := fn(toUser(u)); err != nil {
				return err
			}
		}
		next := resp.GetOdataNextLink()
		if next == nil {
			return nil
		}
		resp, err = c.graph.Users().WithUrl(*next).Get(ctx, nil)
	}
}

// ListGroups streams every security group, a page at a time. Groups that
// cannot be granted (dynamic, synced, role-assignable) are listed too: sync
// mirrors them, and a grant on one is refused with the reason.
func (c *Conn) ListGroups(ctx context.Context, fn func(connectors.Group) error) error {
	top := int32(pageSize)
	filter := "securityEnabled eq true"
	resp, err := c.graph.Groups().Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Select: groupFields, Top: &top, Filter: &filter}})
	for {
		if err != nil {
			return mapErr("list groups", permRead, err)
		}
		for _, g := range resp.GetValue() {
			if g.GetSecurityEnabled() == nil || !*g.GetSecurityEnabled() {
				continue
			}
			if err := fn(toGroup(g)); err != nil {
				return err
			}
		}
		next := resp.GetOdataNextLink()
		if next == nil {
			return nil
		}
		resp, err = c.graph.Groups().WithUrl(*next).Get(ctx, nil)
	}
}

// ListMembers streams the ids of a group's direct members that are users.
func (c *Conn) ListMembers(ctx context.Context, groupID string, fn func(string) error) error {
	if !entraconfig.GUIDRE.MatchString(groupID) {
		return fmt.Errorf("entra: group %q: %w", groupID, connectors.ErrNotFound)
	}
	top := int32(pageSize)
	resp, err := c.graph.Groups().ByGroupId(groupID).Members().Get(ctx, &groups.ItemMembersRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &top}})
	for {
		if err != nil {
			return mapErr("list members of "+groupID, permRead, err)
		}
		for _, m := range resp.GetValue() {
			if _, ok := m.(models.Userable); !ok {
				continue // nested groups, devices, service principals
			}
			if err := fn(str(m.GetId())); err != nil {
				return err
			}
		}
		next := resp.GetOdataNextLink()
		if next == nil {
			return nil
		}
		resp, err = c.graph.Groups().ByGroupId(groupID).Members().WithUrl(*next).Get(ctx, nil)
	}
}

// grantable reads a group and says why jitd may not change its members, if
// it may not. Read per batch: a group's type can change.
func (c *Conn) grantable(ctx context.Context, groupID string) error {
	if !entraconfig.GUIDRE.MatchString(groupID) {
		return fmt.Errorf("entra: group %q: %w", groupID, connectors.ErrNotFound)
	}
	g, err := c.graph.Groups().ByGroupId(groupID).Get(ctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: groupFields}})
	if err != nil {
		return mapErr("read group "+groupID, permRead, err)
	}
	name := str(g.GetDisplayName())
	switch {
	case slices.Contains(g.GetGroupTypes(), "DynamicMembership"):
		return fmt.Errorf("entra: group %q has dynamic membership (a rule decides its members); grant a group with assigned membership instead: %w", name, connectors.ErrInvalid)
	case g.GetOnPremisesSyncEnabled() != nil && *g.GetOnPremisesSyncEnabled():
		return fmt.Errorf("entra: group %q is synced from on-premises Active Directory; grant it in the on-premises directory (a kind: ldap, flavor: ad directory) instead: %w", name, connectors.ErrInvalid)
	case g.GetIsAssignableToRole() != nil && *g.GetIsAssignableToRole():
		return fmt.Errorf("entra: group %q can be assigned Entra roles, and only Privileged Role Administrators may change its members; grant a group that is not role-assignable instead (or put this one under PIM for Groups): %w", name, connectors.ErrInvalid)
	case g.GetSecurityEnabled() == nil || !*g.GetSecurityEnabled():
		return fmt.Errorf("entra: group %q is not a security group: %w", name, connectors.ErrInvalid)
	}
	return nil
}
