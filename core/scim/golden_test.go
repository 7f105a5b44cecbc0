package scim_test

import (
	"context"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"

	"github.com/jitd/jitd/core/scim"
	"github.com/jitd/jitd/fixtures/scimgolden"
)

// goldenVars are the names the sequences use.
func goldenVars() map[string]string {
	return map[string]string{
		"login": "golden.user@jitd.test", "login2": "golden.renamed@jitd.test",
		"email": "golden.user@mail.jitd.test", "email2": "golden.updated@mail.jitd.test",
		"group": "Golden Team", "group2": "Golden Team Renamed",
		"password": "Okta-Sync3d-Pw!1", "password2": "Okta-Sync3d-Pw!2",
		"missingId": "0b8f3c2a-5d4e-4f6a-9b7c-1d2e3f4a5b6c",
	}
}

// Okta's and Entra's request sequences, replayed against real slapd and a
// real Samba AD DC; then the directory holds what they asked for.
func TestGolden_OktaAndEntraSequences(t *testing.T) {
	for _, dir := range []struct {
		name string
		env  func(*testing.T, scim.Config) *env
		bind func(t *testing.T, dn, password string) error
	}{{"openldap", newEnv, bindSlapd}, {"ad", newADEnv, bindSamba}} {
		for _, client := range []string{"okta", "entra"} {
			t.Run(dir.name+"/"+client, func(t *testing.T) {
				e := dir.env(t, scim.Config{})
				seq, err := scimgolden.Load(client)
				if err != nil {
					t.Fatal(err)
				}
				scimgolden.Replay(t, seq, e.url, "token-of-"+client, goldenVars())
				ctx := context.Background()
				switch client {
				case "okta": // Okta never deletes: the user is there, deactivated
					u, err := e.conn.LookupUser(ctx, "golden.user@jitd.test")
					if err != nil || u.Enabled {
						t.Fatalf("after Okta's sequence the user is %+v, %v; want it present and disabled", u, err)
					}
					if dir.bind(t, u.DN, "Okta-Sync3d-Pw!2") == nil {
						t.Fatal("a deactivated user can still sign in")
					}
					on := true
					if err := e.conn.ModifyEntry(ctx, connectors.UserEntry, u.ID, connectors.EntryChange{Enabled: &on}); err != nil {
						t.Fatal(err)
					}
					if err := dir.bind(t, u.DN, "Okta-Sync3d-Pw!2"); err != nil {
						t.Fatalf("the password Okta synced does not work: %v", err)
					}
					if dir.bind(t, u.DN, "Okta-Sync3d-Pw!1") == nil {
						t.Fatal("the first password still works after the sync")
					}
				case "entra":
					if u, err := e.conn.LookupUser(ctx, "golden.renamed@jitd.test"); err == nil {
						t.Fatalf("after Entra's sequence the user still exists: %+v", u)
					}
				}
				if _, err := e.conn.LookupGroup(ctx, "Golden Team Renamed"); err == nil {
					t.Fatal("the group outlived its DELETE")
				}
				if got := e.audit(scim.UserCreated); len(got) != 1 {
					t.Fatalf("user creations audited: %q", got)
				}
			})
		}
	}
}

func bindSlapd(t *testing.T, dn, password string) error {
	t.Helper()
	c, err := goldap.DialURL(srv.LDAPSURL, goldap.DialWithTLSConfig(srv.TLSConfig()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Bind(dn, password)
}

func bindSamba(t *testing.T, dn, password string) error {
	t.Helper()
	c, err := goldap.DialURL(dc.LDAPSURL, goldap.DialWithTLSConfig(dc.TLSConfig()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Bind(dn, password)
}
