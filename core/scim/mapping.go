package scim

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/elimity-com/scim/schema"
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

// mappedKey marks, in what jitd keeps, the element of a multi-valued
// attribute whose value the directory holds: the element keeps its type,
// primary and display in jitd, its value in the directory. Clients cannot
// send it: only advertised sub-attributes pass validation.
const mappedKey = "jitd:directory"

// userCore are the attributes of a user that are neither mapped nor kept:
// the directory's own (userName, active), the write-only password, and
// those every resource has.
var userCore = []string{"id", "meta", "schemas", "userName", "active", "password", "externalId"}

// split divides a validated user resource into the directory's values
// (through the mapping; an empty list removes) and the attributes jitd
// keeps, which are everything else a client wrote.
func (m mapping) split(doc map[string]any) (map[string][]string, map[string]any) {
	dir := map[string][]string{}
	kept := deepCopy(doc)
	for _, k := range userCore {
		if key, _, ok := lookup(kept, k); ok {
			delete(kept, key)
		}
	}
	for _, f := range m.fields {
		a := m.attrs[f.key]
		if v := f.take(kept); v != "" {
			dir[a] = []string{v}
		} else if _, ok := dir[a]; !ok {
			dir[a] = []string{}
		}
	}
	prune(kept)
	return dir, kept
}

// join renders a user from the attributes jitd keeps and the directory's
// values: where the mapping places a value, the directory's wins.
func (m mapping) join(doc, kept map[string]any, attrs map[string][]string) {
	for k, v := range kept {
		if _, _, ok := lookup(doc, k); !ok {
			doc[k] = copyValue(v)
		}
	}
	for _, f := range m.fields {
		f.put(doc, firstValue(attrs, m.attrs[f.key]))
	}
	dropMarked(doc)
	prune(doc)
}

// placement says, for /Schemas, where the mapping keeps an attribute.
func (m mapping) placement(container string, a schema.CoreAttribute) string {
	var parts []string
	for _, f := range m.fields {
		if !strings.EqualFold(f.container, container) || !strings.EqualFold(f.attr, a.Name()) {
			continue
		}
		switch {
		case f.typ != "":
			parts = append(parts, fmt.Sprintf("the %s value in %s", f.typ, m.attrs[f.key]))
		case f.sub != "" && f.attr == "manager":
			parts = append(parts, fmt.Sprintf("the manager in %s", m.attrs[f.key]))
		case f.sub != "":
			parts = append(parts, fmt.Sprintf("%s in %s", f.sub, m.attrs[f.key]))
		default:
			parts = append(parts, "it in "+m.attrs[f.key])
		}
	}
	switch {
	case a.Mutability() == "readOnly" || a.Name() == "password" || a.Name() == "active" || a.Name() == "userName":
		return ""
	case len(parts) == 0:
		return "jitd keeps it."
	case len(parts) == 1 && strings.HasPrefix(parts[0], "it in "):
		return "The directory holds " + parts[0] + "."
	}
	return "The directory holds " + strings.Join(parts, ", ") + "; jitd keeps the rest."
}

// take removes the field's value from a resource and returns it; the
// element of a multi-valued attribute stays behind, marked, without it.
func (f field) take(doc map[string]any) string {
	h := f.holder(doc, false)
	if h == nil {
		return ""
	}
	key, v, ok := lookup(h, f.attr)
	if !ok {
		return ""
	}
	switch {
	case f.typ != "":
		el := pickTyped(v, f.typ)
		if el == nil {
			return ""
		}
		vk, val, _ := lookup(el, "value")
		s, _ := val.(string)
		if s == "" {
			return ""
		}
		delete(el, vk)
		el[mappedKey] = f.key
		return s
	case f.sub != "":
		sub, _ := v.(map[string]any)
		sk, val, _ := lookup(sub, f.sub)
		s, _ := val.(string)
		delete(sub, sk)
		if f.attr == "manager" { // computed from the value
			for _, k := range []string{"$ref", "displayName"} {
				if rk, _, ok := lookup(sub, k); ok {
					delete(sub, rk)
				}
			}
		}
		if len(sub) == 0 {
			delete(h, key)
		}
		return s
	default:
		s, _ := v.(string)
		delete(h, key)
		return s
	}
}

// put writes the directory's value of the field into a resource, or takes
// the field's value out when the directory has none.
func (f field) put(doc map[string]any, value string) {
	h := f.holder(doc, value != "")
	if h == nil {
		return
	}
	key, v, _ := lookup(h, f.attr)
	if key == "" {
		key = f.attr
	}
	switch {
	case f.typ != "":
		list, _ := v.([]any)
		if value == "" {
			return // its marked element, if any, is dropped afterwards
		}
		for _, e := range list {
			if el, _ := e.(map[string]any); el != nil && el[mappedKey] == f.key {
				delete(el, mappedKey)
				el["value"] = value
				return
			}
		}
		el := map[string]any{"value": value, "type": f.typ}
		if f.typ == "work" && !slices.ContainsFunc(list, func(e any) bool { m, _ := e.(map[string]any); return m["primary"] == true }) {
			el["primary"] = true
		}
		h[key] = append(list, el)
	case f.sub != "":
		sub, _ := v.(map[string]any)
		if sub == nil {
			sub = map[string]any{}
		}
		setSub(sub, f.sub, value, value == "")
		h[key] = sub
	case value == "":
		delete(h, key)
	default:
		h[key] = value
	}
}

// setSub sets (or removes) a sub-attribute of a complex value, keeping
// the case the value already has it in.
func setSub(sub map[string]any, name string, value any, remove bool) {
	k, _, _ := lookup(sub, name)
	if k == "" {
		k = name
	}
	if remove {
		delete(sub, k)
	} else {
		sub[k] = value
	}
}

// dropMarked removes the elements whose value the directory held but no
// longer holds (or that a mapping no longer places there).
func dropMarked(doc map[string]any) {
	for k, v := range doc {
		switch v := v.(type) {
		case []any:
			doc[k] = slices.DeleteFunc(v, func(e any) bool { m, _ := e.(map[string]any); _, marked := m[mappedKey]; return marked })
		case map[string]any:
			if strings.HasPrefix(strings.ToLower(k), "urn:") {
				dropMarked(v)
			}
		}
	}
}

// prune removes empty objects and lists, which assert nothing.
func prune(doc map[string]any) {
	for k, v := range doc {
		if m, ok := v.(map[string]any); ok {
			prune(m)
		}
		if empty(v) {
			delete(doc, k)
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

// pickTyped returns the element of a multi-valued attribute with the
// given type. For "work", an untyped element stands in when it is the
// primary one or the only one: clients often send emails without a type.
// An element of another type never does.
func pickTyped(v any, typ string) map[string]any {
	list, _ := v.([]any)
	var primary, untyped map[string]any
	for _, e := range list {
		el, _ := e.(map[string]any)
		if el == nil {
			continue
		}
		_, t, _ := lookup(el, "type")
		ts, _ := t.(string)
		if strings.EqualFold(ts, typ) {
			return el
		}
		if ts != "" {
			continue
		}
		if _, p, _ := lookup(el, "primary"); p == true && primary == nil {
			primary = el
		}
		if untyped == nil {
			untyped = el
		}
	}
	switch {
	case typ != "work":
		return nil
	case primary != nil:
		return primary
	case len(list) == 1:
		return untyped
	}
	return nil
}
