package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/jitd/jitd/connectors"
)

// OIDCConfig signs people in with an OpenID Connect provider: bearer ID
// tokens on the API, or a browser login (authorization code flow with PKCE)
// that leaves a session cookie. A person's login is a claim of the token,
// looked up in Directory's mirror; their role comes from their groups there.
type OIDCConfig struct {
	Issuer           string `yaml:"issuer"`
	ClientID         string `yaml:"client_id"`
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	// CLIClientID is a public client (no secret; loopback redirects
	// allowed, RFC 8252) that `jitd login` signs people in with; jitd
	// accepts its ID tokens as bearer tokens too.
	CLIClientID string `yaml:"cli_client_id"`
	// RedirectURL is this jitd's /auth/callback as the provider knows it.
	RedirectURL string `yaml:"redirect_url"`
	// Directory is where logins live (default: the only directory).
	Directory string `yaml:"directory"`
	// LoginClaim names the claim that holds the login (default
	// preferred_username); StripDomain drops an "@domain" suffix.
	LoginClaim  string `yaml:"login_claim"`
	StripDomain bool   `yaml:"strip_domain"`
	// AllowedDomains are the domains StripDomain may strip (required with
	// it): carol@evil.example must not sign in as carol.
	AllowedDomains []string `yaml:"allowed_domains"`
	// MFAMethods are the amr values (RFC 8176) that count as multi-factor
	// (default mfa, otp, hwk, swk, sc, fpt, face, iris, retina, vbm, tel, sms).
	MFAMethods []string `yaml:"mfa_methods"`
	// Roles maps directory groups to roles; the first role whose groups
	// hold the person wins, in the order admin, auditor, approver,
	// requester. With no requester groups, everyone else in the directory
	// is a requester.
	Roles      RoleGroups    `yaml:"roles"`
	SessionTTL time.Duration `yaml:"session_ttl"` // default 8h
	// Scopes beyond openid (default profile, email).
	Scopes []string `yaml:"scopes"`
}

// RoleGroups names the directory groups of each role.
type RoleGroups struct {
	Admin     []string `yaml:"admin"`
	Auditor   []string `yaml:"auditor"`
	Approver  []string `yaml:"approver"`
	Requester []string `yaml:"requester"`
}

func (c OIDCConfig) clientSecret() connectors.Secret {
	return connectors.Secret{Key: "client_secret", File: c.ClientSecretFile, Env: c.ClientSecretEnv, What: "the OIDC client secret",
		Hint: " (needed for browser login; omit redirect_url for bearer tokens only)"}
}

// Validate returns every problem, each prefixed with its key.
func (c OIDCConfig) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, fmt.Errorf(key+": "+format, args...)) }
	if u, err := url.Parse(c.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
		bad("issuer", "must be the provider's https URL (got %q)", c.Issuer)
	}
	if c.ClientID == "" {
		bad("client_id", "required (the audience of the tokens jitd accepts)")
	}
	if c.RedirectURL != "" {
		if u, err := url.Parse(c.RedirectURL); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
			bad("redirect_url", "must be an https URL ending in /auth/callback (got %q)", c.RedirectURL)
		}
		if err := c.clientSecret().Check(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.StripDomain && len(c.AllowedDomains) == 0 {
		bad("allowed_domains", "required with strip_domain: list the domains whose logins jitd takes without the domain (example.com), so that carol@another.example does not sign in as carol")
	}
	if !c.StripDomain && len(c.AllowedDomains) > 0 {
		bad("allowed_domains", "only means something with strip_domain: true")
	}
	if c.SessionTTL < 0 || c.SessionTTL > 7*24*time.Hour {
		bad("session_ttl", "must be between 0 (default 8h) and 168h")
	}
	return errors.Join(errs...)
}

func loopback(host string) bool { return host == "127.0.0.1" || host == "::1" || host == "localhost" }

var defaultMFA = []string{"mfa", "otp", "hwk", "swk", "sc", "fpt", "face", "iris", "retina", "vbm", "tel", "sms"}

// OIDC authenticates people with an OpenID Connect provider.
type OIDC struct {
	cfg      OIDCConfig
	people   People
	sessions *Sessions
	key      []byte
	now      func() time.Time
	http     *http.Client
	log      *slog.Logger
	secret   string

	mu          sync.Mutex
	verifier    *oidc.IDTokenVerifier
	cliVerifier *oidc.IDTokenVerifier // nil without cli_client_id
	oauth       *oauth2.Config
}

// NewOIDC returns an OIDC authenticator. Discovery happens on first use
// (and is retried until it works), so a provider that is down never stops
// jitd from starting and revoking. key signs session and state cookies.
func NewOIDC(cfg OIDCConfig, st Store, key []byte, now func() time.Time, hc *http.Client, log *slog.Logger) (*OIDC, error) {
	if cfg.LoginClaim == "" {
		cfg.LoginClaim = "preferred_username"
	}
	if cfg.MFAMethods == nil {
		cfg.MFAMethods = defaultMFA
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.Scopes == nil {
		cfg.Scopes = []string{"profile", "email"}
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	o := &OIDC{cfg: cfg, key: key, now: now, http: hc, log: log, people: NewPeople(st, cfg.Directory, cfg.Roles)}
	o.sessions = NewSessions(key, o.people, cfg.SessionTTL, o.secure(), now)
	if cfg.RedirectURL != "" {
		sec, err := cfg.clientSecret().Read()
		if err != nil {
			return nil, fmt.Errorf("auth: oidc: %w", err)
		}
		o.secret = sec
	}
	return o, nil
}

// Sessions are the browser sessions a sign-in starts.
func (o *OIDC) Sessions() *Sessions { return o.sessions }

// BrowserLogin reports whether browser sign-in is configured.
func (o *OIDC) BrowserLogin() bool { return o.cfg.RedirectURL != "" }

func (o *OIDC) provider(ctx context.Context) (*oidc.IDTokenVerifier, *oauth2.Config, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verifier != nil {
		return o.verifier, o.oauth, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.http), o.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: oidc: discover %s: %w", o.cfg.Issuer, err)
	}
	// Keys are fetched with the long-lived client, not this request's.
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), o.http), jwksURL(p))
	o.verifier = oidc.NewVerifier(o.cfg.Issuer, keys, &oidc.Config{ClientID: o.cfg.ClientID, Now: o.now})
	if o.cfg.CLIClientID != "" {
		o.cliVerifier = oidc.NewVerifier(o.cfg.Issuer, keys, &oidc.Config{ClientID: o.cfg.CLIClientID, Now: o.now})
	}
	o.oauth = &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.secret, Endpoint: p.Endpoint(), RedirectURL: o.cfg.RedirectURL,
		Scopes: append([]string{oidc.ScopeOpenID}, o.cfg.Scopes...)}
	return o.verifier, o.oauth, nil
}

func jwksURL(p *oidc.Provider) string {
	var c struct {
		JWKS string `json:"jwks_uri"`
	}
	p.Claims(&c)
	return c.JWKS
}

// Authenticate checks a bearer ID token and returns the person it names,
// with the role their groups give them.
func (o *OIDC) Authenticate(ctx context.Context, raw string) (Principal, error) {
	v, _, err := o.provider(ctx)
	if err != nil {
		return Principal{}, err
	}
	tok, err := v.Verify(oidc.ClientContext(ctx, o.http), raw)
	if err != nil && o.cliVerifier != nil {
		// Perhaps the CLI's: the same provider, the other audience.
		if cli, cerr := o.cliVerifier.Verify(oidc.ClientContext(ctx, o.http), raw); cerr == nil {
			tok, err = cli, nil
		}
	}
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	return o.fromToken(ctx, tok)
}

// CLILogin is what `jitd login` needs to sign someone in (GET /auth/cli).
type CLILogin struct {
	Issuer   string   `json:"issuer"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
}

// CLI returns how the CLI signs in, and false without cli_client_id.
func (o *OIDC) CLI() (CLILogin, bool) {
	return CLILogin{Issuer: o.cfg.Issuer, ClientID: o.cfg.CLIClientID, Scopes: append([]string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}, o.cfg.Scopes...)},
		o.cfg.CLIClientID != ""
}

func (o *OIDC) fromToken(ctx context.Context, tok *oidc.IDToken) (Principal, error) {
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	login, _ := claims[o.cfg.LoginClaim].(string)
	if o.cfg.StripDomain {
		user, domain, _ := strings.Cut(login, "@")
		if !slices.ContainsFunc(o.cfg.AllowedDomains, func(d string) bool { return strings.EqualFold(d, domain) }) {
			return Principal{}, fmt.Errorf("%w: %q is not in one of the allowed domains (%s)", ErrUnauthenticated, login, strings.Join(o.cfg.AllowedDomains, ", "))
		}
		login = user
	}
	if login == "" {
		return Principal{}, fmt.Errorf("%w: the token has no %s claim", ErrUnauthenticated, o.cfg.LoginClaim)
	}
	mfa := false
	if amr, ok := claims["amr"].([]any); ok {
		for _, m := range amr {
			s, _ := m.(string)
			mfa = mfa || slices.Contains(o.cfg.MFAMethods, s)
		}
	}
	return o.people.Person(ctx, login, mfa)
}

// Browser login. The state cookie carries state, nonce and PKCE verifier,
// signed; the session cookie carries the login, MFA and the end, signed.
// The role is worked out again on every call, so leaving a group takes
// effect with the next sync.

type loginState struct {
	State, Nonce, Verifier, Return string
	Expires                        time.Time
}

func (o *OIDC) secure() bool { return strings.HasPrefix(o.cfg.RedirectURL, "https://") }

// Login starts a browser sign-in: it redirects to the provider.
func (o *OIDC) Login(w http.ResponseWriter, r *http.Request) {
	_, oc, err := o.provider(r.Context())
	if err != nil {
		o.log.Error("auth: oidc login", "err", err)
		http.Error(w, "the identity provider cannot be reached; try again later", http.StatusBadGateway)
		return
	}
	st := loginState{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Expires: o.now().Add(10 * time.Minute)}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: seal(o.key, "state", st), Path: "/auth/", HttpOnly: true, Secure: o.secure(),
		SameSite: http.SameSiteLaxMode, MaxAge: 600})
	http.Redirect(w, r, oc.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusFound)
}

// Callback finishes a browser sign-in and sets the session cookie.
func (o *OIDC) Callback(w http.ResponseWriter, r *http.Request) (Principal, error) {
	v, oc, err := o.provider(r.Context())
	if err != nil {
		return Principal{}, err
	}
	c, err := r.Cookie(stateCookie)
	var st loginState
	if err != nil || !open(o.key, "state", c.Value, &st) || !o.now().Before(st.Expires) || r.URL.Query().Get("state") != st.State {
		return Principal{}, fmt.Errorf("%w: the sign-in expired or did not start here; start again at /auth/login", ErrUnauthenticated)
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: "/auth/", MaxAge: -1})
	if e := r.URL.Query().Get("error"); e != "" {
		return Principal{}, fmt.Errorf("%w: the identity provider said %s: %s", ErrUnauthenticated, e, r.URL.Query().Get("error_description"))
	}
	tok, err := oc.Exchange(oidc.ClientContext(r.Context(), o.http), r.URL.Query().Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return Principal{}, fmt.Errorf("%w: code exchange: %v", ErrUnauthenticated, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := v.Verify(oidc.ClientContext(r.Context(), o.http), raw)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if idt.Nonce != st.Nonce {
		return Principal{}, fmt.Errorf("%w: nonce mismatch", ErrUnauthenticated)
	}
	p, err := o.fromToken(r.Context(), idt)
	if err != nil {
		return p, err
	}
	o.sessions.Start(w, p)
	return p, nil
}
