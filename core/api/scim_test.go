package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/jitd/jitd/connectors/demo"
	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/scim"
)

func TestSCIM_OnlyTheSCIMRoleGetsIn(t *testing.T) {
	e := newEnv(t, func(d *api.Deps, _ string) {
		conn, err := demo.New(demo.Config{File: filepath.Join(t.TempDir(), "d.json"), Seed: "../../fixtures/demo/directory.json"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := scim.New(scim.Deps{Config: scim.Config{Directory: "demo"}, Conn: conn, Store: d.Store, Clock: d.Clock})
		if err != nil {
			t.Fatal(err)
		}
		d.SCIM = s
	})
	// Each client has its own token; a revoked one stops working at once.
	admin := e.client(e.tokens["admin"])
	entra, err := admin.CreateToken(context.Background(), api.CreateTokenRequest{Name: "entra", Role: "scim"})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.RevokeToken(context.Background(), entra.ID); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"": 401, entra.Token: 401, "not-a-token": 401, e.tokens["admin"]: 403, e.tokens["auditor"]: 403, e.tokens["alice"]: 403, e.tokens["bob"]: 403, e.tokens["okta"]: 200}
	for tok, code := range want {
		for _, path := range []string{"/scim/v2/ServiceProviderConfig", "/scim/v2/Users", "/scim/v2"} {
			if path == "/scim/v2" && code == 200 {
				code = 404 // the root itself is no endpoint
			}
			req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != code {
				t.Errorf("%s with token %.12q: %d, want %d (%v)", path, tok, resp.StatusCode, code, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/scim+json" {
				t.Errorf("%s: Content-Type %q", path, ct)
			}
			if code == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: a 401 without WWW-Authenticate", path)
			}
		}
	}
}
