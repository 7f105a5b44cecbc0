package ldap_test

import (
	"strings"
	"testing"

	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/fixtures/slapd"
)

func TestProvisioningConfig_NamesEveryProblem(t *testing.T) {
	cfg := config(t)
	cfg.DisabledAttr = ""
	cfg.Provisioning = &ldap.ProvisioningConfig{
		UserBase: "ou=elsewhere,dc=example,dc=org", GroupBase: "",
		UserAttrs: []string{"mail", "userPassword", "memberOf", "uid", "x y"}, GroupAttrs: []string{"member"},
		UPNSuffix: "corp.example",
	}
	err := cfg.Validate()
	for _, want := range []string{
		`provisioning.user_base: "ou=elsewhere,dc=example,dc=org" is not within user_base`,
		"provisioning.group_base: required",
		"provisioning.user_attrs[1]: userPassword decides identity or security",
		"provisioning.user_attrs[2]: memberOf decides",
		"provisioning.user_attrs[3]: uid decides",
		`provisioning.user_attrs[4]: must be an LDAP attribute name (got "x y")`,
		"provisioning.group_attrs[0]: member decides",
		"provisioning.user_base: provisioning on OpenLDAP needs disabled_attr",
		"provisioning.upn_suffix: only for flavor: ad",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nwant %q", err, want)
		}
	}
	cfg = config(t)
	cfg.Provisioning = &ldap.ProvisioningConfig{UserBase: slapd.ProvisionedPeople, GroupBase: slapd.ProvisionedGroups}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a sound provisioning block: %v", err)
	}
}
