package plugins

import (
	"context"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/schema/proto/connectorpb"
)

// Provisioning over gRPC: both halves of the Provisioner capability.

var _ connectors.Provisioner = (*Conn)(nil)

func valuesPB(attrs map[string][]string) map[string]*connectorpb.Values {
	if attrs == nil {
		return nil
	}
	out := make(map[string]*connectorpb.Values, len(attrs))
	for a, v := range attrs {
		out[a] = &connectorpb.Values{Values: v}
	}
	return out
}

func valuesFromPB(attrs map[string]*connectorpb.Values) map[string][]string {
	if attrs == nil {
		return nil
	}
	out := make(map[string][]string, len(attrs))
	for a, v := range attrs {
		out[a] = v.GetValues()
		if out[a] == nil {
			out[a] = []string{}
		}
	}
	return out
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromUnixMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func entryPB(e connectors.Entry) *connectorpb.Entry {
	return &connectorpb.Entry{Kind: int32(e.Kind), Id: e.ID, Dn: e.DN, Name: e.Name, Enabled: e.Enabled,
		CreatedUnixMs: unixMs(e.Created), ModifiedUnixMs: unixMs(e.Modified), Attrs: valuesPB(e.Attrs)}
}

func entryFromPB(e *connectorpb.Entry) connectors.Entry {
	out := connectors.Entry{Kind: connectors.EntryKind(e.Kind), ID: e.Id, DN: e.Dn, Name: e.Name, Enabled: e.Enabled,
		Created: fromUnixMs(e.CreatedUnixMs), Modified: fromUnixMs(e.ModifiedUnixMs), Attrs: valuesFromPB(e.Attrs)}
	if out.Attrs == nil {
		out.Attrs = map[string][]string{}
	}
	return out
}

// Plugin side.

func (s *server) ReadEntries(req *connectorpb.EntryQuery, stream connectorpb.Connector_ReadEntriesServer) error {
	p, err := capability(s, connectors.AsProvisioner, connectors.CapProvision)
	if err != nil {
		return err
	}
	q := connectors.EntryQuery{Kind: connectors.EntryKind(req.Kind), ID: req.Id, IDs: req.Ids, Name: req.Name, Attr: req.Attr, Value: req.Value, Attrs: req.Attrs, IDsOnly: req.IdsOnly}
	return toStatus(p.ReadEntries(stream.Context(), q, func(e connectors.Entry) error {
		return stream.Send(entryPB(e))
	}))
}

func (s *server) CreateEntry(ctx context.Context, req *connectorpb.EntrySpec) (*connectorpb.Entry, error) {
	p, err := capability(s, connectors.AsProvisioner, connectors.CapProvision)
	if err != nil {
		return nil, err
	}
	e, err := p.CreateEntry(ctx, connectors.EntrySpec{Kind: connectors.EntryKind(req.Kind), Name: req.Name, Enabled: req.Enabled, Password: req.Password, Attrs: valuesFromPB(req.Attrs)})
	if err != nil {
		return nil, toStatus(err)
	}
	return entryPB(e), nil
}

func (s *server) ModifyEntry(ctx context.Context, req *connectorpb.ModifyEntryRequest) (*connectorpb.EntryResponse, error) {
	p, err := capability(s, connectors.AsProvisioner, connectors.CapProvision)
	if err != nil {
		return nil, err
	}
	change := connectors.EntryChange{Name: req.Name, Attrs: valuesFromPB(req.Attrs), Enabled: req.Enabled, Password: req.Password}
	return &connectorpb.EntryResponse{}, toStatus(p.ModifyEntry(ctx, connectors.EntryKind(req.Kind), req.Id, change))
}

func (s *server) DeleteEntry(ctx context.Context, req *connectorpb.DeleteEntryRequest) (*connectorpb.EntryResponse, error) {
	p, err := capability(s, connectors.AsProvisioner, connectors.CapProvision)
	if err != nil {
		return nil, err
	}
	return &connectorpb.EntryResponse{}, toStatus(p.DeleteEntry(ctx, connectors.EntryKind(req.Kind), req.Id))
}

// Host side.

func (c *Conn) ReadEntries(ctx context.Context, q connectors.EntryQuery, fn func(connectors.Entry) error) error {
	k, err := c.beginStream(ctx)
	if err != nil {
		return err
	}
	stream, err := k.rpc.ReadEntries(k.ctx, &connectorpb.EntryQuery{Kind: int32(q.Kind), Id: q.ID, Ids: q.IDs, Name: q.Name, Attr: q.Attr, Value: q.Value, Attrs: q.Attrs, IdsOnly: q.IDsOnly})
	if err != nil {
		return k.end(fromStatus(err))
	}
	return k.end(recvAll(k, stream.Recv, func(e *connectorpb.Entry) error { return fn(entryFromPB(e)) }))
}

func (c *Conn) CreateEntry(ctx context.Context, spec connectors.EntrySpec) (connectors.Entry, error) {
	k, err := c.begin(ctx)
	if err != nil {
		return connectors.Entry{}, err
	}
	e, err := k.rpc.CreateEntry(k.ctx, &connectorpb.EntrySpec{Kind: int32(spec.Kind), Name: spec.Name, Enabled: spec.Enabled, Password: spec.Password, Attrs: valuesPB(spec.Attrs)})
	if err = k.end(fromStatus(err)); err != nil {
		return connectors.Entry{}, err
	}
	return entryFromPB(e), nil
}

func (c *Conn) ModifyEntry(ctx context.Context, kind connectors.EntryKind, id string, change connectors.EntryChange) error {
	k, err := c.begin(ctx)
	if err != nil {
		return err
	}
	_, err = k.rpc.ModifyEntry(k.ctx, &connectorpb.ModifyEntryRequest{Kind: int32(kind), Id: id, Name: change.Name, Attrs: valuesPB(change.Attrs), Enabled: change.Enabled, Password: change.Password})
	return k.end(fromStatus(err))
}

func (c *Conn) DeleteEntry(ctx context.Context, kind connectors.EntryKind, id string) error {
	k, err := c.begin(ctx)
	if err != nil {
		return err
	}
	_, err = k.rpc.DeleteEntry(k.ctx, &connectorpb.DeleteEntryRequest{Kind: int32(kind), Id: id})
	return k.end(fromStatus(err))
}
