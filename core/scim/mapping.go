package scim

import (
	"maps"
	"slices"
	"strings"
)

// Schema URNs.
const (
	UserSchema       = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupSchema      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	listSchema       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	patchSchema      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	searchSchema     = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
)

// A field is one SCIM user value jitd keeps in a directory attribute: where
// it sits in a resource, and the key that maps it in the configuration.
type field struct {
	key string
	// container is "" for the core schema or EnterpriseSchema; attr is the
	// attribute there; sub a sub-attribute of a complex one; typ picks the
	// element of a multi-valued one (emails, phoneNumbers) by its type.
	container, attr, sub, typ string
}

var userFields = []field{
	{key: "name.givenName", attr: "name", sub: "givenName"},
	{key: "name.familyName", attr: "name", sub: "familyName"},
	{key: "name.formatted", attr: "name", sub: "formatted"},
	{key: "name.middleName", attr: "name", sub: "middleName"},
	{key: "displayName", attr: "displayName"},
	{key: "nickName", attr: "nickName"},
	{key: "title", attr: "title"},
	{key: "preferredLanguage", attr: "preferredLanguage"},
	{key: "userType", attr: "userType"},
	{key: "emails.work", attr: "emails", typ: "work"},
	{key: "phoneNumbers.work", attr: "phoneNumbers", typ: "work"},
	{key: "phoneNumbers.mobile", attr: "phoneNumbers", typ: "mobile"},
	{key: "enterprise.employeeNumber", container: EnterpriseSchema, attr: "employeeNumber"},
	{key: "enterprise.department", container: EnterpriseSchema, attr: "department"},
	{key: "enterprise.organization", container: EnterpriseSchema, attr: "organization"},
	{key: "enterprise.division", container: EnterpriseSchema, attr: "division"},
	{key: "enterprise.costCenter", container: EnterpriseSchema, attr: "costCenter"},
	// The manager's SCIM id; the directory holds a reference (a DN) that
	// its connector translates.
	{key: "enterprise.manager", container: EnterpriseSchema, attr: "manager", sub: "value"},
}

// UserAttributeKeys lists the keys of scim.user_attributes.
func UserAttributeKeys() []string {
	keys := make([]string, len(userFields))
	for i, f := range userFields {
		keys[i] = f.key
	}
	return keys
}

// defaultMapping is the mapping for a directory flavour ("ad", or anything
// else for OpenLDAP's inetOrgPerson). The login (userName) and the enabled
// flag (active) are the directory's own and are not mapped here.
func defaultMapping(flavor string) map[string]string {
	m := map[string]string{
		"name.givenName": "givenName", "name.familyName": "sn", "displayName": "displayName",
		"title": "title", "preferredLanguage": "preferredLanguage", "emails.work": "mail",
		"phoneNumbers.work": "telephoneNumber", "phoneNumbers.mobile": "mobile",
		"enterprise.employeeNumber": "employeeNumber", "enterprise.manager": "manager",
	}
	if flavor == "ad" {
		m["enterprise.department"] = "department"
		m["enterprise.organization"] = "company"
		m["enterprise.employeeNumber"] = "employeeNumber"
		m["name.middleName"] = "middleName"
	} else {
		m["enterprise.department"] = "departmentNumber"
		m["enterprise.organization"] = "o"
	}
	return m
}

// mapping is the effective user mapping: field → directory attribute.
type mapping struct {
	fields []field
	attrs  map[string]string // key → attribute
}

func newMapping(flavor string, overrides map[string]string) mapping {
	attrs := defaultMapping(flavor)
	maps.Copy(attrs, overrides)
	m := mapping{attrs: map[string]string{}}
	for _, f := range userFields {
		if a := attrs[f.key]; a != "" {
			m.fields = append(m.fields, f)
			m.attrs[f.key] = a
		}
	}
	return m
}

// directoryAttrs lists the directory attributes the mapping reads.
func (m mapping) directoryAttrs() []string {
	out := make([]string, 0, len(m.fields))
	for _, f := range m.fields {
		out = append(out, m.attrs[f.key])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// attrFor returns the directory attribute holding the SCIM attribute at
// container/attr(.sub), for filters that can be answered by the directory;
// multi-valued attributes qualify only when one type is mapped.
func (m mapping) attrFor(container, attr, sub string) (string, bool) {
	var found []field
	for _, f := range m.fields {
		if strings.EqualFold(f.container, container) && strings.EqualFold(f.attr, attr) {
			switch {
			case f.typ != "" && (sub == "" || strings.EqualFold(sub, "value")):
				found = append(found, f)
			case f.typ == "" && strings.EqualFold(f.sub, sub):
				found = append(found, f)
			}
		}
	}
	if len(found) != 1 || found[0].key == "enterprise.manager" { // ids here, references there
		return "", false
	}
	return m.attrs[found[0].key], true
}

// toDirectory reads every mapped value out of a resource: a one-value list
// where the resource has it, an empty list (remove) where it has not.
func (m mapping) toDirectory(doc map[string]any) map[string][]string {
	out := map[string][]string{}
	for _, f := range m.fields {
		a := m.attrs[f.key]
		if v := f.get(doc); v != "" {
			out[a] = []string{v}
		} else if _, ok := out[a]; !ok {
			out[a] = []string{}
		}
	}
	return out
}

// fromDirectory writes the mapped directory values into a resource.
func (m mapping) fromDirectory(doc map[string]any, attrs map[string][]string) {
	for _, f := range m.fields {
		if v := firstValue(attrs, m.attrs[f.key]); v != "" {
			f.set(doc, v)
		}
	}
}

func firstValue(attrs map[string][]string, name string) string {
	for a, v := range attrs {
		if strings.EqualFold(a, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// lookup finds a key in a JSON object regardless of case.
func lookup(obj map[string]any, key string) (string, any, bool) {
	if v, ok := obj[key]; ok {
		return key, v, true
	}
	for k, v := range obj {
		if strings.EqualFold(k, key) {
			return k, v, true
		}
	}
	return "", nil, false
}

func (f field) holder(doc map[string]any, create bool) map[string]any {
	if f.container == "" {
		return doc
	}
	_, v, ok := lookup(doc, f.container)
	if m, isMap := v.(map[string]any); ok && isMap {
		return m
	}
	if !create {
		return nil
	}
	m := map[string]any{}
	doc[f.container] = m
	return m
}

func (f field) get(doc map[string]any) string {
	h := f.holder(doc, false)
	if h == nil {
		return ""
	}
	_, v, ok := lookup(h, f.attr)
	if !ok {
		return ""
	}
	if f.typ != "" {
		return pickTyped(v, f.typ)
	}
	if s, ok := v.(string); ok && f.sub != "" {
		return s // Entra sends the manager as a bare id
	}
	if f.sub != "" {
		sub, _ := v.(map[string]any)
		_, v, _ = lookup(sub, f.sub)
	}
	s, _ := v.(string)
	return s
}

// pickTyped returns the value of the element of a multi-valued attribute
// with the given type; for "work", an untyped primary or only element
// stands in (clients often send emails without a type).
func pickTyped(v any, typ string) string {
	list, _ := v.([]any)
	var primary, untyped string
	for _, e := range list {
		el, _ := e.(map[string]any)
		_, val, _ := lookup(el, "value")
		s, _ := val.(string)
		_, t, _ := lookup(el, "type")
		ts, _ := t.(string)
		if strings.EqualFold(ts, typ) {
			return s
		}
		_, p, _ := lookup(el, "primary")
		if p == true && primary == "" {
			primary = s
		}
		if ts == "" && untyped == "" {
			untyped = s
		}
	}
	if typ != "work" {
		return ""
	}
	if primary != "" {
		return primary
	}
	if len(list) == 1 {
		return untyped
	}
	return ""
}

func (f field) set(doc map[string]any, value string) {
	h := f.holder(doc, true)
	switch {
	case f.typ != "":
		k, v, _ := lookup(h, f.attr)
		if k == "" {
			k = f.attr
		}
		list, _ := v.([]any)
		el := map[string]any{"value": value, "type": f.typ}
		if f.typ == "work" {
			el["primary"] = true
		}
		h[k] = append(list, el)
	case f.sub != "":
		k, v, _ := lookup(h, f.attr)
		if k == "" {
			k = f.attr
		}
		sub, _ := v.(map[string]any)
		if sub == nil {
			sub = map[string]any{}
		}
		sub[f.sub] = value
		h[k] = sub
	default:
		h[f.attr] = value
	}
}
