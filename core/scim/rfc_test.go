package scim_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/scim"
)

// What a strict SCIM client checks: the discovery documents fit RFC 7643's
// definitions, and whatever /Schemas advertises, a write keeps and a read
// returns. The attributes under test are generated from the served
// /Schemas, so an attribute advertised but not kept fails here.

// envs are the directories a test runs against.
var envs = []struct {
	name string
	new  func(*testing.T, scim.Config) *env
}{{"demo", newDemoEnv}, {"openldap", newEnv}, {"ad", newADEnv}}

var (
	attrName   = regexp.MustCompile(`^[A-Za-z$][A-Za-z0-9_$-]*$`)
	types      = []string{"string", "boolean", "decimal", "integer", "dateTime", "binary", "reference", "complex"}
	mutability = []string{"readOnly", "readWrite", "immutable", "writeOnly"}
	returned   = []string{"always", "never", "default", "request"}
	uniqueness = []string{"none", "server", "global"}
)

// absoluteURL fails unless v is an absolute http(s) URL.
func absoluteURL(t *testing.T, where string, v any) {
	t.Helper()
	s, ok := v.(string)
	u, err := url.Parse(s)
	if !ok || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		t.Errorf("%s = %#v; want an absolute URL", where, v)
	}
}

// noEmptyStrings fails on any "" in a discovery document: RFC 7643 has no
// attribute of those documents where an empty string means anything.
func noEmptyStrings(t *testing.T, where string, v any) {
	t.Helper()
	switch v := v.(type) {
	case string:
		if v == "" {
			t.Errorf("%s is an empty string", where)
		}
	case map[string]any:
		for k, x := range v {
			noEmptyStrings(t, where+"."+k, x)
		}
	case []any:
		for i, x := range v {
			noEmptyStrings(t, fmt.Sprintf("%s[%d]", where, i), x)
		}
	}
}

func keysOnly(t *testing.T, where string, m map[string]any, allowed ...string) {
	t.Helper()
	for k := range m {
		if !slices.Contains(allowed, k) {
			t.Errorf("%s has %q, which RFC 7643 does not define there", where, k)
		}
	}
}

func isBool(v any) bool { _, ok := v.(bool); return ok }

// checkAttributeDef checks one attribute definition against RFC 7643 §7.
func checkAttributeDef(t *testing.T, where string, a map[string]any, sub bool, resourceTypes []string) {
	t.Helper()
	keysOnly(t, where, a, "name", "type", "subAttributes", "multiValued", "description", "required", "canonicalValues", "caseExact", "mutability", "returned", "uniqueness", "referenceTypes")
	name := str(a["name"])
	if !attrName.MatchString(name) {
		t.Errorf("%s: name %q", where, name)
	}
	where += "." + name
	typ := str(a["type"])
	if !slices.Contains(types, typ) {
		t.Errorf("%s: type %q", where, typ)
	}
	for _, k := range []string{"multiValued", "required", "caseExact"} {
		if !isBool(a[k]) {
			t.Errorf("%s: %s = %#v; want a boolean", where, k, a[k])
		}
	}
	if _, ok := a["description"].(string); !ok {
		t.Errorf("%s: description = %#v", where, a["description"])
	}
	for k, allowed := range map[string][]string{"mutability": mutability, "returned": returned, "uniqueness": uniqueness} {
		if !slices.Contains(allowed, str(a[k])) {
			t.Errorf("%s: %s = %#v; want one of %v", where, k, a[k], allowed)
		}
	}
	if cv, ok := a["canonicalValues"]; ok {
		list, _ := cv.([]any)
		for _, v := range list {
			if _, ok := v.(string); !ok {
				t.Errorf("%s: canonical value %#v", where, v)
			}
		}
	}
	refs, hasRefs := a["referenceTypes"].([]any)
	switch {
	case typ == "reference" && (!hasRefs || len(refs) == 0):
		t.Errorf("%s: a reference without referenceTypes", where)
	case typ != "reference" && a["referenceTypes"] != nil:
		t.Errorf("%s: referenceTypes on a %s", where, typ)
	}
	for _, r := range refs {
		if !slices.Contains(append([]string{"external", "uri"}, resourceTypes...), str(r)) {
			t.Errorf("%s: reference type %#v is neither a resource type served nor external/uri", where, r)
		}
	}
	subs, hasSubs := a["subAttributes"].([]any)
	switch {
	case typ == "complex" && (sub || !hasSubs || len(subs) == 0):
		t.Errorf("%s: a complex attribute must have sub-attributes and may not be one", where)
	case typ != "complex" && a["subAttributes"] != nil:
		t.Errorf("%s: sub-attributes on a %s", where, typ)
	}
	for _, s := range subs {
		m, _ := s.(map[string]any)
		checkAttributeDef(t, where, m, true, resourceTypes)
	}
}

// discovered is what a client learns from the discovery endpoints.
type discovered struct {
	resourceTypes []string
	// attrs are the attribute definitions by schema id.
	attrs map[string][]map[string]any
}

func (d discovered) def(schemaID, name string) map[string]any {
	for _, a := range d.attrs[schemaID] {
		if strings.EqualFold(str(a["name"]), name) {
			return a
		}
	}
	return nil
}

func subDef(a map[string]any, name string) map[string]any {
	subs, _ := a["subAttributes"].([]any)
	for _, s := range subs {
		if m, _ := s.(map[string]any); strings.EqualFold(str(m["name"]), name) {
			return m
		}
	}
	return nil
}

// discover reads and checks every discovery document.
func discover(t *testing.T, e *env, docURL string) discovered {
	t.Helper()
	meta := func(where string, doc map[string]any, resourceType, location string) {
		t.Helper()
		m, _ := doc["meta"].(map[string]any)
		if str(m["resourceType"]) != resourceType || str(m["location"]) != location {
			t.Errorf("%s: meta = %v; want resourceType %s at %s", where, m, resourceType, location)
		}
	}
	spc := e.must(200, e.do("GET", "/ServiceProviderConfig", nil)).body
	noEmptyStrings(t, "ServiceProviderConfig", spc)
	keysOnly(t, "ServiceProviderConfig", spc, "schemas", "documentationUri", "patch", "bulk", "filter", "changePassword", "sort", "etag", "authenticationSchemes", "meta")
	if !reflect.DeepEqual(spc["schemas"], []any{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"}) {
		t.Errorf("ServiceProviderConfig schemas = %v", spc["schemas"])
	}
	if docURL == "" && spc["documentationUri"] != nil {
		t.Errorf("documentationUri = %#v without a documentation URL configured", spc["documentationUri"])
	} else if docURL != "" && spc["documentationUri"] != docURL {
		t.Errorf("documentationUri = %#v; want %s", spc["documentationUri"], docURL)
	}
	for feature, keys := range map[string][]string{"patch": {"supported"}, "bulk": {"supported", "maxOperations", "maxPayloadSize"}, "filter": {"supported", "maxResults"},
		"changePassword": {"supported"}, "sort": {"supported"}, "etag": {"supported"}} {
		m, ok := spc[feature].(map[string]any)
		if !ok {
			t.Errorf("ServiceProviderConfig.%s missing", feature)
			continue
		}
		keysOnly(t, "ServiceProviderConfig."+feature, m, keys...)
		if !isBool(m["supported"]) {
			t.Errorf("ServiceProviderConfig.%s.supported = %#v", feature, m["supported"])
		}
		for _, k := range keys[1:] {
			if n, ok := m[k].(float64); !ok || n != float64(int(n)) || n < 0 {
				t.Errorf("ServiceProviderConfig.%s.%s = %#v; want an integer", feature, k, m[k])
			}
		}
	}
	schemes, _ := spc["authenticationSchemes"].([]any)
	if len(schemes) == 0 {
		t.Error("no authenticationSchemes")
	}
	for i, s := range schemes {
		m, _ := s.(map[string]any)
		where := fmt.Sprintf("authenticationSchemes[%d]", i)
		keysOnly(t, where, m, "type", "name", "description", "specUri", "documentationUri", "primary")
		if !slices.Contains([]string{"oauth", "oauth2", "oauthbearertoken", "httpbasic", "httpdigest"}, str(m["type"])) || str(m["name"]) == "" || str(m["description"]) == "" {
			t.Errorf("%s = %v", where, m)
		}
		for _, k := range []string{"specUri", "documentationUri"} {
			if v, ok := m[k]; ok {
				absoluteURL(t, where+"."+k, v)
			}
		}
	}
	meta("ServiceProviderConfig", spc, "ServiceProviderConfig", e.url+"/ServiceProviderConfig")

	d := discovered{attrs: map[string][]map[string]any{}}
	schemaList := e.must(200, e.do("GET", "/Schemas", nil)).body
	schemaDocs, _ := schemaList["Resources"].([]any)
	rtList := e.must(200, e.do("GET", "/ResourceTypes", nil)).body
	rtDocs, _ := rtList["Resources"].([]any)
	for _, r := range rtDocs {
		m, _ := r.(map[string]any)
		d.resourceTypes = append(d.resourceTypes, str(m["name"]))
	}
	for _, s := range schemaDocs {
		doc, _ := s.(map[string]any)
		id := str(doc["id"])
		where := "schema " + id
		noEmptyStrings(t, where, doc)
		keysOnly(t, where, doc, "schemas", "id", "name", "description", "attributes", "meta")
		if !strings.HasPrefix(id, "urn:") || !reflect.DeepEqual(doc["schemas"], []any{"urn:ietf:params:scim:schemas:core:2.0:Schema"}) {
			t.Errorf("%s: id or schemas %v", where, doc["schemas"])
		}
		meta(where, doc, "Schema", e.url+"/Schemas/"+url.PathEscape(id))
		attrs, _ := doc["attributes"].([]any)
		for _, a := range attrs {
			m, _ := a.(map[string]any)
			checkAttributeDef(t, where, m, false, d.resourceTypes)
			d.attrs[id] = append(d.attrs[id], m)
		}
		if one := e.must(200, e.do("GET", "/Schemas/"+id, nil)); !reflect.DeepEqual(one.body, doc) {
			t.Errorf("GET /Schemas/%s differs from its listing", id)
		}
	}
	for _, r := range rtDocs {
		doc, _ := r.(map[string]any)
		where := "resource type " + str(doc["id"])
		noEmptyStrings(t, where, doc)
		keysOnly(t, where, doc, "schemas", "id", "name", "description", "endpoint", "schema", "schemaExtensions", "meta")
		if !strings.HasPrefix(str(doc["endpoint"]), "/") || d.attrs[str(doc["schema"])] == nil {
			t.Errorf("%s: endpoint %v, schema %v (served: %d schemas)", where, doc["endpoint"], doc["schema"], len(d.attrs))
		}
		exts, _ := doc["schemaExtensions"].([]any)
		for _, x := range exts {
			m, _ := x.(map[string]any)
			if d.attrs[str(m["schema"])] == nil || !isBool(m["required"]) {
				t.Errorf("%s: extension %v", where, m)
			}
		}
		meta(where, doc, "ResourceType", e.url+"/ResourceTypes/"+str(doc["id"]))
	}
	if len(d.attrs) != 3 || len(d.resourceTypes) != 2 {
		t.Fatalf("served %d schemas and resource types %v", len(d.attrs), d.resourceTypes)
	}
	return d
}

func TestDiscovery_DocumentsFitRFC7643(t *testing.T) {
	for _, c := range envs {
		t.Run(c.name, func(t *testing.T) {
			e := c.new(t, scim.Config{})
			docURL := ""
			if c.name != "demo" {
				docURL = "https://jitd.example/docs/scim"
			}
			d := discover(t, e, docURL)
			if d.def(scim.UserSchema, "groups") != nil {
				t.Error("/Schemas advertises groups, which jitd does not return")
			}
			members := d.def(scim.GroupSchema, "members")
			for _, sub := range []string{"value", "$ref", "type", "display"} {
				if subDef(members, sub) == nil {
					t.Errorf("members has no %s", sub)
				}
			}
			e.must(403, e.do("GET", "/Schemas?filter="+url.QueryEscape(`id eq "x"`), nil))
			e.must(404, e.do("GET", "/Schemas/urn:nothing", nil))
		})
	}
}

// /Schemas says where each attribute lands, and follows the configuration.
func TestDiscovery_SchemasFollowTheMapping(t *testing.T) {
	title := func(cfg scim.Config) string {
		e := newDemoEnv(t, cfg)
		return str(discover(t, e, "").def(scim.UserSchema, "title")["description"])
	}
	if got := title(scim.Config{}); !strings.HasSuffix(got, "The directory holds it in title.") {
		t.Errorf("title with the default mapping: %q", got)
	}
	if got := title(scim.Config{UserAttributes: map[string]string{"title": ""}}); !strings.HasSuffix(got, "jitd keeps it.") {
		t.Errorf("title unmapped: %q", got)
	}
}

// writer makes values for every attribute a client may write, from the
// served definitions; tag makes each write's values differ.
type writer struct {
	d       discovered
	tag     string
	manager string
}

func (w writer) simple(path string, a map[string]any) any {
	name := strings.ToLower(path)
	switch {
	case str(a["type"]) == "boolean":
		return true
	case str(a["type"]) == "binary":
		return base64.StdEncoding.EncodeToString([]byte("certificate " + w.tag + " " + path))
	case str(a["type"]) == "reference":
		return "https://example.org/" + w.tag + "/" + strings.ReplaceAll(path, ".", "/")
	case str(a["type"]) == "dateTime":
		return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Format(time.RFC3339)
	case str(a["type"]) == "integer", str(a["type"]) == "decimal":
		return 7.0
	case strings.HasPrefix(name, "emails"):
		return strings.ReplaceAll(w.tag+"."+path, " ", "") + "@example.org"
	case strings.HasPrefix(name, "phonenumbers"):
		h := fnv.New32a()
		h.Write([]byte(w.tag + path))
		return fmt.Sprintf("+1 555 %04d", h.Sum32()%10000)
	case name == "preferredlanguage", name == "locale":
		return "en-GB"
	case name == "timezone":
		return "Europe/Berlin"
	case strings.HasSuffix(name, "employeenumber"):
		return "4711" + fmt.Sprint(len(w.tag))
	}
	return "V" + w.tag + " " + strings.ReplaceAll(path, ".", " ")
}

// value makes a value for an attribute, or nil for one a client does not
// write.
func (w writer) value(path string, a map[string]any) any {
	if str(a["mutability"]) == "readOnly" || slices.Contains([]string{"userName", "password", "active", "manager"}, str(a["name"])) {
		return nil
	}
	if str(a["type"]) != "complex" {
		return w.simple(path, a)
	}
	element := func(kind string, primary bool) map[string]any {
		el := map[string]any{}
		subs, _ := a["subAttributes"].([]any)
		for _, s := range subs {
			sd, _ := s.(map[string]any)
			n := str(sd["name"])
			if str(sd["mutability"]) == "readOnly" {
				continue
			}
			switch n {
			case "type":
				el[n] = kind
			case "primary":
				el[n] = primary
			default:
				el[n] = w.simple(path+"."+kind+"."+n, sd)
			}
		}
		return el
	}
	if a["multiValued"] != true {
		return element("", false)
	}
	kinds := []string{"alpha", "beta"}
	if cv, _ := subDef(a, "type")["canonicalValues"].([]any); len(cv) > 0 {
		kinds = nil
		for _, v := range cv[:min(3, len(cv))] {
			kinds = append(kinds, str(v))
		}
	}
	var list []any
	for i, k := range kinds {
		// The primary value is the last: a value of another type than
		// work may be primary and must stay of its own type.
		list = append(list, element(k, i == len(kinds)-1))
	}
	return list
}

// user is a resource with every attribute a client may write.
func (w writer) user(login string) map[string]any {
	doc := map[string]any{"schemas": []any{scim.UserSchema, scim.EnterpriseSchema}, "userName": login, "active": true, "externalId": "ext-" + w.tag}
	for _, a := range w.d.attrs[scim.UserSchema] {
		if v := w.value(str(a["name"]), a); v != nil {
			doc[str(a["name"])] = v
		}
	}
	ent := map[string]any{}
	for _, a := range w.d.attrs[scim.EnterpriseSchema] {
		if v := w.value(str(a["name"]), a); v != nil {
			ent[str(a["name"])] = v
		}
	}
	if w.manager != "" {
		ent["manager"] = map[string]any{"value": w.manager}
	}
	doc[scim.EnterpriseSchema] = ent
	return doc
}

// sameValues fails on any attribute written that does not read back equal.
func sameValues(t *testing.T, where string, wrote, read map[string]any) {
	t.Helper()
	for k, v := range wrote {
		if k == "schemas" || k == "password" {
			continue
		}
		got := read[k]
		if wm, ok := v.(map[string]any); ok && strings.HasPrefix(k, "urn:") {
			gm, _ := got.(map[string]any)
			sameValues(t, where+" "+k, wm, gm)
			continue
		}
		if k == "manager" {
			gm, _ := got.(map[string]any)
			if gm["value"] != v.(map[string]any)["value"] {
				t.Errorf("%s: manager = %v; wrote %v", where, got, v)
			}
			continue
		}
		if !reflect.DeepEqual(v, got) {
			t.Errorf("%s: %s reads back as %#v; wrote %#v", where, k, got, v)
		}
	}
}

// checkServed checks a resource as served against the definitions: every
// attribute advertised, of its type, never one returned never, and every
// reference to a resource resolves.
func checkServed(t *testing.T, e *env, d discovered, doc map[string]any, schemaID string) {
	t.Helper()
	var check func(where string, a map[string]any, v any, element bool)
	check = func(where string, a map[string]any, v any, element bool) {
		if a == nil {
			t.Errorf("%s is served but not advertised", where)
			return
		}
		if str(a["returned"]) == "never" {
			t.Errorf("%s is served but returned never", where)
		}
		if a["multiValued"] == true && !element {
			list, ok := v.([]any)
			if !ok {
				t.Errorf("%s = %#v; want a list", where, v)
			}
			for _, x := range list {
				check(where, a, x, true)
			}
			return
		}
		ok := true
		switch str(a["type"]) {
		case "string", "binary", "dateTime":
			_, ok = v.(string)
		case "boolean":
			ok = isBool(v)
		case "reference":
			absoluteURL(t, where, v)
			if refs, _ := a["referenceTypes"].([]any); slices.Contains(refs, any("User")) {
				u := strings.TrimPrefix(str(v), e.url)
				e.must(200, e.do("GET", u, nil))
			}
		case "complex":
			m, isMap := v.(map[string]any)
			ok = isMap
			for k, x := range m {
				check(where+"."+k, subDef(a, k), x, false)
			}
		}
		if !ok {
			t.Errorf("%s = %#v; want a %s", where, v, a["type"])
		}
	}
	for k, v := range doc {
		switch {
		case k == "schemas" || k == "id" || k == "meta" || k == "externalId":
		case strings.HasPrefix(k, "urn:"):
			m, _ := v.(map[string]any)
			for ak, av := range m {
				check(k+":"+ak, d.def(k, ak), av, false)
			}
		default:
			check(k, d.def(schemaID, k), v, false)
		}
	}
}

// Every attribute /Schemas advertises round-trips through POST, GET, PUT
// and a listing, in the directory where the mapping places it and in jitd
// otherwise; multi-valued attributes keep their type and primary.
func TestRoundTrip_EveryAdvertisedAttribute(t *testing.T) {
	for _, c := range envs {
		t.Run(c.name, func(t *testing.T) {
			e := c.new(t, scim.Config{RequestsPerSecond: 1000, Burst: 1000})
			d := discover(t, e, map[bool]string{true: "", false: "https://jitd.example/docs/scim"}[c.name == "demo"])
			login := func(n string) string {
				if c.name == "ad" {
					return n + "@jitd.test"
				}
				return n
			}
			boss := e.must(201, e.do("POST", "/Users", map[string]any{"schemas": []any{scim.UserSchema}, "userName": login("rt.boss"),
				"displayName": "The Boss", "name": map[string]any{"givenName": "The", "familyName": "Boss"}})).body
			w := writer{d: d, tag: "one", manager: str(boss["id"])}
			wrote := w.user(login("rt.full"))
			created := e.must(201, e.do("POST", "/Users", wrote))
			id := str(created.body["id"])
			sameValues(t, "POST", wrote, created.body)
			got := e.must(200, e.do("GET", "/Users/"+id, nil)).body
			sameValues(t, "GET", wrote, got)
			checkServed(t, e, d, got, scim.UserSchema)
			mgr, _ := got[scim.EnterpriseSchema].(map[string]any)["manager"].(map[string]any)
			if str(mgr["$ref"]) != e.url+"/Users/"+str(boss["id"]) || str(mgr["displayName"]) != "The Boss" {
				t.Errorf("manager = %v; want value, $ref and the manager's displayName", mgr)
			}
			// The mapped values are in the directory.
			entry := readEntry(t, e, id, "mail", "telephoneNumber")
			if mail := entry.Attrs["mail"]; len(mail) != 1 || !strings.HasPrefix(mail[0], "one.emails.work.") {
				t.Errorf("the directory's mail = %v; want the work email", mail)
			}
			if phone := entry.Attrs["telephoneNumber"]; len(phone) != 1 || phone[0] != w.simple("phoneNumbers.work.value", map[string]any{"type": "string"}) {
				t.Errorf("the directory's telephoneNumber = %v; want the work number", phone)
			}

			w2 := writer{d: d, tag: "two", manager: str(boss["id"])}
			wrote2 := w2.user(login("rt.full"))
			sameValues(t, "PUT", wrote2, e.must(200, e.do("PUT", "/Users/"+id, wrote2)).body)
			list := e.must(200, e.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+login("rt.full")+`"`), nil)).body
			res, _ := list["Resources"].([]any)
			if len(res) != 1 {
				t.Fatalf("listing: %v", list)
			}
			sameValues(t, "listing", wrote2, res[0].(map[string]any))
			checkServed(t, e, d, res[0].(map[string]any), scim.UserSchema)
		})
	}
}

// readEntry reads a user from the directory, with attrs.
func readEntry(t *testing.T, e *env, id string, attrs ...string) connectors.Entry {
	t.Helper()
	var found []connectors.Entry
	err := e.dir.ReadEntries(context.Background(), connectors.EntryQuery{Kind: connectors.UserEntry, ID: id, Attrs: attrs}, func(x connectors.Entry) error {
		found = append(found, x)
		return nil
	})
	if err != nil || len(found) != 1 {
		t.Fatalf("reading %s from the directory: %v, %v", id, found, err)
	}
	return found[0]
}

func scimType(r reply) string { return str(r.body["scimType"]) }

// No write answers success for a change it did not make: a removed active
// deactivates, unknown attributes are refused with the right scimType, a
// new primary value replaces the old, and the directory's own changes to
// mapped values show through what jitd keeps around them.
func TestWrites_NoSilentNoOps(t *testing.T) {
	for _, c := range envs[:2] {
		t.Run(c.name, func(t *testing.T) {
			e := c.new(t, scim.Config{RequestsPerSecond: 1000, Burst: 1000})
			patch := func(id string, ops ...map[string]any) reply {
				return e.do("PATCH", "/Users/"+id, map[string]any{"schemas": []any{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops})
			}
			u := e.must(201, e.do("POST", "/Users", map[string]any{"schemas": []any{scim.UserSchema}, "userName": "nn.one", "groups": []any{},
				"name":         map[string]any{"givenName": "N", "familyName": "One"},
				"emails":       []any{map[string]any{"value": "other@example.org", "type": "other", "primary": true}},
				"phoneNumbers": []any{map[string]any{"value": "+1 555 0100", "type": "fax"}}})).body
			id := str(u["id"])
			if em, _ := u["emails"].([]any); len(em) != 1 || em[0].(map[string]any)["type"] != "other" {
				t.Errorf("an email of type other reads back as %v", u["emails"])
			}
			if ph, _ := u["phoneNumbers"].([]any); len(ph) != 1 || ph[0].(map[string]any)["type"] != "fax" {
				t.Errorf("a fax number reads back as %v", u["phoneNumbers"])
			}
			if got := readEntry(t, e, id, "mail", "telephoneNumber").Attrs; len(got["mail"]) != 0 || len(got["telephoneNumber"]) != 0 {
				t.Errorf("values of other types reached the directory's work attributes: %v", got)
			}

			r := e.must(200, patch(id, map[string]any{"op": "remove", "path": "active"}))
			if r.body["active"] != false || readEntry(t, e, id).Enabled {
				t.Errorf("remove active: %s; the directory has the user enabled: %v", r.raw, readEntry(t, e, id).Enabled)
			}
			r = e.must(200, patch(id, map[string]any{"op": "replace", "path": scim.EnterpriseSchema,
				"value": map[string]any{"schemas": []any{scim.EnterpriseSchema}, "department": "Payments"}}))
			if ent, _ := r.body[scim.EnterpriseSchema].(map[string]any); ent["department"] != "Payments" {
				t.Errorf("a PATCH of the extension with its schemas key: %s", r.raw)
			}
			for path, want := range map[string]string{"groups": "invalidPath", "name.nonsense": "invalidPath", "emails.nonsense": "invalidPath", "nonsense": "invalidPath"} {
				if r := e.must(400, patch(id, map[string]any{"op": "replace", "path": path, "value": "x"})); scimType(r) != want {
					t.Errorf("PATCH %s: %s; want scimType %s", path, r.raw, want)
				}
			}
			if r := e.must(400, patch(id, map[string]any{"op": "remove", "path": "password"})); scimType(r) != "mutability" {
				t.Errorf("remove password: %s", r.raw)
			}
			if r := e.must(400, patch(id, map[string]any{"op": "replace", "path": "id", "value": "other"})); scimType(r) != "mutability" {
				t.Errorf("replace id: %s", r.raw)
			}
			// A path-less replace that repeats the id (as some clients do) is
			// no change of the id.
			if r := e.must(200, patch(id, map[string]any{"op": "replace", "value": map[string]any{"id": id, "nickName": "Nn"}})); r.body["nickName"] != "Nn" {
				t.Errorf("path-less replace repeating the id: %s", r.raw)
			}
			for name, body := range map[string]map[string]any{
				"unknown":        {"userName": "nn.two", "nonsense": "x"},
				"unknown sub":    {"userName": "nn.two", "name": map[string]any{"givenName": "N", "familyName": "T", "nonsense": "x"}},
				"unknown in ext": {"userName": "nn.two", scim.EnterpriseSchema: map[string]any{"nonsense": "x"}},
				"groups":         {"userName": "nn.two", "groups": []any{map[string]any{"value": "g1"}}},
				"two primaries":  {"userName": "nn.two", "emails": []any{map[string]any{"value": "a@example.org", "primary": true}, map[string]any{"value": "b@example.org", "primary": true}}},
			} {
				body["schemas"] = []any{scim.UserSchema}
				r := e.must(400, e.do("POST", "/Users", body))
				want := "invalidSyntax"
				if name == "two primaries" {
					want = "invalidValue"
				}
				if scimType(r) != want || str(r.body["detail"]) == "" {
					t.Errorf("POST with %s: %s; want scimType %s and a detail", name, r.raw, want)
				}
			}

			// A new primary value replaces the old one.
			r = e.must(200, patch(id, map[string]any{"op": "add", "path": "emails", "value": []any{map[string]any{"value": "work@example.org", "type": "work", "primary": true}}}))
			var primaries []string
			for _, el := range r.body["emails"].([]any) {
				if m := el.(map[string]any); m["primary"] == true {
					primaries = append(primaries, str(m["value"]))
				}
			}
			if !slices.Equal(primaries, []string{"work@example.org"}) {
				t.Errorf("after adding a primary email, the primary ones are %v", primaries)
			}
			if got := readEntry(t, e, id, "mail").Attrs["mail"]; !slices.Equal(got, []string{"work@example.org"}) {
				t.Errorf("the directory's mail = %v", got)
			}
			// The directory's own change shows through, with what jitd keeps
			// of the element (its type and primary) around it.
			if err := e.dir.ModifyEntry(context.Background(), connectors.UserEntry, id, connectors.EntryChange{Attrs: map[string][]string{"mail": {"moved@example.org"}}}); err != nil {
				t.Fatal(err)
			}
			got := e.must(200, e.do("GET", "/Users/"+id, nil)).body
			want := []any{map[string]any{"value": "other@example.org", "type": "other", "primary": false}, map[string]any{"value": "moved@example.org", "type": "work", "primary": true}}
			if !reflect.DeepEqual(got["emails"], want) {
				t.Errorf("emails after the directory changed mail = %v; want %v", got["emails"], want)
			}
			r = e.must(200, patch(id, map[string]any{"op": "remove", "path": `emails[type eq "work"]`}))
			if got := readEntry(t, e, id, "mail").Attrs["mail"]; len(got) != 0 {
				t.Errorf("the work email was removed but the directory's mail = %v", got)
			}
		})
	}
}

// References are references: a group's members carry value, $ref, display
// and type, and each $ref resolves to the member.
func TestGroups_MembersAreReferences(t *testing.T) {
	for _, c := range envs[:2] {
		t.Run(c.name, func(t *testing.T) {
			e := c.new(t, scim.Config{RequestsPerSecond: 1000, Burst: 1000})
			var ids []string
			for _, u := range []map[string]any{{"userName": "m.one", "displayName": "Member One"}, {"userName": "m.two"}} {
				u["schemas"] = []any{scim.UserSchema}
				u["name"] = map[string]any{"givenName": "M", "familyName": "M"}
				ids = append(ids, str(e.must(201, e.do("POST", "/Users", u)).body["id"]))
			}
			g := e.must(201, e.do("POST", "/Groups", map[string]any{"schemas": []any{scim.GroupSchema}, "displayName": "refs",
				"members": []any{map[string]any{"value": ids[0], "display": "ignored"}, map[string]any{"value": ids[1]}}})).body
			for _, doc := range []map[string]any{g, e.must(200, e.do("GET", "/Groups/"+str(g["id"]), nil)).body} {
				members, _ := doc["members"].([]any)
				got := map[string]map[string]any{}
				for _, m := range members {
					got[elementID(m)] = m.(map[string]any)
				}
				for i, display := range []string{"Member One", "m.two"} {
					m := got[ids[i]]
					if str(m["display"]) != display || str(m["type"]) != "User" || str(m["$ref"]) != e.url+"/Users/"+ids[i] {
						t.Errorf("member %s = %v; want display %q, type User and its $ref", ids[i], m, display)
					}
					if u := e.must(200, e.do("GET", strings.TrimPrefix(str(m["$ref"]), e.url), nil)); str(u.body["id"]) != ids[i] {
						t.Errorf("$ref %s does not resolve to the member", m["$ref"])
					}
				}
			}
		})
	}
}

// Errors speak SCIM, not LDAP: the directory's refusal of a write its
// schema does not allow names the SCIM attribute; the directory's own
// words are logged under the request id the error and its header carry.
func TestErrors_SchemaRefusalsInSCIMsWords(t *testing.T) {
	e := newEnv(t, scim.Config{})
	u := e.must(201, e.do("POST", "/Users", map[string]any{"schemas": []any{scim.UserSchema}, "userName": "req.one",
		"name": map[string]any{"givenName": "R", "familyName": "One"}})).body
	r := e.must(400, e.do("PATCH", "/Users/"+str(u["id"]), map[string]any{"schemas": []any{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "remove", "path": "name"}}}))
	detail, id := str(r.body["detail"]), r.header.Get("X-Request-Id")
	if scimType(r) != "invalidValue" || !strings.Contains(detail, "name.familyName is required") || id == "" || !strings.Contains(detail, "request "+id) {
		t.Fatalf("removing the required name: %s (X-Request-Id %q)", r.raw, id)
	}
	for _, leak := range []string{"sn", "LDAP", "inetOrgPerson", "uid=", "ou=", "Object Class"} {
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(leak) + `\b`).MatchString(detail) {
			t.Errorf("the client was told %q: %s", leak, detail)
		}
	}
	var logged string
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "request_id="+id) && strings.Contains(line, "refused") {
			logged = line
		}
	}
	if !strings.Contains(logged, "requires attribute") {
		t.Errorf("the directory's answer is not logged under %s:\n%s", id, e.logs.String())
	}
	// The user is unchanged.
	if got := e.must(200, e.do("GET", "/Users/"+str(u["id"]), nil)).body; !reflect.DeepEqual(got["name"], map[string]any{"givenName": "R", "familyName": "One"}) {
		t.Errorf("after the refusal the name is %v", got["name"])
	}
}

// Operators see SCIM traffic: one log line per request, never a body, and
// metrics by method, resource and status.
func TestOperations_RequestLogAndMetrics(t *testing.T) {
	e := newDemoEnv(t, scim.Config{})
	r := e.must(201, e.do("POST", "/Users", map[string]any{"schemas": []any{scim.UserSchema}, "userName": "log.one", "password": "Sekrit-Pa55!",
		"name": map[string]any{"givenName": "Logged", "familyName": "One"}}))
	e.must(200, e.do("GET", "/Users/"+str(r.body["id"]), nil))
	e.must(404, e.do("GET", "/Users/nobody", nil))
	e.must(200, e.do("GET", "/Schemas", nil))
	logs := e.logs.String()
	var lines []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `msg="scim request"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 4 {
		t.Fatalf("%d request lines for 4 requests:\n%s", len(lines), logs)
	}
	want := regexp.MustCompile(`level=INFO msg="scim request" method=POST path=/Users status=201 duration=\S+ client=okta request_id=` + r.header.Get("X-Request-Id") + `$`)
	if !want.MatchString(lines[0]) {
		t.Errorf("the create's line: %s", lines[0])
	}
	if !strings.Contains(lines[1], "level=DEBUG") || !strings.Contains(lines[2], "level=INFO") || !strings.Contains(lines[2], "status=404") {
		t.Errorf("a read logs at debug, a failure at info:\n%s\n%s", lines[1], lines[2])
	}
	for _, secret := range []string{"Sekrit", "Logged", "log.one"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q from a body", secret)
		}
	}
	families, err := e.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	var observed uint64
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := ""
			for _, l := range m.GetLabel() {
				labels += l.GetName() + "=" + l.GetValue() + ","
			}
			switch f.GetName() {
			case "jitd_scim_requests_total":
				counts[labels] = m.GetCounter().GetValue()
			case "jitd_scim_request_duration_seconds":
				observed += m.GetHistogram().GetSampleCount()
			}
		}
	}
	for labels, n := range map[string]float64{"code=201,method=POST,resource=Users,": 1, "code=200,method=GET,resource=Users,": 1,
		"code=404,method=GET,resource=Users,": 1, "code=200,method=GET,resource=discovery,": 1} {
		if counts[labels] != n {
			t.Errorf("jitd_scim_requests_total{%s} = %v; want %v (all: %v)", labels, counts[labels], n, counts)
		}
	}
	if observed != 4 {
		t.Errorf("the latency histogram observed %d requests; want 4", observed)
	}
}
