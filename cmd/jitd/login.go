package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/core/auth"
)

// jitd login signs a person in with the organisation's identity provider,
// as `tsh login` and `gcloud auth login` do: the authorization code flow
// with PKCE, the browser sent back to a listener on this machine's loopback
// (RFC 8252), and the ID token (with a refresh token) kept 0600 in the
// user's configuration directory for the commands that follow.

// loginSession is one daemon's sign-in, as kept on disk.
type loginSession struct {
	Issuer       string    `json:"issuer"`
	ClientID     string    `json:"client_id"`
	IDToken      string    `json:"id_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry"`
}

// loginFile is where sign-ins are kept: one per daemon address.
func loginFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory to keep the sign-in in: %w", err)
	}
	return filepath.Join(dir, "jitd", "login.json"), nil
}

func loadLogins() (map[string]loginSession, string, error) {
	path, err := loginFile()
	if err != nil {
		return nil, "", err
	}
	all, err := readLogins(path)
	return all, path, err
}

func readLogins(path string) (map[string]loginSession, error) {
	all := map[string]loginSession{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return all, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v): remove it and run jitd login", path, err)
	}
	return all, nil
}

// saveLogins writes the sign-ins, readable by this user only, replacing
// the file at once.
func saveLogins(path string, all map[string]loginSession) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(all, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(path), ".login-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func loginKey(addr string) string {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return strings.TrimRight(addr, "/")
}

// signedIn returns the kept sign-in's ID token for addr, refreshed when it
// has run out; "" when nobody signed in there.
func signedIn(ctx context.Context, addr string) (string, error) {
	path, err := loginFile()
	if err != nil {
		return "", nil // nowhere a sign-in could be kept: there is none
	}
	all, err := readLogins(path)
	if err != nil {
		return "", err
	}
	s, ok := all[loginKey(addr)]
	if !ok {
		return "", nil
	}
	if time.Until(s.Expiry) > 30*time.Second {
		return s.IDToken, nil
	}
	if s.RefreshToken == "" {
		return "", fmt.Errorf("your sign-in to %s has expired: run jitd login", loginKey(addr))
	}
	p, err := oidc.NewProvider(ctx, s.Issuer)
	if err != nil {
		return "", fmt.Errorf("renew your sign-in: %w", err)
	}
	oc := oauth2.Config{ClientID: s.ClientID, Endpoint: p.Endpoint()}
	tok, err := oc.TokenSource(ctx, &oauth2.Token{RefreshToken: s.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
	if err != nil {
		return "", fmt.Errorf("your sign-in to %s could not be renewed (%v): run jitd login", loginKey(addr), err)
	}
	idt, raw, err := verifyIDToken(ctx, p, s.ClientID, tok, "")
	if err != nil {
		return "", fmt.Errorf("renew your sign-in: %w", err)
	}
	s.IDToken, s.Expiry = raw, idt.Expiry
	if tok.RefreshToken != "" {
		s.RefreshToken = tok.RefreshToken
	}
	all[loginKey(addr)] = s
	if err := saveLogins(path, all); err != nil {
		return "", err
	}
	return raw, nil
}

func verifyIDToken(ctx context.Context, p *oidc.Provider, clientID string, tok *oauth2.Token, nonce string) (*oidc.IDToken, string, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, "", errors.New("the identity provider sent no ID token")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, raw)
	if err != nil {
		return nil, "", err
	}
	if nonce != "" && idt.Nonce != nonce {
		return nil, "", errors.New("the ID token is not for this sign-in (nonce)")
	}
	return idt, raw, nil
}

func loginCmd(g *globals) *cobra.Command {
	var noBrowser bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "login [--no-browser]",
		Short: "Sign in with your organisation's identity provider; later commands act as you",
		Long: `Sign in with your organisation's identity provider (OpenID Connect, the
authorization code flow with PKCE, back to a listener on 127.0.0.1). The
sign-in is kept, readable by you only, in your configuration directory, and
renewed while the provider allows; jitd logout forgets it. An API token
(--token, --token-file, JITD_TOKEN, JITD_TOKEN_FILE) still wins over it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			base := loginKey(g.addr)
			cli, err := fetchCLILogin(ctx, base)
			if err != nil {
				return err
			}
			p, err := oidc.NewProvider(ctx, cli.Issuer)
			if err != nil {
				return fmt.Errorf("reach the identity provider %s: %w", cli.Issuer, err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			defer ln.Close()
			oc := oauth2.Config{ClientID: cli.ClientID, Endpoint: p.Endpoint(), Scopes: cli.Scopes,
				RedirectURL: fmt.Sprintf("http://%s/callback", ln.Addr())}
			state, nonce, verifier := randomString(), randomString(), oauth2.GenerateVerifier()
			u := oc.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
			fmt.Fprintf(cmd.ErrOrStderr(), "Sign in to %s in your browser:\n  %s\n", base, u)
			if !noBrowser {
				openBrowser(u)
			}
			tok, err := awaitCallback(ctx, ln, state, func(code string) (*oauth2.Token, error) {
				return oc.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			})
			if err != nil {
				return err
			}
			idt, raw, err := verifyIDToken(ctx, p, cli.ClientID, tok, nonce)
			if err != nil {
				return err
			}
			all, path, err := loadLogins()
			if err != nil {
				return err
			}
			all[base] = loginSession{Issuer: cli.Issuer, ClientID: cli.ClientID, IDToken: raw, RefreshToken: tok.RefreshToken, Expiry: idt.Expiry}
			if err := saveLogins(path, all); err != nil {
				return err
			}
			who, err := apiclient.New(base, raw, nil).Whoami(ctx)
			if err != nil {
				return fmt.Errorf("signed in with the identity provider, but jitd refuses the sign-in: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed in to %s as %s (%s)\n", base, who.Name, who.Role)
			return nil
		},
	}
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "print the sign-in address only; open it yourself")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the browser")
	return cmd
}

func logoutCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the sign-in jitd login kept for this daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			all, path, err := loadLogins()
			if err != nil {
				return err
			}
			base := loginKey(g.addr)
			if _, ok := all[base]; !ok {
				fmt.Fprintf(cmd.OutOrStdout(), "not signed in to %s\n", base)
				return nil
			}
			delete(all, base)
			if err := saveLogins(path, all); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed out of %s\n", base)
			return nil
		},
	}
}

// fetchCLILogin asks the daemon how its people sign in.
func fetchCLILogin(ctx context.Context, base string) (auth.CLILogin, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/auth/cli", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return auth.CLILogin{}, fmt.Errorf("cannot reach jitd at %s (is `jitd serve` running? set --addr or JITD_ADDR): %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return auth.CLILogin{}, fmt.Errorf("jitd at %s has no CLI sign-in: its configuration needs auth.oidc.cli_client_id (a public client of the identity provider); ask for an API token instead", base)
	}
	var cli auth.CLILogin
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&cli) != nil || cli.Issuer == "" {
		return cli, fmt.Errorf("jitd at %s answered GET /auth/cli with %s", base, resp.Status)
	}
	return cli, nil
}

// awaitCallback serves the loopback redirect once: the provider's answer
// must carry the state this sign-in sent.
func awaitCallback(ctx context.Context, ln net.Listener, state string, exchange func(code string) (*oauth2.Token, error)) (*oauth2.Token, error) {
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var res result
		switch {
		case r.URL.Path != "/callback":
			http.NotFound(w, r)
			return
		case q.Get("state") != state:
			res.err = errors.New("the sign-in answer is not for this sign-in (state); run jitd login again")
		case q.Get("error") != "":
			res.err = fmt.Errorf("the identity provider refused: %s %s", q.Get("error"), q.Get("error_description"))
		default:
			res.tok, res.err = exchange(q.Get("code"))
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		msg := "You are signed in to jitd. You can close this window."
		if res.err != nil {
			w.WriteHeader(http.StatusBadRequest)
			msg = "Not signed in: " + res.err.Error()
		}
		fmt.Fprintf(w, "<!doctype html><html lang=en><title>jitd</title><p>%s</p></html>", html.EscapeString(msg))
		select {
		case done <- res:
		default:
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	select {
	case res := <-done:
		return res.tok, res.err
	case <-ctx.Done():
		return nil, errors.New("no answer from the browser in time; run jitd login again")
	}
}

func randomString() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// openBrowser tries to show u in the user's browser; the address is
// printed anyway, so failing here changes nothing.
func openBrowser(u string) {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	case "darwin":
		cmd = exec.Command("open", u)
	default:
		if _, err := exec.LookPath("xdg-open"); err != nil {
			return
		}
		cmd = exec.Command("xdg-open", u)
	}
	if cmd.Start() == nil {
		go cmd.Wait()
	}
}
