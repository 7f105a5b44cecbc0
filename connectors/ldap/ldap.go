// Package ldap connects jitd to LDAP directories: OpenLDAP, and Active
// Directory with flavor: ad (ad.go). It speaks TLS by default, escapes every
// filter value, identifies entries by a stable id attribute (entryUUID,
// objectGUID), and
// changes group membership in one modify per group, falling back to re-reading
// the group when a server reports a value as already present or absent.
package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
)

// OIDs of the controls the connector uses.
const (
	oidPermissiveModify = "1.2.840.113556.1.4.1413"
	oidPaging           = goldap.ControlTypePaging
)

// Conn is an LDAP directory.
type Conn struct {
	cfg      Config
	password string
	tls      *tls.Config

	idle chan *goldap.Conn // idle connections
	sem  chan struct{}     // bounds open connections
	// paging counts pooled connections held by a paged search across its
	// pages: when all are, a call waiting for one (a callback of such a
	// search) gets a connection of its own instead.
	paging atomic.Int32

	// DNs are never cached: entries are renamed and moved, and a stale DN
	// would make a removal look done while the member stays. Ids are
	// resolved to DNs afresh for every call.
	mu         sync.Mutex
	permissive bool // server lists permissive modify
	linkTTL    bool // server lists the link-TTL control (AD with PAM)
	syncrepl   bool // server lists the syncrepl control
	probed     bool

	flavor flavor
	base   string // the entry user_base and group_base are both under ("" if none)
}

var (
	_ connectors.Connector         = (*Conn)(nil)
	_ connectors.Resolver          = (*Conn)(nil)
	_ connectors.Lister            = (*Conn)(nil)
	_ connectors.MembershipManager = (*Conn)(nil)
)

// New returns a connector for cfg. It does not connect until first used;
// Check proves the settings work.
func New(cfg Config) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ldap: %w: %v", connectors.ErrInvalid, err)
	}
	cfg = cfg.withDefaults()
	pw, err := cfg.password()
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.URL)
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}
	if tc.ServerName == "" {
		tc.ServerName = u.Hostname()
	}
	if cfg.CAFile != "" {
		pool, err := connectors.CAPool(cfg.CAFile, false)
		if err != nil {
			return nil, fmt.Errorf("ldap: %w", err)
		}
		tc.RootCAs = pool
	}
	c := &Conn{
		cfg: cfg, password: pw, tls: tc,
		idle: make(chan *goldap.Conn, cfg.Connections), sem: make(chan struct{}, cfg.Connections),
	}
	c.flavor = flavorOf(c)
	c.base = commonBase(cfg.UserBase, cfg.GroupBase)
	return c, nil
}

// Describe reports the kind.
func (c *Conn) Describe() connectors.Description {
	return connectors.Description{Kind: "ldap", NativeTTL: c.cfg.NativeTTL}
}

// Close closes idle connections.
func (c *Conn) Close() error {
	for {
		select {
		case l := <-c.idle:
			l.Close()
		default:
			return nil
		}
	}
}

// Check connects and binds, and reads the root DSE: a round trip to the
// server, so that a pooled connection to a server that stopped answering
// does not pass for a working one.
func (c *Conn) Check(ctx context.Context) error {
	err := c.with(ctx, func(l *goldap.Conn) error {
		_, err := l.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{"1.1"}, nil))
		if err != nil {
			return mapErr("read root DSE", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.checkLinkTTL()
}

func (c *Conn) dial(ctx context.Context) (l *goldap.Conn, err error) {
	u, _ := url.Parse(c.cfg.URL)
	d := &net.Dialer{Timeout: c.cfg.Timeout}
	d.Deadline, _ = ctx.Deadline() // bounds the TLS handshake too
	if u.Scheme == "ldaps" {
		l, err = goldap.DialURL(c.cfg.URL, goldap.DialWithTLSConfig(c.tls), goldap.DialWithDialer(d))
	} else {
		l, err = goldap.DialURL(c.cfg.URL, goldap.DialWithDialer(d))
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ldap: connect to %s: %w: %w", c.cfg.URL, connectors.ErrUnavailable, ctx.Err())
		}
		return nil, mapErr("connect to "+c.cfg.URL, err)
	}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	l.SetTimeout(c.cfg.Timeout)
	err = guard(ctx, l, func() error { return c.setUp(l) })
	return l, err
}

// guard runs fn, an exchange on l, and closes l if ctx ends first: go-ldap
// takes no context, and closing the connection is what ends a request to a
// server that stopped answering. The error then says the caller's deadline
// cut the call.
func guard(ctx context.Context, l *goldap.Conn, fn func() error) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	err := fn()
	if !stop() {
		return fmt.Errorf("ldap: %w: the server did not answer in time: %w", connectors.ErrUnavailable, ctx.Err())
	}
	return err
}

// setUp secures and binds a new connection, and learns the server's
// controls on the first one.
func (c *Conn) setUp(l *goldap.Conn) error {
	if c.cfg.StartTLS {
		if err := l.StartTLS(c.tls); err != nil {
			return mapErr("starttls", err)
		}
	}
	if err := l.Bind(c.cfg.BindDN, c.password); err != nil {
		return mapErr("bind as "+c.cfg.BindDN, err)
	}
	c.mu.Lock()
	probed := c.probed
	c.mu.Unlock()
	if !probed {
		return c.probe(l)
	}
	return nil
}

// probe reads the root DSE once to learn which controls the server offers.
func (c *Conn) probe(l *goldap.Conn) error {
	res, err := l.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"supportedControl"}, nil))
	if err != nil {
		return mapErr("read root DSE", err)
	}
	var controls []string
	if len(res.Entries) == 1 {
		controls = res.Entries[0].GetAttributeValues("supportedControl")
	}
	c.mu.Lock()
	c.permissive = slices.Contains(controls, oidPermissiveModify)
	c.syncrepl = slices.Contains(controls, oidSyncRequest)
	c.linkTTL = slices.Contains(controls, oidLinkTTL)
	c.probed = true
	c.mu.Unlock()
	return nil
}

// with runs fn on a pooled, bound connection, within ctx. A connection that
// saw a network error, or that ctx cut, is discarded; so is an idle one that
// the server closed meanwhile (it restarted), before it is used.
func (c *Conn) with(ctx context.Context, fn func(*goldap.Conn) error) error {
	l, extra, err := c.acquire(ctx)
	if err != nil {
		return err
	}
	err = guard(ctx, l, func() error { return fn(l) })
	c.release(l, extra, err)
	return err
}

// acquire takes an idle connection, or dials one while fewer than
// Connections are open, or waits. extra is a connection beyond the bound,
// dialled only when every pooled one is held by a paged search (whose
// callbacks may be what is waiting); release closes it.
func (c *Conn) acquire(ctx context.Context) (l *goldap.Conn, extra bool, err error) {
	var tick <-chan time.Time // made when the pool is full: most calls never wait
	for l == nil {
		select {
		case l = <-c.idle:
		default:
			if tick == nil {
				t := time.NewTicker(50 * time.Millisecond)
				defer t.Stop()
				tick = t.C
			}
			select {
			case c.sem <- struct{}{}:
				if l, err = c.dial(ctx); err != nil {
					<-c.sem
					return nil, false, err
				}
			case l = <-c.idle:
			case <-tick:
				if int(c.paging.Load()) >= cap(c.sem) {
					l, err = c.dial(ctx)
					return l, true, err
				}
				continue
			case <-ctx.Done():
				return nil, false, fmt.Errorf("ldap: %w: %w", connectors.ErrUnavailable, ctx.Err())
			}
		}
		if l.IsClosing() {
			l.Close()
			<-c.sem
			l = nil
		}
	}
	return l, false, nil
}

// release returns a connection to the pool, or discards it: an extra one,
// one that saw a network error, or one that ctx cut.
func (c *Conn) release(l *goldap.Conn, extra bool, err error) {
	switch {
	case extra:
		l.Close()
	case l.IsClosing() || goldap.IsErrorAnyOf(err, goldap.ErrorNetwork, goldap.LDAPResultServerDown, goldap.LDAPResultTimeout) || errors.Is(err, connectors.ErrUnavailable):
		l.Close()
		<-c.sem
	default:
		c.idle <- l
	}
}

// mapErr wraps an LDAP error in the connector sentinel that says what to do.
func mapErr(op string, err error) error {
	var le *goldap.Error
	if !errors.As(err, &le) {
		return fmt.Errorf("ldap: %s: %w: %v", op, connectors.ErrUnavailable, err)
	}
	var sentinel error
	switch le.ResultCode {
	case goldap.LDAPResultNoSuchObject:
		sentinel = connectors.ErrNotFound
	case goldap.LDAPResultInvalidCredentials, goldap.LDAPResultInsufficientAccessRights, goldap.LDAPResultStrongAuthRequired,
		goldap.LDAPResultConfidentialityRequired, goldap.LDAPResultInappropriateAuthentication:
		sentinel = connectors.ErrPermission
	case goldap.LDAPResultBusy, goldap.LDAPResultUnavailable, goldap.LDAPResultOther, goldap.LDAPResultTimeLimitExceeded,
		goldap.LDAPResultAdminLimitExceeded, goldap.LDAPResultLoopDetect, goldap.ErrorNetwork, goldap.LDAPResultServerDown,
		goldap.LDAPResultTimeout, goldap.LDAPResultConnectError, goldap.LDAPResultUnwillingToPerform:
		sentinel = connectors.ErrUnavailable
	default:
		sentinel = connectors.ErrInvalid
	}
	return fmt.Errorf("ldap: %s: %w: %v", op, sentinel, err)
}

// search runs a non-paged search that must return few entries.
func (c *Conn) search(ctx context.Context, base, filter string, attrs []string, sizeLimit int) ([]*goldap.Entry, error) {
	var entries []*goldap.Entry
	err := c.with(ctx, func(l *goldap.Conn) error {
		res, err := l.Search(goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, sizeLimit, 0, false, filter, attrs, nil))
		if goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) && res != nil {
			entries = res.Entries
			return nil
		}
		if err != nil {
			return mapErr("search "+base, err)
		}
		entries = res.Entries
		return nil
	})
	return entries, err
}

// page streams a search a page at a time.
func (c *Conn) page(ctx context.Context, base, filter string, attrs []string, fn func(*goldap.Entry) error) error {
	return c.pages(ctx, base, filter, attrs, func(entries []*goldap.Entry) error {
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// pages is page with the entries handed over a page at a time.
func (c *Conn) pages(ctx context.Context, base, filter string, attrs []string, fn func([]*goldap.Entry) error) error {
	// A paged search's cookie is bound to its connection (OpenLDAP answers
	// "paged results cookie is invalid" on another), so a search of more
	// than one page holds its connection until the last page; a single
	// page gives it back at once.
	paging := goldap.NewControlPaging(uint32(c.cfg.PageSize))
	l, extra, err := c.acquire(ctx)
	if err != nil {
		return err
	}
	held := false
	done := func(err error) {
		if held {
			c.paging.Add(-1)
			held = false
		}
		if l != nil {
			c.release(l, extra, err)
			l = nil
		}
	}
	defer func() { done(nil) }()
	for {
		var entries []*goldap.Entry
		var cookie []byte
		err := guard(ctx, l, func() error {
			req := goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, filter, attrs, []goldap.Control{paging})
			res, err := l.Search(req)
			if err != nil {
				return mapErr("search "+base, err)
			}
			entries = res.Entries
			if ctrl, ok := goldap.FindControl(res.Controls, oidPaging).(*goldap.ControlPaging); ok {
				cookie = ctrl.Cookie
			}
			return nil
		})
		if err != nil {
			done(err)
			return err
		}
		switch {
		case len(cookie) == 0:
			done(nil)
		case !held && !extra:
			held = true
			c.paging.Add(1)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(entries); err != nil {
			return err
		}
		if len(cookie) == 0 {
			return nil
		}
		paging.SetCookie(cookie)
	}
}

func and(classFilter, attr, value string) string {
	return "(&" + classFilter + "(" + attr + "=" + goldap.EscapeFilter(value) + "))"
}

func (c *Conn) userAttrs() []string {
	attrs := []string{c.cfg.IDAttr, c.cfg.LoginAttr, "cn", "displayName", c.cfg.ManagerAttr}
	for _, a := range c.cfg.Attributes {
		attrs = append(attrs, a)
	}
	if c.cfg.DisabledAttr != "" {
		attrs = append(attrs, c.cfg.DisabledAttr)
	}
	return append(attrs, c.flavor.userAttrs()...)
}

// enabled applies disabled_attr/disabled_value to an entry, and on AD also
// userAccountControl and accountExpires.
func (c *Conn) enabled(e *goldap.Entry) bool {
	if !c.flavor.enabled(e, time.Now()) {
		return false
	}
	if c.cfg.DisabledAttr == "" {
		return true
	}
	values := e.GetAttributeValues(c.cfg.DisabledAttr)
	if c.cfg.DisabledValue == "" {
		return len(values) == 0
	}
	for _, v := range values {
		if strings.EqualFold(v, c.cfg.DisabledValue) {
			return false
		}
	}
	return true
}

func (c *Conn) toUser(e *goldap.Entry) connectors.User {
	name := e.GetAttributeValue("displayName")
	if name == "" {
		name = e.GetAttributeValue("cn")
	}
	u := connectors.User{ID: c.entryID(e), Login: e.GetAttributeValue(c.cfg.LoginAttr), DisplayName: name, DN: e.DN, Enabled: c.enabled(e), Ref: normDN(e.DN)}
	if m := e.GetAttributeValue(c.cfg.ManagerAttr); m != "" {
		u.Manager = normDN(m)
	}
	for name, attr := range c.cfg.Attributes {
		if v := e.GetAttributeValue(attr); v != "" {
			if u.Attributes == nil {
				u.Attributes = map[string]string{}
			}
			u.Attributes[name] = v
		}
	}
	return u
}

func (c *Conn) toGroup(e *goldap.Entry) connectors.Group {
	return connectors.Group{ID: c.entryID(e), Name: e.GetAttributeValue(c.cfg.GroupAttr), DN: e.DN}
}

// one returns the single entry of a lookup: none is ErrNotFound, two is a
// configuration problem (the login attribute is not unique).
func one(entries []*goldap.Entry, what, name string) (*goldap.Entry, error) {
	switch len(entries) {
	case 0:
		return nil, fmt.Errorf("ldap: %s %q: %w", what, name, connectors.ErrNotFound)
	case 1:
		return entries[0], nil
	}
	return nil, fmt.Errorf("ldap: %s %q matches more than one entry; make the lookup attribute unique or narrow the filter: %w", what, name, connectors.ErrInvalid)
}

// LookupUser finds the user whose login attribute equals login.
func (c *Conn) LookupUser(ctx context.Context, login string) (connectors.User, error) {
	if login == "" {
		return connectors.User{}, fmt.Errorf("ldap: empty login: %w", connectors.ErrNotFound)
	}
	filter := c.flavor.loginFilter(login)
	entries, err := c.search(ctx, c.cfg.UserBase, filter, c.userAttrs(), 2)
	if err != nil {
		return connectors.User{}, err
	}
	e, err := one(entries, "user", login)
	if err != nil {
		return connectors.User{}, err
	}
	return c.toUser(e), nil
}

// LookupGroup finds the group whose name attribute equals name.
func (c *Conn) LookupGroup(ctx context.Context, name string) (connectors.Group, error) {
	if name == "" {
		return connectors.Group{}, fmt.Errorf("ldap: empty group name: %w", connectors.ErrNotFound)
	}
	entries, err := c.search(ctx, c.cfg.GroupBase, and(c.cfg.GroupFilter, c.cfg.GroupAttr, name), []string{c.cfg.IDAttr, c.cfg.GroupAttr}, 2)
	if err != nil {
		return connectors.Group{}, err
	}
	e, err := one(entries, "group", name)
	if err != nil {
		return connectors.Group{}, err
	}
	return c.toGroup(e), nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// idFilter returns the filter item matching id, or false when id cannot be
// one of this directory's ids (checked before it reaches a filter).
func (c *Conn) idFilter(id string) (string, bool) {
	switch {
	case c.binaryID():
		raw, ok := guidBytes(id)
		if !ok {
			return "", false
		}
		var b strings.Builder
		for _, x := range raw {
			fmt.Fprintf(&b, "\\%02x", x)
		}
		return "(" + c.cfg.IDAttr + "=" + b.String() + ")", true
	case strings.EqualFold(c.cfg.IDAttr, "entryUUID") && !uuidRE.MatchString(id):
		return "", false
	}
	return "(" + c.cfg.IDAttr + "=" + goldap.EscapeFilter(id) + ")", true
}

// entryID reads an entry's id.
func (c *Conn) entryID(e *goldap.Entry) string {
	if c.binaryID() {
		return guidString(e.GetRawAttributeValue(c.cfg.IDAttr))
	}
	return e.GetAttributeValue(c.cfg.IDAttr)
}

// dns maps ids to their current DNs. Unknown ids are absent from the result.
func (c *Conn) dns(ctx context.Context, base, class string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	err := c.byIDs(ctx, base, class, ids, []string{c.cfg.IDAttr}, func(e *goldap.Entry) error {
		out[c.entryID(e)] = e.DN
		return nil
	})
	return out, err
}

// idsPerSearch caps the ids in one OR-filter.
const idsPerSearch = 100

// byIDs streams the entries of class under base whose id is one of ids,
// with one OR-search per idsPerSearch ids. Ids that cannot be valid are skipped.
func (c *Conn) byIDs(ctx context.Context, base, class string, ids, attrs []string, fn func(*goldap.Entry) error) error {
	var valid []string
	for _, id := range ids {
		if item, ok := c.idFilter(id); ok {
			valid = append(valid, item)
		}
	}
	for chunk := range slices.Chunk(valid, idsPerSearch) {
		var f strings.Builder
		f.WriteString("(&" + class + "(|")
		for _, item := range chunk {
			f.WriteString(item)
		}
		f.WriteString("))")
		if err := c.page(ctx, base, f.String(), attrs, fn); err != nil {
			return err
		}
	}
	return nil
}

func (c *Conn) groupDN(ctx context.Context, id string) (string, error) {
	m, err := c.dns(ctx, c.cfg.GroupBase, c.cfg.GroupFilter, []string{id})
	if err != nil {
		return "", err
	}
	dn, ok := m[id]
	if !ok {
		return "", fmt.Errorf("ldap: group %s: %w", id, connectors.ErrNotFound)
	}
	return dn, nil
}

// ListUsers streams the users under user_base, a page at a time.
func (c *Conn) ListUsers(ctx context.Context, fn func(connectors.User) error) error {
	return c.page(ctx, c.cfg.UserBase, c.cfg.UserFilter, c.userAttrs(), func(e *goldap.Entry) error {
		return fn(c.toUser(e))
	})
}

// ListGroups streams the groups under group_base, a page at a time.
func (c *Conn) ListGroups(ctx context.Context, fn func(connectors.Group) error) error {
	return c.page(ctx, c.cfg.GroupBase, c.cfg.GroupFilter, []string{c.cfg.IDAttr, c.cfg.GroupAttr}, func(e *goldap.Entry) error {
		return fn(c.toGroup(e))
	})
}

// ListMembers streams the ids of a group's direct members that are users
// under user_base. The placeholder and non-user members are not reported.
func (c *Conn) ListMembers(ctx context.Context, groupID string, fn func(string) error) error {
	dn, err := c.groupDN(ctx, groupID)
	if err != nil {
		return err
	}
	members, err := c.members(ctx, dn)
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(members, 100) {
		var f strings.Builder
		f.WriteString("(&" + c.cfg.UserFilter + "(|")
		for _, m := range chunk {
			f.WriteString("(" + c.cfg.DNAttr + "=" + goldap.EscapeFilter(m) + ")")
		}
		f.WriteString("))")
		err := c.page(ctx, c.cfg.UserBase, f.String(), []string{c.cfg.IDAttr}, func(e *goldap.Entry) error {
			return fn(c.entryID(e))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// members reads a group's member DNs, without the placeholder. On AD, large
// groups are read a range at a time (member;range=0-1499, ...).
func (c *Conn) members(ctx context.Context, groupDN string) ([]string, error) {
	var out []string
	err := c.with(ctx, func(l *goldap.Conn) error {
		all, err := c.readMembers(l, groupDN)
		for _, m := range all {
			if !c.isPlaceholder(m) {
				out = append(out, m)
			}
		}
		return err
	})
	return out, err
}

// readMembers reads every value of a group's member attribute on l.
func (c *Conn) readMembers(l *goldap.Conn, groupDN string) ([]string, error) {
	attr := c.flavor.memberRange(c.cfg.MemberAttr)
	var out []string
	for {
		res, err := l.Search(goldap.NewSearchRequest(groupDN, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{attr}, nil))
		if err != nil {
			return nil, mapErr("read members of "+groupDN, err)
		}
		if len(res.Entries) != 1 {
			return out, nil
		}
		values, next := c.memberValues(res.Entries[0])
		out = append(out, values...)
		if next == "" {
			return out, nil
		}
		attr = next
	}
}

func (c *Conn) isPlaceholder(dn string) bool {
	return c.cfg.EmptyMember != "" && sameDN(dn, c.cfg.EmptyMember)
}

func sameDN(a, b string) bool {
	da, err1 := goldap.ParseDN(a)
	db, err2 := goldap.ParseDN(b)
	if err1 != nil || err2 != nil {
		return strings.EqualFold(a, b)
	}
	return da.EqualFold(db)
}

// IsMember compares the group's member attribute with the user's DN. On AD it
// also counts membership through nested groups: a user who already has the
// group's access that way is not given (or later stripped of) a direct one.
func (c *Conn) IsMember(ctx context.Context, groupID, userID string) (bool, error) {
	gdn, err := c.groupDN(ctx, groupID)
	if err != nil {
		return false, err
	}
	users, err := c.dns(ctx, c.cfg.UserBase, c.cfg.UserFilter, []string{userID})
	if err != nil {
		return false, err
	}
	udn, ok := users[userID]
	if !ok {
		return false, fmt.Errorf("ldap: user %s: %w", userID, connectors.ErrNotFound)
	}
	return c.flavor.isMember(ctx, udn, gdn)
}
