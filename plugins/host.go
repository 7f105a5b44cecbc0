package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/schema/proto/connectorpb"
)

// Spec says how to start one directory's connector child.
type Spec struct {
	Directory string
	// Command returns a fresh command for the child (re-exec of jitd for
	// built-in kinds, the plugin binary for external ones).
	Command func() *exec.Cmd
	// SHA256 (hex), when set, must match the binary the command runs.
	SHA256 string
	// Settings are passed to the child's Configure call.
	Settings any
	// CallTimeout bounds every call (default DefaultCallTimeout); a stream
	// fails when no message arrives for that long.
	CallTimeout time.Duration
	// Observer, when set, is told of every call and its outcome.
	Observer Observer
}

// BuiltinCommand re-executes binary as `connector serve <kind>`.
func BuiltinCommand(binary, kind string) func() *exec.Cmd {
	return func() *exec.Cmd { return exec.Command(binary, "connector", "serve", kind) }
}

// ExternalCommand runs an external plugin binary.
func ExternalCommand(path string) func() *exec.Cmd {
	return func() *exec.Cmd { return exec.Command(path) }
}

// Conn is a supervised connector child. It implements every capability
// interface in Go, and reports through Capabilities the ones the child has.
type Conn struct {
	spec     Spec
	settings []byte
	log      *slog.Logger
	clock    clock.Clock

	mu        sync.Mutex
	client    *plugin.Client
	rpc       connectorpb.ConnectorClient
	desc      connectors.Description
	caps      []connectors.Capability
	failures  int
	nextStart time.Time
	closed    bool
}

var (
	_ connectors.Connector         = (*Conn)(nil)
	_ connectors.Resolver          = (*Conn)(nil)
	_ connectors.Lister            = (*Conn)(nil)
	_ connectors.MembershipManager = (*Conn)(nil)
	_ connectors.ChangeFeed        = (*Conn)(nil)
	_ connectors.AccountManager    = (*Conn)(nil)
	_ connectors.SessionEnder      = (*Conn)(nil)
	_ connectors.SchemaChecker     = (*Conn)(nil)
)

// Launch starts the child and configures it. A child that will not start or
// refuses its settings is an error here; later crashes are restarted.
func Launch(ctx context.Context, spec Spec, log *slog.Logger, clk clock.Clock) (*Conn, error) {
	settings, err := json.Marshal(spec.Settings)
	if err != nil {
		return nil, fmt.Errorf("plugins: %s: settings: %w", spec.Directory, err)
	}
	c := &Conn{spec: spec, settings: settings, log: log.With("directory", spec.Directory), clock: clk}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.startLocked(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Conn) startLocked(ctx context.Context) error {
	cmd := c.spec.Command()
	setProcAttr(cmd)
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          plugin.PluginSet{pluginName: &connectorPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hclogBridge(c.log),
		StartTimeout:     30 * time.Second,
	}
	if c.spec.SHA256 != "" {
		sum, err := hex.DecodeString(c.spec.SHA256)
		if err != nil || len(sum) != sha256.Size {
			return fmt.Errorf("plugins: %s: sha256 must be 64 hex digits: %w", c.spec.Directory, connectors.ErrInvalid)
		}
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	client := plugin.NewClient(cfg)
	proto, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return fmt.Errorf("plugins: %s: refusing to start %s: its sha256 does not match the configured one: %w", c.spec.Directory, cmd.Path, connectors.ErrPermission)
		}
		return fmt.Errorf("plugins: %s: start %s: %w: %v", c.spec.Directory, cmd.Path, connectors.ErrUnavailable, err)
	}
	raw, err := proto.Dispense(pluginName)
	if err != nil {
		client.Kill()
		return fmt.Errorf("plugins: %s: %w: %v", c.spec.Directory, connectors.ErrUnavailable, err)
	}
	rpc := raw.(connectorpb.ConnectorClient)
	resp, err := rpc.Configure(ctx, &connectorpb.ConfigureRequest{Directory: c.spec.Directory, SettingsJson: c.settings})
	if err != nil {
		client.Kill()
		return fmt.Errorf("plugins: %s: configure: %w", c.spec.Directory, fromStatus(err))
	}
	c.client, c.rpc = client, rpc
	c.desc = connectors.Description{Kind: resp.Kind, NativeTTL: resp.NativeTtl}
	c.caps = nil
	for _, cp := range resp.Capabilities {
		c.caps = append(c.caps, connectors.Capability(cp))
	}
	c.failures = 0
	c.log.Info("connector started", "kind", resp.Kind, "capabilities", resp.Capabilities)
	return nil
}

// current returns a live client, restarting a dead child. Restarts back off
// exponentially (up to a minute) so a crash-looping plugin is not hammered;
// calls in the meantime fail with ErrUnavailable, which callers retry.
func (c *Conn) current(ctx context.Context) (connectorpb.ConnectorClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("plugins: %s: closed: %w", c.spec.Directory, connectors.ErrUnavailable)
	}
	if c.client != nil && !c.client.Exited() {
		return c.rpc, nil
	}
	now := c.clock.Now()
	if now.Before(c.nextStart) {
		return nil, fmt.Errorf("plugins: %s: connector process exited; restart in %s: %w",
			c.spec.Directory, c.nextStart.Sub(now).Round(time.Millisecond), connectors.ErrUnavailable)
	}
	if c.client != nil {
		c.log.Warn("connector process exited; restarting", "restarts", c.failures+1)
		c.client.Kill()
		c.client = nil
	}
	if err := c.startLocked(ctx); err != nil {
		c.failures++
		c.nextStart = now.Add(min(time.Duration(1<<min(c.failures-1, 6))*time.Second, time.Minute))
		return nil, err
	}
	return c.rpc, nil
}

// Pid returns the child's process id (for tests and diagnostics), or 0.
func (c *Conn) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		return 0
	}
	if rc := c.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Exited reports whether the current child has exited.
func (c *Conn) Exited() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.client == nil || c.client.Exited()
}

// Describe returns the child's description from its last start.
func (c *Conn) Describe() connectors.Description {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.desc
}

// Capabilities returns what the child reported at its last start.
func (c *Conn) Capabilities() []connectors.Capability {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.caps
}

// Close stops the child. In-flight calls have been finished by the caller.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.client != nil {
		c.client.Kill()
		c.client = nil
	}
	return nil
}

func (c *Conn) Check(ctx context.Context) error {
	k, err := c.begin(ctx)
	if err != nil {
		return err
	}
	_, err = k.rpc.Check(k.ctx, &connectorpb.CheckRequest{})
	return k.end(fromStatus(err))
}

func (c *Conn) LookupUser(ctx context.Context, login string) (connectors.User, error) {
	k, err := c.begin(ctx)
	if err != nil {
		return connectors.User{}, err
	}
	u, err := k.rpc.LookupUser(k.ctx, &connectorpb.LookupRequest{Name: login})
	if err = k.end(fromStatus(err)); err != nil {
		return connectors.User{}, err
	}
	return userFromPB(u), nil
}

func (c *Conn) LookupGroup(ctx context.Context, name string) (connectors.Group, error) {
	k, err := c.begin(ctx)
	if err != nil {
		return connectors.Group{}, err
	}
	g, err := k.rpc.LookupGroup(k.ctx, &connectorpb.LookupRequest{Name: name})
	if err = k.end(fromStatus(err)); err != nil {
		return connectors.Group{}, err
	}
	return groupFromPB(g), nil
}

func (c *Conn) ListUsers(ctx context.Context, fn func(connectors.User) error) error {
	k, err := c.beginStream(ctx)
	if err != nil {
		return err
	}
	stream, err := k.rpc.ListUsers(k.ctx, &connectorpb.ListRequest{})
	if err != nil {
		return k.end(fromStatus(err))
	}
	return k.end(recvAll(k, stream.Recv, func(u *connectorpb.User) error { return fn(userFromPB(u)) }))
}

func (c *Conn) ListGroups(ctx context.Context, fn func(connectors.Group) error) error {
	k, err := c.beginStream(ctx)
	if err != nil {
		return err
	}
	stream, err := k.rpc.ListGroups(k.ctx, &connectorpb.ListRequest{})
	if err != nil {
		return k.end(fromStatus(err))
	}
	return k.end(recvAll(k, stream.Recv, func(g *connectorpb.Group) error { return fn(groupFromPB(g)) }))
}

func (c *Conn) ListMembers(ctx context.Context, groupID string, fn func(string) error) error {
	k, err := c.beginStream(ctx)
	if err != nil {
		return err
	}
	stream, err := k.rpc.ListMembers(k.ctx, &connectorpb.ListMembersRequest{GroupId: groupID})
	if err != nil {
		return k.end(fromStatus(err))
	}
	return k.end(recvAll(k, stream.Recv, func(m *connectorpb.Member) error { return fn(m.UserId) }))
}

func (c *Conn) AddMembers(ctx context.Context, groupID string, userIDs []string) ([]connectors.MemberResult, error) {
	k, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	res, err := membersFromPB(k.rpc.AddMembers(k.ctx, &connectorpb.MembersRequest{GroupId: groupID, UserIds: userIDs}))
	return res, k.end(err)
}

// AddMembersUntil adds members the directory itself removes at until
// (rounded up to the second).
func (c *Conn) AddMembersUntil(ctx context.Context, groupID string, userIDs []string, until time.Time) ([]connectors.MemberResult, error) {
	k, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	unix := until.Unix()
	if until.After(time.Unix(unix, 0)) {
		unix++
	}
	res, err := membersFromPB(k.rpc.AddMembersUntil(k.ctx, &connectorpb.MembersUntilRequest{GroupId: groupID, UserIds: userIDs, UntilUnix: unix}))
	return res, k.end(err)
}

func (c *Conn) RemoveMembers(ctx context.Context, groupID string, userIDs []string) ([]connectors.MemberResult, error) {
	k, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	res, err := membersFromPB(k.rpc.RemoveMembers(k.ctx, &connectorpb.MembersRequest{GroupId: groupID, UserIds: userIDs}))
	return res, k.end(err)
}

func (c *Conn) IsMember(ctx context.Context, groupID, userID string) (bool, error) {
	k, err := c.begin(ctx)
	if err != nil {
		return false, err
	}
	resp, err := k.rpc.IsMember(k.ctx, &connectorpb.IsMemberRequest{GroupId: groupID, UserId: userID})
	if err = k.end(fromStatus(err)); err != nil {
		return false, err
	}
	return resp.Member, nil
}

func (c *Conn) Changes(ctx context.Context, cursor string, fn func(connectors.Change) error) (string, error) {
	k, err := c.beginStream(ctx)
	if err != nil {
		return "", err
	}
	stream, err := k.rpc.Changes(k.ctx, &connectorpb.ChangesRequest{Cursor: cursor})
	if err != nil {
		return "", k.end(fromStatus(err))
	}
	next, done := "", false
	err = recvAll(k, stream.Recv, func(m *connectorpb.ChangeMessage) error {
		if m.Done {
			next, done = m.NextCursor, true
			return nil
		}
		ch := connectors.Change{MemberRefs: m.MemberRefs, Added: m.MembersAdded, Removed: m.MembersRemoved}
		switch m.Op {
		case connectorpb.ChangeMessage_OP_UPSERT:
			ch.Op = connectors.Upsert
		case connectorpb.ChangeMessage_OP_DELETE:
			ch.Op = connectors.Delete
		case connectorpb.ChangeMessage_OP_MEMBERS:
			if m.Group == nil {
				return fmt.Errorf("plugins: member change without a group: %w", connectors.ErrInvalid)
			}
			ch.Op = connectors.MembersChanged
		default:
			return fmt.Errorf("plugins: change with unknown op %v: %w", m.Op, connectors.ErrInvalid)
		}
		if m.User != nil {
			u := userFromPB(m.User)
			ch.User = &u
		}
		if m.Group != nil {
			g := groupFromPB(m.Group)
			ch.Group = &g
		}
		return fn(ch)
	})
	if err == nil && !done {
		err = fmt.Errorf("plugins: %s: change stream ended early: %w", c.spec.Directory, connectors.ErrUnavailable)
	}
	if err = k.end(err); err != nil {
		return "", err
	}
	return next, nil
}

func (c *Conn) CreateAccount(ctx context.Context, spec connectors.AccountSpec) (connectors.Account, error) {
	k, err := c.begin(ctx)
	if err != nil {
		return connectors.Account{}, err
	}
	req := &connectorpb.CreateAccountRequest{Login: spec.Login, Email: spec.Email, GivenName: spec.GivenName, Surname: spec.Surname, Activate: spec.Activate, Password: spec.Password}
	if !spec.Until.IsZero() {
		req.UntilUnix = spec.Until.Unix()
	}
	a, err := k.rpc.CreateAccount(k.ctx, req)
	if err = k.end(fromStatus(err)); err != nil {
		return connectors.Account{}, err
	}
	return connectors.Account{ID: a.Id, Login: a.Login, Enabled: a.Enabled, PasswordSet: a.PasswordSet}, nil
}

func (c *Conn) SetAccountEnabled(ctx context.Context, id string, enabled bool) error {
	k, err := c.begin(ctx)
	if err != nil {
		return err
	}
	_, err = k.rpc.SetAccountEnabled(k.ctx, &connectorpb.SetAccountEnabledRequest{Id: id, Enabled: enabled})
	return k.end(fromStatus(err))
}

func (c *Conn) SetAccountExpiry(ctx context.Context, id string, until time.Time) error {
	k, err := c.begin(ctx)
	if err != nil {
		return err
	}
	req := &connectorpb.SetAccountExpiryRequest{Id: id}
	if !until.IsZero() {
		req.UntilUnix = until.Unix()
	}
	_, err = k.rpc.SetAccountExpiry(k.ctx, req)
	return k.end(fromStatus(err))
}

// EndSessions ends a user's sign-in sessions in the directory.
func (c *Conn) EndSessions(ctx context.Context, userID string) error {
	k, err := c.begin(ctx)
	if err != nil {
		return err
	}
	_, err = k.rpc.EndSessions(k.ctx, &connectorpb.EndSessionsRequest{UserId: userID})
	return k.end(fromStatus(err))
}

// CheckSchema checks the directory's schema against what jitd will write.
func (c *Conn) CheckSchema(ctx context.Context, writes map[string]string) ([]string, error) {
	k, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := k.rpc.CheckSchema(k.ctx, &connectorpb.CheckSchemaRequest{Writes: writes})
	if err = k.end(fromStatus(err)); err != nil {
		return nil, err
	}
	return resp.Problems, nil
}

func (c *Conn) DeleteAccount(ctx context.Context, id string) error {
	k, err := c.begin(ctx)
	if err != nil {
		return err
	}
	_, err = k.rpc.DeleteAccount(k.ctx, &connectorpb.DeleteAccountRequest{Id: id})
	return k.end(fromStatus(err))
}

// hclogBridge sends go-plugin's hclog output (and the child's, which go-plugin
// re-logs) to slog. This is the only place the two logging worlds meet.
func hclogBridge(log *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "plugin",
		Level:      hclog.Info,
		JSONFormat: true,
		Output:     &slogWriter{log: log},
	})
}

type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			w.log.Info(line)
			continue
		}
		level := slog.LevelInfo
		switch rec["@level"] {
		case "trace", "debug":
			level = slog.LevelDebug
		case "warn":
			level = slog.LevelWarn
		case "error":
			level = slog.LevelError
		}
		msg, _ := rec["@message"].(string)
		var attrs []any
		for k, v := range rec {
			if !strings.HasPrefix(k, "@") {
				attrs = append(attrs, k, v)
			}
		}
		if mod, ok := rec["@module"].(string); ok {
			attrs = append(attrs, "module", mod)
		}
		w.log.Log(context.Background(), level, msg, attrs...)
	}
	return len(p), nil
}
