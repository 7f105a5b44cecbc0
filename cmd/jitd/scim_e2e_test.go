package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/fixtures/poll"
	"github.com/jitd/jitd/fixtures/slapd"
)

// Okta provisions into OpenLDAP through the daemon: a scim token (and only
// that) opens /scim/v2; the user it creates lands in slapd through the
// connector's plugin child, is audited with the client's name, reaches the
// mirror without waiting for the sync interval, and can then be granted
// access; deactivated by Okta, she loses that grant at once. SCIM cannot
// see the JIT-managed group outside its OU.
func TestE2E_SCIMProvisioningIntoOpenLDAP(t *testing.T) {
	srv, d := startOnSlapd(t, "", fmt.Sprintf(`      disabled_attr: pwdAccountLockedTime
      provisioning:
        user_base: %s
        group_base: %s
`, slapd.ProvisionedPeople, slapd.ProvisionedGroups), `policy:
  breakglass:
    groups: [oncall-sre]
scim:
  directory: corp
`)
	dir, addr := d.dir, d.addr
	okta := d.token("okta", "scim")
	admin, _ := os.ReadFile(filepath.Join(dir, "var", "admin.token"))
	call := func(tok, method, path string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, "http://"+addr+"/scim/v2"+path, rd)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, _ := call(string(admin), "GET", "/Users", nil); code != 403 {
		t.Fatalf("an admin token on SCIM: %d, want 403", code)
	}
	usersBefore := d.syncUsers()
	code, u := call(okta, "POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "nina.okta", "name": map[string]any{"givenName": "Nina", "familyName": "Okta"}, "active": true, "password": "Nina-Pw-2026!"})
	if code != 201 {
		t.Fatalf("create: %d %v", code, u)
	}
	conn, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind("uid=nina.okta,"+slapd.ProvisionedPeople, "Nina-Pw-2026!"); err != nil {
		t.Fatalf("the provisioned user cannot sign in to slapd: %v", err)
	}
	poll.Until(t, 10*time.Second, "the mirror to learn of the new user", func() bool { return d.syncUsers() == usersBefore+1 })
	if out, err := d.jitd("audit", "list", "-o", "json"); err != nil || !strings.Contains(out, `"scim:okta"`) || !strings.Contains(out, "scim.user.created") {
		t.Fatalf("audit: %v\n%s", err, out)
	}
	out, err := d.jitd("grant", "add", "--user", "nina.okta", "--group", "prod-db-admins", "--for", "1h", "--reason", "INC-9", "-o", "json")
	var g struct{ ID, State string }
	json.Unmarshal([]byte(out), &g)
	if err != nil || g.State != "active" {
		t.Fatalf("granting the provisioned user: %v\n%s", err, out)
	}
	// Okta deactivates her: her grant ends now, not at the next sync interval (1h).
	if code, out := call(okta, "PATCH", "/Users/"+u["id"].(string), map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": false}}}}); code != 200 {
		t.Fatalf("deactivate: %d %v", code, out)
	}
	d.waitState(g.ID, "revoked", 15*time.Second)
	// SCIM cannot make anyone a break-glass user: the group the
	// configuration names cannot be created, in any case, with or without
	// members.
	for _, name := range []string{"oncall-sre", "OnCall-SRE"} {
		if code, out := call(okta, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": name, "members": []any{map[string]any{"value": u["id"]}}}); code != 403 {
			t.Fatalf("SCIM creating the break-glass group %s: %d %v", name, code, out)
		}
	}
	// prod-db-admins lives outside the provisioning OU: SCIM cannot see it.
	if code, out := call(okta, "GET", `/Groups?filter=displayName%20eq%20%22prod-db-admins%22`, nil); code != 200 || out["totalResults"] != 0.0 {
		t.Fatalf("SCIM sees the JIT-managed group: %d %v", code, out)
	}
}

// syncUsers reads how many users the mirror holds.
func (d *proc) syncUsers() int {
	d.t.Helper()
	out, err := d.jitd("sync", "status", "-o", "json")
	if err != nil {
		d.t.Fatalf("sync status: %v\n%s", err, out)
	}
	var v []struct{ Users int }
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) == 0 {
		d.t.Fatalf("sync status: %v\n%s", err, out)
	}
	return v[0].Users
}
