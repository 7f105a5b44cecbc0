package ldap_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/fixtures/slapd"
)

func openLDAPAccounts(t *testing.T) (ldap.Config, *ldap.Conn) {
	t.Helper()
	cfg := config(t)
	cfg.Accounts = &ldap.AccountsConfig{Base: slapd.ContractorBase}
	cfg.DisabledAttr = "pwdAccountLockedTime"
	if err := srv.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	return cfg, open(t, cfg)
}

// signIn binds as dn with password, as the contractor would.
func signIn(t *testing.T, dn, password string) error {
	t.Helper()
	cfg := config(t)
	cfg.BindDN = dn
	p := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(p, []byte(password), 0o600)
	cfg.BindPasswordFile = p
	return open(t, cfg).Check(context.Background())
}

func TestOpenLDAPAccounts_CreatedLockedUnlockedAndDeleted(t *testing.T) {
	_, c := openLDAPAccounts(t)
	ctx := context.Background()
	if !connectors.Has(c, connectors.CapAccounts) {
		t.Fatal("accounts are configured but not offered")
	}
	const pw = "Contractor-pw-1!"
	a, err := c.CreateAccount(ctx, connectors.AccountSpec{Login: "c-ann.lee", Email: "ann@vendor.example", GivenName: "Ann", Surname: "Lee",
		Until: time.Now().Add(24 * time.Hour), Activate: true, Password: pw})
	if err != nil || a.ID == "" || !a.PasswordSet {
		t.Fatalf("create: %+v %v", a, err)
	}
	dn := "uid=c-ann.lee," + slapd.ContractorBase
	u, err := c.LookupUser(ctx, "c-ann.lee")
	if err != nil || u.ID != a.ID || !u.Enabled || !strings.EqualFold(u.DN, dn) {
		t.Fatalf("lookup: %+v %v", u, err)
	}
	if err := signIn(t, dn, pw); err != nil {
		t.Fatalf("the contractor cannot sign in with the initial password: %v", err)
	}
	if err := signIn(t, dn, "guess"); err == nil {
		t.Fatal("a wrong password signs in")
	}
	if err := c.SetAccountEnabled(ctx, a.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := c.SetAccountEnabled(ctx, a.ID, false); err != nil {
		t.Fatalf("disabling twice: %v", err)
	}
	if u, _ := c.LookupUser(ctx, "c-ann.lee"); u.Enabled {
		t.Fatal("a locked account reads as enabled")
	}
	if err := signIn(t, dn, pw); err == nil {
		t.Fatal("a disabled account still signs in")
	}
	if err := c.SetAccountEnabled(ctx, a.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := signIn(t, dn, pw); err != nil {
		t.Fatalf("re-enabled account: %v", err)
	}
	if err := c.SetAccountExpiry(ctx, a.ID, time.Now().Add(48*time.Hour)); err != nil {
		t.Fatalf("expiry (none on OpenLDAP): %v", err)
	}
	if _, err := c.CreateAccount(ctx, connectors.AccountSpec{Login: "c-ann.lee", Activate: true}); !errors.Is(err, connectors.ErrInvalid) {
		t.Fatalf("the same login twice: %v", err)
	}
	// jitd leaves alone what it did not make.
	alice, _ := c.LookupUser(ctx, "alice")
	if err := c.SetAccountEnabled(ctx, alice.ID, false); !errors.Is(err, connectors.ErrPermission) {
		t.Fatalf("locking alice: %v", err)
	}
	if err := c.DeleteAccount(ctx, alice.ID); !errors.Is(err, connectors.ErrPermission) {
		t.Fatalf("deleting alice: %v", err)
	}
	if err := c.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if _, err := c.LookupUser(ctx, "c-ann.lee"); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	// A staged account is created locked.
	s, err := c.CreateAccount(ctx, connectors.AccountSpec{Login: "c-staged", Activate: false})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := c.LookupUser(ctx, "c-staged"); u.ID != s.ID || u.Enabled {
		t.Fatalf("staged account: %+v", u)
	}
}

func TestOpenLDAPAccounts_ConfigNamesHowToDisable(t *testing.T) {
	cfg := config(t)
	cfg.DisabledAttr, cfg.Provisioning = "", nil
	cfg.Accounts = &ldap.AccountsConfig{Base: slapd.ContractorBase, UPNSuffix: "x.example"}
	err := cfg.Validate()
	for _, want := range []string{"disabled_attr: required with accounts on OpenLDAP", "accounts.upn_suffix: only for flavor: ad"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v; want %q", err, want)
		}
	}
	cfg.DisabledAttr = "description"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "disabled_value: required") {
		t.Errorf("%v; want disabled_value required", err)
	}
}
