// Package scim serves SCIM 2.0 (RFC 7643/7644) so that Okta, Entra ID or
// any provisioning client can create, change and delete users and groups in
// an on-prem directory through jitd. Reads go to the directory itself;
// writes go through the directory's Provisioner and MembershipManager, are
// audited with the client's name, and never reach a JIT-managed group
// unless configured to, and then only as recorded baseline.
package scim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/schema"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/ratelimit"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/web"
)

// Audit actions of SCIM writes.
const (
	UserCreated    = "scim.user.created"
	UserUpdated    = "scim.user.updated"
	UserDeleted    = "scim.user.deleted"
	GroupCreated   = "scim.group.created"
	GroupUpdated   = "scim.group.updated"
	GroupDeleted   = "scim.group.deleted"
	MembersChanged = "scim.group.members"
	WriteRefused   = "scim.refused"
)

// maxBody bounds a request: a group PATCH of several thousand members fits.
const maxBody = 8 << 20

var (
	errInvalidValue = errors.ScimErrorInvalidValue
	errNotFound     = errors.ScimError{Status: http.StatusNotFound}
	errForbidden    = errors.ScimError{Status: http.StatusForbidden}
	errUnavailable  = errors.ScimError{Status: http.StatusServiceUnavailable}
)

// Store is the part of jitd's store the SCIM server uses.
type Store interface {
	store.Updater
	store.SCIM
}

// Deps are what the server works with.
type Deps struct {
	Config Config
	// Directory is the name of the directory and Conn its connector, which
	// must provision and manage memberships.
	Conn   connectors.Connector
	Flavor string
	// Protected are the groups the configuration names for any purpose
	// (JIT-managed, roles, break-glass, approvers, separation of duties,
	// policy rules): SCIM may never create, rename to or from, delete or
	// change the members of a group of that name, wherever it lies, since
	// whoever holds those groups holds authority in jitd.
	Protected []string
	// ProtectedUsers are the logins the configuration names (break-glass
	// users, approvers): SCIM may not create a user of that name or rename
	// one to or from it.
	ProtectedUsers []string
	Store          Store
	Clock          clock.Clock
	Log            *slog.Logger
	// DocumentationURL is advertised in ServiceProviderConfig.
	DocumentationURL string
	// Changed, when set, is told after every write that changed the
	// directory, so the mirror syncs it at once.
	Changed func()
	// Metrics, when set, registers jitd_scim_requests_total and
	// jitd_scim_request_duration_seconds.
	Metrics prometheus.Registerer
}

// Server is the /scim/v2 handler. Callers authenticate the client first
// and pass its name with WithClient.
type Server struct {
	cfg       Config
	dir       string
	prov      connectors.Provisioner
	members   connectors.MembershipManager
	lister    connectors.Lister
	resolver  connectors.Resolver // nil: names are checked in the provisioning area only
	mapping   mapping
	protected atomic.Pointer[map[connectors.EntryKind][]string]
	store     Store
	clock     clock.Clock
	log       *slog.Logger
	docURL    string

	metrics  metrics
	limit    atomic.Pointer[ratelimit.Bucket]
	inFlight chan struct{}
	changed  func()
	order    listOrder
}

// New checks that the directory can be provisioned and returns the server.
func New(d Deps) (*Server, error) {
	cfg := d.Config.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("scim: %w", err)
	}
	prov, ok := connectors.AsProvisioner(d.Conn)
	if !ok {
		return nil, fmt.Errorf("scim: directory %q cannot be provisioned; give it a provisioning block (user_base, group_base)", cfg.Directory)
	}
	mm, ok := connectors.AsMembershipManager(d.Conn)
	if !ok {
		return nil, fmt.Errorf("scim: directory %q cannot change group members", cfg.Directory)
	}
	lister, ok := connectors.AsLister(d.Conn)
	if !ok {
		return nil, fmt.Errorf("scim: directory %q cannot list group members", cfg.Directory)
	}
	resolver, _ := connectors.AsResolver(d.Conn)
	// Entra sends booleans as strings ("True"); the library's switch is
	// global, and jitd is its only user in the process.
	schema.SetAllowStringValues(true)
	if d.DocumentationURL != "" {
		if u, err := url.Parse(d.DocumentationURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("scim: the documentation URL must be an absolute http(s) URL (got %q)", d.DocumentationURL)
		}
	}
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Changed == nil {
		d.Changed = func() {}
	}
	s := &Server{cfg: cfg, dir: cfg.Directory, prov: prov, members: mm, lister: lister, resolver: resolver, mapping: newMapping(d.Flavor, cfg.UserAttributes),
		store: d.Store, clock: d.Clock, log: d.Log, docURL: d.DocumentationURL, inFlight: make(chan struct{}, cfg.MaxInFlight),
		changed: d.Changed, metrics: newMetrics(d.Metrics)}
	s.SetProtected(d.Protected, d.ProtectedUsers)
	s.SetRate(cfg.RequestsPerSecond, cfg.Burst)
	return s, nil
}

// SetRate replaces the rate limit on requests (a configuration reload).
func (s *Server) SetRate(perSecond float64, burst int) {
	s.limit.Store(ratelimit.NewBucket(perSecond, float64(burst), s.clock.Now))
}

type clientKey struct{}

// WithClient names the authenticated SCIM client of a request.
func WithClient(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, clientKey{}, name)
}

func clientOf(ctx context.Context) string {
	name, _ := ctx.Value(clientKey{}).(string)
	return name
}

type requestIDKey struct{}

// requestID is the id of the request being served, which its log line,
// its errors and the X-Request-Id header carry.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// ServeHTTP serves a request whose path is relative to the SCIM root
// ("/Users/123"); resource paths are matched without regard to case and a
// trailing slash is ignored. Every request is counted, timed and logged
// (method, path, status, duration, client, request id; never a body):
// writes and failures at info, reads at debug.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	b := make([]byte, 6)
	rand.Read(b)
	id := hex.EncodeToString(b)
	w.Header().Set("X-Request-Id", id)
	rec := &web.StatusWriter{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
	s.serve(rec, r)
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	took := time.Since(start)
	method, resource := methodLabel(r.Method), resourceLabel(r.URL.Path)
	s.metrics.requests.WithLabelValues(method, resource, strconv.Itoa(rec.Status)).Inc()
	s.metrics.latency.WithLabelValues(method, resource).Observe(took.Seconds())
	level := slog.LevelDebug
	if r.Method != http.MethodGet || rec.Status >= 400 {
		level = slog.LevelInfo
	}
	s.log.Log(r.Context(), level, "scim request", "method", r.Method, "path", r.URL.Path, "status", rec.Status,
		"duration", took.Round(time.Microsecond), "client", clientOf(r.Context()), "request_id", id)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if ok, wait := s.limit.Load().Allow(); !ok {
		s.tooMany(w, wait)
		return
	}
	select {
	case s.inFlight <- struct{}{}:
		defer func() { <-s.inFlight }()
	default:
		s.tooMany(w, time.Second)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	first := strings.ToLower(segs[0])
	id := ""
	if len(segs) > 1 {
		id = segs[1]
	}
	if len(segs) > 2 {
		s.fail(w, r, scimErr(errNotFound, "no such endpoint"))
		return
	}
	switch first {
	case "serviceproviderconfig", "schemas", "resourcetypes":
		s.discover(w, r, segs)
		return
	case "me", "bulk":
		s.fail(w, r, errors.ScimError{Status: http.StatusNotImplemented, Detail: "jitd does not offer /" + segs[0]})
		return
	case ".search":
		if r.Method == http.MethodPost && id == "" {
			s.search(w, r, 0)
			return
		}
	case "users", "groups":
		kind := connectors.UserEntry
		if first == "groups" {
			kind = connectors.GroupEntry
		}
		s.resource(w, r, kind, id)
		return
	}
	s.fail(w, r, scimErr(errNotFound, "no such endpoint: %s", r.URL.Path))
}

func (s *Server) resource(w http.ResponseWriter, r *http.Request, kind connectors.EntryKind, id string) {
	var err error
	switch {
	case id == ".search" && r.Method == http.MethodPost:
		s.search(w, r, kind)
		return
	case id == "" && r.Method == http.MethodGet:
		var q listQuery
		if q, err = s.queryFromURL(r.URL.Query()); err == nil {
			err = s.list(w, r, kind, q)
		}
	case id == "" && r.Method == http.MethodPost:
		err = s.create(w, r, kind)
	case id != "" && r.Method == http.MethodGet:
		err = s.get(w, r, kind, id)
	case id != "" && r.Method == http.MethodPut:
		err = s.replace(w, r, kind, id)
	case id != "" && r.Method == http.MethodPatch:
		err = s.patch(w, r, kind, id)
	case id != "" && r.Method == http.MethodDelete:
		err = s.delete(w, r, kind, id)
	default:
		err = errors.ScimError{Status: http.StatusMethodNotAllowed, Detail: r.Method + " is not allowed here"}
	}
	if err != nil {
		s.fail(w, r, err)
	}
}

// base is the absolute URL of the SCIM root.
func (s *Server) base(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return strings.TrimSuffix(s.cfg.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	prefix, _ := r.Context().Value(prefixKey{}).(string)
	return scheme + "://" + r.Host + prefix
}

type prefixKey struct{}

// WithPrefix records where the server is mounted ("/scim/v2"), for the
// URLs it hands out when no base_url is configured.
func WithPrefix(ctx context.Context, prefix string) context.Context {
	return context.WithValue(ctx, prefixKey{}, prefix)
}

func endpoint(kind connectors.EntryKind) string {
	if kind == connectors.GroupEntry {
		return "Groups"
	}
	return "Users"
}

func (s *Server) write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.Debug("scim: writing the response", "err", err)
	}
}

func (s *Server) tooMany(w http.ResponseWriter, wait time.Duration) {
	secs := max(1, int((wait+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.write(w, http.StatusTooManyRequests, errors.ScimError{Status: http.StatusTooManyRequests, Detail: fmt.Sprintf("too many requests; retry after %d s", secs)})
}

// fail answers with a SCIM error. Connector errors become the matching
// status; anything unexpected is logged and answered 500 without detail.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var se errors.ScimError
	var mbe *http.MaxBytesError
	switch {
	case stderrors.As(err, &se):
	case stderrors.As(err, &mbe):
		se = errors.ScimError{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("the body is larger than %d bytes", maxBody)}
	case stderrors.Is(err, connectors.ErrNotFound):
		se = scimErr(errNotFound, "%s", s.clientMessage(r, err, "no such resource"))
	case stderrors.Is(err, connectors.ErrConflict):
		se = scimErr(errors.ScimErrorUniqueness, "%s", s.clientMessage(r, err, "a user or group of that name exists already"))
	case stderrors.Is(err, connectors.ErrInvalid):
		if what, typ, ok := s.refusal(err); ok {
			se = errors.ScimError{Status: http.StatusBadRequest, ScimType: typ, Detail: fmt.Sprintf("%s (request %s; jitd's log has the directory's answer)", what, s.logRefusal(r, err))}
			break
		}
		se = scimErr(errInvalidValue, "%s", s.clientMessage(r, err, "the directory refused the values"))
	case stderrors.Is(err, connectors.ErrPermission):
		se = scimErr(errForbidden, "%s", s.clientMessage(r, err, "the directory refused the change to jitd's service account"))
	case stderrors.Is(err, connectors.ErrRateLimited):
		wait, _ := connectors.RetryAfter(err)
		s.tooMany(w, wait)
		return
	case stderrors.Is(err, connectors.ErrUnavailable):
		w.Header().Set("Retry-After", "5")
		se = scimErr(errUnavailable, "the directory is unavailable; retry later")
		s.log.Warn("scim: directory unavailable", "directory", s.dir, "err", err)
	default:
		s.log.Error("scim: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		se = errors.ScimErrorInternal
	}
	s.write(w, se.Status, se)
}

// internals are what a client must not see of a directory error: DNs (where
// the organisation keeps what) and the server's own diagnostics.
var internals = regexp.MustCompile(`(?i)\b(cn|ou|dc|uid|o|l|c|st|street|objectguid)=[^\s,]|LDAP Result Code|\b[0-9a-f]{8}: [A-Za-z]+Error:`)

// clientMessage is what a client is told of a directory error: the
// connector's own words when they hold no internals, else plain words and a
// request id under which the whole error is logged.
func (s *Server) clientMessage(r *http.Request, err error, plain string) string {
	msg := strings.TrimPrefix(err.Error(), "ldap: ")
	if !internals.MatchString(msg) {
		return msg
	}
	return fmt.Sprintf("%s (request %s; jitd's log has the directory's answer)", plain, s.logRefusal(r, err))
}

// logRefusal logs a directory's refusal under the request's id, which it
// returns for the client's error.
func (s *Server) logRefusal(r *http.Request, err error) string {
	ref := requestID(r.Context())
	s.log.Warn("scim: the directory refused a request", "request_id", ref, "method", r.Method, "path", r.URL.Path, "err", err)
	return ref
}

// readJSON decodes a request body into v, keeping numbers exact.
func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if stderrors.As(err, &mbe) {
		return err
	}
	var raw any
	for _, into := range []any{&raw, v} {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(into); err != nil {
			return scimErr(errors.ScimErrorInvalidSyntax, "the body is not valid JSON: %v", err)
		}
	}
	return checkStrings("", raw)
}

// maxString bounds every string value a client sends.
const maxString = 4096

// checkStrings refuses string values that are too long or hold control
// characters (a NUL ends a C string in the directory server; a newline
// forges lines in logs and messages). Only addresses, whose formatted form
// is several lines by definition, may hold line breaks.
func checkStrings(path string, v any) error {
	switch v := v.(type) {
	case string:
		if len(v) > maxString {
			return scimErr(errInvalidValue, "%s is longer than %d bytes", path, maxString)
		}
		multiline := strings.HasPrefix(strings.ToLower(path), "addresses")
		for _, r := range v {
			if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
				return scimErr(errInvalidValue, "%s holds a control character (%U)", path, r)
			}
		}
	case map[string]any:
		for k, x := range v {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if err := checkStrings(p, x); err != nil {
				return err
			}
			if err := checkStrings(p+" (the name)", k); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range v {
			if err := checkStrings(path, x); err != nil {
				return err
			}
		}
	}
	return nil
}

// audit records a write with the client's name, in one transaction with
// also (what jitd keeps of the resource); every write but a refusal changed
// the directory.
func (s *Server) audit(ctx context.Context, action, user, group, detail string, also ...func(store.Tx) error) error {
	if action != WriteRefused {
		s.changed()
	}
	return s.store.Update(ctx, func(tx store.Tx) error {
		for _, fn := range also {
			if err := fn(tx); err != nil {
				return err
			}
		}
		_, err := tx.AppendAudit(audit.Event{Time: s.clock.Now(), Actor: "scim:" + clientOf(ctx), Action: action, Directory: s.dir, User: user, Group: group, Detail: detail})
		return err
	})
}

// SetProtected replaces the groups and logins the configuration names (a
// configuration reload): from the next request on, SCIM may not touch them.
func (s *Server) SetProtected(groups, users []string) {
	s.protected.Store(&map[connectors.EntryKind][]string{connectors.GroupEntry: groups, connectors.UserEntry: users})
}

// isProtected reports whether the configuration names a group (or user)
// of that name. Directories compare names without regard to case, and so
// does this.
func (s *Server) isProtected(kind connectors.EntryKind, name string) bool {
	for _, g := range (*s.protected.Load())[kind] {
		if strings.EqualFold(g, name) {
			return true
		}
	}
	return false
}

// location is a resource's absolute URL.
func (s *Server) location(r *http.Request, kind connectors.EntryKind, id string) string {
	return s.base(r) + "/" + endpoint(kind) + "/" + url.PathEscape(id)
}
