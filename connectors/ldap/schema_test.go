package ldap_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/fixtures/slapd"
)

// The schema check reads the directory's subschema: a configuration that
// writes what the schema defines passes; each attribute it lacks is one
// problem naming the setting, through the plugin protocol too.
func TestCheckSchema_OpenLDAP(t *testing.T) {
	cfg := config(t)
	cfg.Accounts = &ldap.AccountsConfig{Base: slapd.ContractorBase}
	ctx := context.Background()
	for name, c := range map[string]connectors.Connector{"in process": open(t, cfg), "plugin": throughPlugin(t, "corp", cfg, clock.Real{})} {
		sc, ok := connectors.AsSchemaChecker(c)
		if !ok {
			t.Fatalf("%s: no schema capability", name)
		}
		problems, err := sc.CheckSchema(ctx, map[string]string{"scim.user_attributes.emails.work": "mail", "scim.user_attributes.title": "jobTitleX"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Not among provisioning.user_attrs, and not in the schema.
		if len(problems) != 2 || !strings.Contains(problems[0], "provisioning.user_attrs") || !strings.Contains(problems[1], "schema does not define jobTitleX") {
			t.Errorf("%s: problems = %q; want two, for scim.user_attributes.title", name, problems)
		}
		for _, p := range problems {
			if !strings.HasPrefix(p, "scim.user_attributes.title: ") {
				t.Errorf("%s: problem %q does not name the setting", name, p)
			}
		}
	}
}

// Without the ppolicy overlay, pwdAccountLockedTime is undefined: the check
// says which setting writes it and which overlay to load.
func TestCheckSchema_NoPPolicy(t *testing.T) {
	slapd.Need(t, srv, startErr)
	bare, err := slapd.Start(slapd.Options{NoPPolicy: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bare.Stop)
	c := open(t, ldap.Config{URL: bare.LDAPSURL, CAFile: bare.CAFile, BindDN: slapd.ServiceDN, BindPasswordFile: filepath.Join(bare.PasswordDir, "service"),
		UserBase: slapd.PeopleBase, GroupBase: slapd.GroupBase, EmptyMember: slapd.EmptyMember, DisabledAttr: "pwdAccountLockedTime"})
	problems, err := c.CheckSchema(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.HasPrefix(problems[0], "disabled_attr: ") || !strings.Contains(problems[0], "ppolicy") {
		t.Fatalf("problems = %q; want disabled_attr and the ppolicy overlay", problems)
	}
}

// On AD, the SCIM mapping is checked against the AD schema.
func TestCheckSchema_AD(t *testing.T) {
	c := open(t, adConfig(t))
	problems, err := c.CheckSchema(context.Background(), map[string]string{"scim.user_attributes.name.middleName": "middleName", "scim.user_attributes.enterprise.organization": "company", "x": "noSuchAttributeX"})
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 2 || !strings.HasPrefix(problems[0], "x: ") || !strings.HasPrefix(problems[1], "x: ") {
		t.Fatalf("problems = %q", problems)
	}
}
