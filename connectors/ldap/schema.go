package ldap

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
)

var _ connectors.SchemaChecker = (*Conn)(nil)

// overlays says what defines an attribute that a stock OpenLDAP schema
// lacks, for the problem's advice.
var overlays = map[string]string{
	"pwdaccountlockedtime": "it comes with the ppolicy overlay: load it (olcModuleLoad: ppolicy, then an olcOverlay=ppolicy entry on the database)",
	"memberof":             "it comes with the memberof overlay: load it (olcModuleLoad: memberof, then an olcOverlay=memberof entry on the database)",
	"employeetype":         "it comes with the inetorgperson schema: include inetorgperson.ldif",
	"departmentnumber":     "it comes with the inetorgperson schema: include inetorgperson.ldif",
	"employeenumber":       "it comes with the inetorgperson schema: include inetorgperson.ldif",
	"preferredlanguage":    "it comes with the inetorgperson schema: include inetorgperson.ldif",
}

// CheckSchema reads the directory's subschema (RFC 4512 §4.2) and reports
// each attribute jitd will write that it does not define: the disabled
// marker, the accounts marker, the attributes provisioning may write, and
// writes. Writes go through provisioning, so each must also be among
// provisioning.user_attrs.
func (c *Conn) CheckSchema(ctx context.Context, writes map[string]string) ([]string, error) {
	defined, err := c.attributeTypes(ctx)
	if err != nil {
		return nil, err
	}
	want := map[string]string{}
	for setting, attr := range writes {
		want[setting] = attr
	}
	maps.Copy(want, c.flavor.schemaWrites())
	if c.cfg.Accounts != nil {
		want["accounts.marker_attr"] = c.cfg.Accounts.MarkerAttr
	}
	if p := c.cfg.Provisioning; p != nil {
		for _, a := range p.UserAttrs {
			want["provisioning.user_attrs ("+a+")"] = a
		}
		for _, a := range p.GroupAttrs {
			want["provisioning.group_attrs ("+a+")"] = a
		}
	}
	var problems []string
	if p := c.cfg.Provisioning; p != nil {
		for _, setting := range slices.Sorted(maps.Keys(writes)) {
			a := writes[setting]
			if a != "" && !containsFold(p.UserAttrs, a) {
				problems = append(problems, fmt.Sprintf("%s: %s is not among provisioning.user_attrs, so the connector would refuse to write it; add it there or name another attribute", setting, a))
			}
		}
	}
	for _, setting := range slices.Sorted(maps.Keys(want)) {
		attr := want[setting]
		if attr == "" || defined[strings.ToLower(attr)] {
			continue
		}
		p := fmt.Sprintf("%s: the directory's schema does not define %s, which jitd would write; name an attribute it defines", setting, attr)
		if advice, ok := c.flavor.schemaAdvice(attr); ok {
			p += ", or make the directory define it: " + advice
		}
		problems = append(problems, p)
	}
	return problems, nil
}

// typeNames reads the names of an attribute type description:
// NAME 'cn' or NAME ( 'cn' 'commonName' ).
var typeNames = regexp.MustCompile(`NAME\s+(?:'([^']+)'|\(([^)]*)\))`)

// attributeTypes returns the lower-cased names of every attribute type
// the directory's subschema defines.
func (c *Conn) attributeTypes(ctx context.Context) (map[string]bool, error) {
	read := func(base, filter, attr string) ([]*goldap.Entry, error) {
		var entries []*goldap.Entry
		err := c.with(ctx, func(l *goldap.Conn) error {
			res, err := l.Search(goldap.NewSearchRequest(base, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false, filter, []string{attr}, nil))
			if err != nil {
				return mapErr("read "+attr+" of "+base, err)
			}
			entries = res.Entries
			return nil
		})
		return entries, err
	}
	root, err := read("", "(objectClass=*)", "subschemaSubentry")
	if err != nil {
		return nil, err
	}
	sub := ""
	if len(root) == 1 {
		sub = root[0].GetAttributeValue("subschemaSubentry")
	}
	if sub == "" {
		return nil, fmt.Errorf("ldap: the root DSE names no subschemaSubentry: %w", connectors.ErrInvalid)
	}
	entries, err := read(sub, "(objectClass=subschema)", "attributeTypes")
	if err != nil {
		return nil, err
	}
	defined := map[string]bool{}
	for _, e := range entries {
		for _, desc := range e.GetAttributeValues("attributeTypes") {
			m := typeNames.FindStringSubmatch(desc)
			if m == nil {
				continue
			}
			for _, n := range strings.Fields(strings.ReplaceAll(m[1]+" "+m[2], "'", " ")) {
				defined[strings.ToLower(n)] = true
			}
		}
	}
	if len(defined) == 0 {
		return nil, fmt.Errorf("ldap: the subschema %s lists no attribute types (may the service account read it?): %w", sub, connectors.ErrPermission)
	}
	return defined, nil
}
