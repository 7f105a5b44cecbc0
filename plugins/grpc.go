package plugins

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/schema/proto/connectorpb"
)

// Opener creates a connector from a directory name and its JSON settings
// (plugin side).
type Opener func(directory string, settings []byte) (connectors.Connector, error)

// connectorPlugin is the go-plugin adapter pair for the connector service.
type connectorPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server // plugin side only
}

func (p *connectorPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	connectorpb.RegisterConnectorServer(s, p.srv)
	return nil
}

func (p *connectorPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return connectorpb.NewConnectorClient(cc), nil
}

// server runs in the plugin process and serves one configured connector.
type server struct {
	connectorpb.UnimplementedConnectorServer
	open Opener

	mu   sync.RWMutex
	conn connectors.Connector
}

var errNotConfigured = errors.New("plugin: Configure was not called")

// close closes the configured connector (its directory connections).
func (s *server) close() { s.replace(nil) }

// replace makes c the configured connector and closes the one before.
func (s *server) replace(c connectors.Connector) {
	s.mu.Lock()
	old := s.conn
	s.conn = c
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

func (s *server) connector() (connectors.Connector, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.conn == nil {
		return nil, toStatus(errNotConfigured)
	}
	return s.conn, nil
}

func (s *server) Configure(_ context.Context, req *connectorpb.ConfigureRequest) (*connectorpb.ConfigureResponse, error) {
	c, err := s.open(req.Directory, req.SettingsJson)
	if err != nil {
		return nil, toStatus(err)
	}
	s.replace(c)
	d := c.Describe()
	resp := &connectorpb.ConfigureResponse{Kind: d.Kind, NativeTtl: d.NativeTTL}
	for _, cap := range connectors.Capabilities(c) {
		resp.Capabilities = append(resp.Capabilities, string(cap))
	}
	return resp, nil
}

func (s *server) Check(ctx context.Context, _ *connectorpb.CheckRequest) (*connectorpb.CheckResponse, error) {
	c, err := s.connector()
	if err != nil {
		return nil, err
	}
	return &connectorpb.CheckResponse{}, toStatus(c.Check(ctx))
}

func capability[T any](s *server, as func(connectors.Connector) (T, bool), name connectors.Capability) (T, error) {
	var zero T
	c, err := s.connector()
	if err != nil {
		return zero, err
	}
	t, ok := as(c)
	if !ok {
		return zero, toStatus(errors.Join(connectors.ErrInvalid, errors.New("connector has no "+string(name)+" capability")))
	}
	return t, nil
}

func userPB(u connectors.User) *connectorpb.User {
	return &connectorpb.User{Id: u.ID, Login: u.Login, DisplayName: u.DisplayName, Dn: u.DN, Enabled: u.Enabled, Ref: u.Ref, Manager: u.Manager, Attributes: u.Attributes}
}

func groupPB(g connectors.Group) *connectorpb.Group {
	return &connectorpb.Group{Id: g.ID, Name: g.Name, Dn: g.DN}
}

func (s *server) LookupUser(ctx context.Context, req *connectorpb.LookupRequest) (*connectorpb.User, error) {
	r, err := capability(s, connectors.AsResolver, connectors.CapLookup)
	if err != nil {
		return nil, err
	}
	u, err := r.LookupUser(ctx, req.Name)
	if err != nil {
		return nil, toStatus(err)
	}
	return userPB(u), nil
}

func (s *server) LookupGroup(ctx context.Context, req *connectorpb.LookupRequest) (*connectorpb.Group, error) {
	r, err := capability(s, connectors.AsResolver, connectors.CapLookup)
	if err != nil {
		return nil, err
	}
	g, err := r.LookupGroup(ctx, req.Name)
	if err != nil {
		return nil, toStatus(err)
	}
	return groupPB(g), nil
}

func (s *server) ListUsers(_ *connectorpb.ListRequest, stream connectorpb.Connector_ListUsersServer) error {
	l, err := capability(s, connectors.AsLister, connectors.CapList)
	if err != nil {
		return err
	}
	return toStatus(l.ListUsers(stream.Context(), func(u connectors.User) error { return stream.Send(userPB(u)) }))
}

func (s *server) ListGroups(_ *connectorpb.ListRequest, stream connectorpb.Connector_ListGroupsServer) error {
	l, err := capability(s, connectors.AsLister, connectors.CapList)
	if err != nil {
		return err
	}
	return toStatus(l.ListGroups(stream.Context(), func(g connectors.Group) error { return stream.Send(groupPB(g)) }))
}

func (s *server) ListMembers(req *connectorpb.ListMembersRequest, stream connectorpb.Connector_ListMembersServer) error {
	l, err := capability(s, connectors.AsLister, connectors.CapList)
	if err != nil {
		return err
	}
	return toStatus(l.ListMembers(stream.Context(), req.GroupId, func(id string) error {
		return stream.Send(&connectorpb.Member{UserId: id})
	}))
}

func membersPB(results []connectors.MemberResult, err error) (*connectorpb.MembersResponse, error) {
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &connectorpb.MembersResponse{Results: make([]*connectorpb.MemberResult, len(results))}
	for i, r := range results {
		resp.Results[i] = &connectorpb.MemberResult{UserId: r.UserID, Error: toPB(r.Err)}
	}
	return resp, nil
}

func (s *server) AddMembers(ctx context.Context, req *connectorpb.MembersRequest) (*connectorpb.MembersResponse, error) {
	m, err := capability(s, connectors.AsMembershipManager, connectors.CapMembership)
	if err != nil {
		return nil, err
	}
	return membersPB(m.AddMembers(ctx, req.GroupId, req.UserIds))
}

func (s *server) AddMembersUntil(ctx context.Context, req *connectorpb.MembersUntilRequest) (*connectorpb.MembersResponse, error) {
	m, err := capability(s, connectors.AsExpiringMembershipManager, "native_ttl")
	if err != nil {
		return nil, err
	}
	return membersPB(m.AddMembersUntil(ctx, req.GroupId, req.UserIds, time.Unix(req.UntilUnix, 0).UTC()))
}

func (s *server) RemoveMembers(ctx context.Context, req *connectorpb.MembersRequest) (*connectorpb.MembersResponse, error) {
	m, err := capability(s, connectors.AsMembershipManager, connectors.CapMembership)
	if err != nil {
		return nil, err
	}
	return membersPB(m.RemoveMembers(ctx, req.GroupId, req.UserIds))
}

func (s *server) IsMember(ctx context.Context, req *connectorpb.IsMemberRequest) (*connectorpb.IsMemberResponse, error) {
	m, err := capability(s, connectors.AsMembershipManager, connectors.CapMembership)
	if err != nil {
		return nil, err
	}
	ok, err := m.IsMember(ctx, req.GroupId, req.UserId)
	if err != nil {
		return nil, toStatus(err)
	}
	return &connectorpb.IsMemberResponse{Member: ok}, nil
}

func (s *server) Changes(req *connectorpb.ChangesRequest, stream connectorpb.Connector_ChangesServer) error {
	f, err := capability(s, connectors.AsChangeFeed, connectors.CapChangeFeed)
	if err != nil {
		return err
	}
	next, err := f.Changes(stream.Context(), req.Cursor, func(c connectors.Change) error {
		m := &connectorpb.ChangeMessage{MemberRefs: c.MemberRefs, MembersAdded: c.Added, MembersRemoved: c.Removed}
		switch c.Op {
		case connectors.Upsert:
			m.Op = connectorpb.ChangeMessage_OP_UPSERT
		case connectors.Delete:
			m.Op = connectorpb.ChangeMessage_OP_DELETE
		case connectors.MembersChanged:
			m.Op = connectorpb.ChangeMessage_OP_MEMBERS
		}
		if c.User != nil {
			m.User = userPB(*c.User)
		}
		if c.Group != nil {
			m.Group = groupPB(*c.Group)
		}
		return stream.Send(m)
	})
	if err != nil {
		return toStatus(err)
	}
	return stream.Send(&connectorpb.ChangeMessage{Done: true, NextCursor: next})
}

func (s *server) CreateAccount(ctx context.Context, req *connectorpb.CreateAccountRequest) (*connectorpb.Account, error) {
	a, err := capability(s, connectors.AsAccountManager, connectors.CapAccounts)
	if err != nil {
		return nil, err
	}
	spec := connectors.AccountSpec{Login: req.Login, Email: req.Email, GivenName: req.GivenName, Surname: req.Surname, Activate: req.Activate, Password: req.Password}
	if req.UntilUnix != 0 {
		spec.Until = time.Unix(req.UntilUnix, 0).UTC()
	}
	acct, err := a.CreateAccount(ctx, spec)
	if err != nil {
		return nil, toStatus(err)
	}
	return &connectorpb.Account{Id: acct.ID, Login: acct.Login, Enabled: acct.Enabled, PasswordSet: acct.PasswordSet}, nil
}

func (s *server) SetAccountEnabled(ctx context.Context, req *connectorpb.SetAccountEnabledRequest) (*connectorpb.AccountResponse, error) {
	a, err := capability(s, connectors.AsAccountManager, connectors.CapAccounts)
	if err != nil {
		return nil, err
	}
	return &connectorpb.AccountResponse{}, toStatus(a.SetAccountEnabled(ctx, req.Id, req.Enabled))
}

func (s *server) EndSessions(ctx context.Context, req *connectorpb.EndSessionsRequest) (*connectorpb.EndSessionsResponse, error) {
	e, err := capability(s, connectors.AsSessionEnder, connectors.CapSessions)
	if err != nil {
		return nil, err
	}
	return &connectorpb.EndSessionsResponse{}, toStatus(e.EndSessions(ctx, req.UserId))
}

func (s *server) SetAccountExpiry(ctx context.Context, req *connectorpb.SetAccountExpiryRequest) (*connectorpb.AccountResponse, error) {
	a, err := capability(s, connectors.AsAccountManager, connectors.CapAccounts)
	if err != nil {
		return nil, err
	}
	var until time.Time
	if req.UntilUnix != 0 {
		until = time.Unix(req.UntilUnix, 0).UTC()
	}
	return &connectorpb.AccountResponse{}, toStatus(a.SetAccountExpiry(ctx, req.Id, until))
}

func (s *server) DeleteAccount(ctx context.Context, req *connectorpb.DeleteAccountRequest) (*connectorpb.AccountResponse, error) {
	a, err := capability(s, connectors.AsAccountManager, connectors.CapAccounts)
	if err != nil {
		return nil, err
	}
	return &connectorpb.AccountResponse{}, toStatus(a.DeleteAccount(ctx, req.Id))
}

// recvAll drains a server stream into fn.
func recvAll[T any](k *call, recv func() (T, error), fn func(T) error) error {
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fromStatus(err)
		}
		k.touch()
		if err := fn(m); err != nil {
			return err
		}
	}
}

func membersFromPB(resp *connectorpb.MembersResponse, err error) ([]connectors.MemberResult, error) {
	if err != nil {
		return nil, fromStatus(err)
	}
	out := make([]connectors.MemberResult, len(resp.Results))
	for i, r := range resp.Results {
		out[i] = connectors.MemberResult{UserID: r.UserId, Err: fromPB(r.Error)}
	}
	return out, nil
}

func userFromPB(u *connectorpb.User) connectors.User {
	return connectors.User{ID: u.Id, Login: u.Login, DisplayName: u.DisplayName, DN: u.Dn, Enabled: u.Enabled, Ref: u.Ref, Manager: u.Manager, Attributes: u.Attributes}
}

func groupFromPB(g *connectorpb.Group) connectors.Group {
	return connectors.Group{ID: g.Id, Name: g.Name, DN: g.Dn}
}

func (s *server) CheckSchema(ctx context.Context, req *connectorpb.CheckSchemaRequest) (*connectorpb.CheckSchemaResponse, error) {
	c, err := capability(s, connectors.AsSchemaChecker, connectors.CapSchema)
	if err != nil {
		return nil, err
	}
	problems, err := c.CheckSchema(ctx, req.Writes)
	return &connectorpb.CheckSchemaResponse{Problems: problems}, toStatus(err)
}
