package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/fixtures/oidcfake"
)

// withOIDC serves the API with an OpenID Connect provider in front: bob's
// payments-release membership makes him an admin.
func withOIDC(t *testing.T) (*env, *oidcfake.Provider) {
	t.Helper()
	idp, err := oidcfake.Start("jitd", "client-secret")
	if err != nil {
		t.Fatal(err)
	}
	idp.Public = "jitd-cli"
	t.Cleanup(idp.Close)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("client-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(d *api.Deps, base string) {
		cfg := auth.OIDCConfig{Issuer: idp.URL, ClientID: "jitd", CLIClientID: "jitd-cli", ClientSecretFile: secret, RedirectURL: base + "/auth/callback",
			Directory: "demo", Roles: auth.RoleGroups{Admin: []string{"payments-release"}}}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		o, err := auth.NewOIDC(cfg, d.Store, []byte("session-key-0123456789abcdef0123"), d.Clock.Now, nil, d.Log)
		if err != nil {
			t.Fatal(err)
		}
		d.OIDC = o
	})
	idp.Now = e.clock.Now
	if _, err := e.client(e.tokens[auth.RoleAdmin]).SyncRun(context.Background(), api.SyncRunRequest{}); err != nil {
		t.Fatal(err)
	}
	return e, idp
}

func TestOIDC_BearerTokensNamePeopleAndTheirMFA(t *testing.T) {
	e, idp := withOIDC(t)
	ctx := context.Background()

	withMFA := e.client(idp.Token(map[string]any{"preferred_username": "alice", "amr": []string{"pwd", "otp"}}))
	if w, err := withMFA.Whoami(ctx); err != nil || w != (api.Whoami{Name: "alice", Role: auth.RoleRequester, MFA: true, Via: "oidc"}) {
		t.Fatalf("whoami with MFA = %+v, %v", w, err)
	}
	// The dba rule auto-approves 30 minutes for a caller who used MFA.
	r, err := withMFA.CreateRequest(ctx, api.CreateRequestRequest{Group: "prod-db-admins", For: "30m", Reason: "deploy"})
	if err != nil || r.State != "approved" || r.GrantID == "" {
		t.Fatalf("with MFA: %+v, %v; want auto-approved with a grant", r, err)
	}
	pwdOnly := e.client(idp.Token(map[string]any{"preferred_username": "alice", "amr": []string{"pwd"}}))
	r, err = pwdOnly.CreateRequest(ctx, api.CreateRequestRequest{Group: "prod-db-admins", For: "30m", Reason: "deploy"})
	if err != nil || r.State != "pending" {
		t.Fatalf("password only: %+v, %v; want pending for bob", r, err)
	}
	// Roles come from directory groups: bob is in payments-release.
	if w, err := e.client(idp.Token(map[string]any{"preferred_username": "bob"})).Whoami(ctx); err != nil || w.Role != auth.RoleAdmin || w.MFA {
		t.Fatalf("bob = %+v, %v; want admin without MFA", w, err)
	}
	// An API token's caller never counts as MFA.
	if w, err := e.client(e.tokens["alice"]).Whoami(ctx); err != nil || w.MFA || w.Via != "token" {
		t.Fatalf("token whoami = %+v, %v", w, err)
	}
}

func TestOIDC_BadTokensAreRefused(t *testing.T) {
	e, idp := withOIDC(t)
	ctx := context.Background()
	other, err := oidcfake.Start("jitd", "x")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.Now = e.clock.Now
	cases := map[string]struct {
		token string
		says  string
	}{
		"expired":        {idp.Token(map[string]any{"preferred_username": "alice", "exp": e.clock.Now().Add(-time.Minute).Unix()}), "expired"},
		"other audience": {idp.Token(map[string]any{"preferred_username": "alice", "aud": "someone-else"}), "audience"},
		"other issuer":   {other.Token(map[string]any{"preferred_username": "alice"}), "verify"},
		"foreign key":    {other.Token(map[string]any{"preferred_username": "alice", "iss": idp.URL}), "signature"},
		"no login claim": {idp.Token(map[string]any{"email": "alice@example.com"}), "preferred_username"},
		"unknown person": {idp.Token(map[string]any{"preferred_username": "mallory"}), "not a user"},
		"disabled":       {idp.Token(map[string]any{"preferred_username": "dave"}), "disabled"},
		"unsigned":       {unsigned(idp.Token(map[string]any{"preferred_username": "alice"})), ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.client(c.token).CreateRequest(ctx, api.CreateRequestRequest{Group: "prod-db-admins", For: "30m", Reason: "x"})
			var ae *api.Error
			if !asAPIError(err, &ae) || ae.Status != http.StatusUnauthorized || !strings.Contains(ae.Message, c.says) {
				t.Fatalf("err = %v; want a 401 that says %q", err, c.says)
			}
		})
	}
	if rs, _ := e.client(e.tokens[auth.RoleAdmin]).ListRequests(ctx, apiclient.RequestFilter{}); len(rs) != 0 {
		t.Fatalf("refused tokens made %d requests", len(rs))
	}
}

// unsigned swaps a token's algorithm for "none".
func unsigned(tok string) string {
	parts := strings.Split(tok, ".")
	return "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
}

func asAPIError(err error, target **api.Error) bool {
	ae, ok := err.(*api.Error)
	*target = ae
	return ok
}

func TestOIDC_BrowserLoginSessionWritesOnlyFromThisOrigin(t *testing.T) {
	e, idp := withOIDC(t)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	idp.SignInNext(map[string]any{"preferred_username": "alice", "amr": []string{"pwd", "hwk"}})
	resp, err := browser.Get(e.srv.URL + "/auth/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "alice") {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, page)
	}
	call := func(method, path, origin, body string) (int, string) {
		req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := call("GET", "/api/v1/whoami", "", "")
	var w api.Whoami
	json.Unmarshal([]byte(body), &w)
	if code != 200 || w != (api.Whoami{Name: "alice", Role: auth.RoleRequester, MFA: true, Via: "session"}) {
		t.Fatalf("whoami: %d %s", code, body)
	}
	ask := `{"group":"prod-db-admins","for":"30m","reason":"deploy"}`
	for _, origin := range []string{"", "https://evil.example"} {
		if code, body := call("POST", "/api/v1/requests", origin, ask); code != http.StatusForbidden {
			t.Fatalf("cookie write from origin %q: %d %s; want 403", origin, code, body)
		}
	}
	if code, body := call("POST", "/api/v1/requests", e.srv.URL, ask); code != http.StatusCreated || !strings.Contains(body, `"approved"`) {
		t.Fatalf("same-origin write: %d %s; want 201, auto-approved (the sign-in used a hardware key)", code, body)
	}
	// Signing out voids the session everywhere: a copy of the cookie made
	// before is refused too.
	u, _ := url.Parse(e.srv.URL)
	var copied string
	for _, c := range jar.Cookies(u) {
		if c.Name == auth.SessionCookie {
			copied = c.Value
		}
	}
	e.clock.Advance(time.Minute)
	if code, _ := call("POST", "/auth/logout", "", ""); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	for _, c := range jar.Cookies(u) {
		if c.Name == auth.SessionCookie {
			t.Fatalf("session cookie still set after logout")
		}
	}
	replay, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/whoami", nil)
	replay.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: copied})
	resp, err = http.DefaultClient.Do(replay)
	if err != nil {
		t.Fatal(err)
	}
	replayed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(replayed), "signed out") {
		t.Fatalf("copied cookie after logout: %d %s", resp.StatusCode, replayed)
	}
	// A new sign-in works, and its session ends after its TTL.
	e.clock.Advance(time.Second)
	if resp, err := browser.Get(e.srv.URL + "/auth/login"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("signing in again: %v %v", resp, err)
	}
	if code, body := call("GET", "/api/v1/whoami", "", ""); code != 200 {
		t.Fatalf("new session: %d %s", code, body)
	}
	e.clock.Advance(8*time.Hour + time.Second)
	if code, _ := call("GET", "/api/v1/whoami", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("expired session: %d; want 401", code)
	}
}

func TestOIDC_CallbackWithoutItsLoginIsRefused(t *testing.T) {
	e, idp := withOIDC(t)
	jar, _ := cookiejar.New(nil)
	noRedirect := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	idp.SignInNext(map[string]any{"preferred_username": "alice"})
	resp, err := noRedirect.Get(e.srv.URL + "/auth/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	// An attacker's own code and state, replayed into alice's browser.
	resp, err = noRedirect.Get(e.srv.URL + "/auth/callback?code=stolen&state=forged")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("callback with a foreign state: %d; want 401", resp.StatusCode)
	}
	u, _ := url.Parse(e.srv.URL)
	for _, c := range jar.Cookies(u) {
		if c.Name == auth.SessionCookie {
			t.Fatal("a session was set")
		}
	}
}

// The CLI's public client: its ID tokens are bearer tokens too, and
// GET /auth/cli says where to sign in; another audience is refused.
func TestOIDC_TheCLIClientsTokensWork(t *testing.T) {
	e, idp := withOIDC(t)
	ctx := context.Background()
	resp, err := http.Get(e.srv.URL + "/auth/cli")
	if err != nil {
		t.Fatal(err)
	}
	var cli auth.CLILogin
	json.NewDecoder(resp.Body).Decode(&cli)
	resp.Body.Close()
	if cli.Issuer != idp.URL || cli.ClientID != "jitd-cli" || !slices.Contains(cli.Scopes, "offline_access") {
		t.Fatalf("GET /auth/cli: %+v", cli)
	}
	who, err := e.client(idp.Token(map[string]any{"aud": "jitd-cli", "preferred_username": "alice"})).Whoami(ctx)
	if err != nil || who.Name != "alice" {
		t.Fatalf("the CLI client's token: %+v %v", who, err)
	}
	if _, err := e.client(idp.Token(map[string]any{"aud": "another-app", "preferred_username": "alice"})).Whoami(ctx); status(err) != http.StatusUnauthorized {
		t.Fatalf("another audience: %v", err)
	}
}
