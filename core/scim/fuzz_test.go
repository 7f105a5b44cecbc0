package scim

import (
	"encoding/json"
	"testing"
)

// sampleUser is a resource as the server renders one.
func sampleUser() map[string]any {
	return map[string]any{
		"schemas": []any{UserSchema, EnterpriseSchema}, "id": "2819c223-7f76-453a-919d-413861904646", "externalId": "00u1",
		"userName": "pat.kim", "active": true, "title": "Engineer",
		"name":           map[string]any{"givenName": "Pat", "familyName": "Kim"},
		"emails":         []any{map[string]any{"value": "pat@example.org", "type": "work", "primary": true}},
		"meta":           map[string]any{"resourceType": "User", "created": "2026-11-23T09:00:00Z", "lastModified": "2026-11-23T10:00:00Z"},
		EnterpriseSchema: map[string]any{"department": "Payments", "manager": map[string]any{"value": "m1"}},
	}
}

// FuzzFilter feeds arbitrary filters to the parser and evaluator: they
// must never panic, and a filter either fails to parse or gives the same
// answer every time.
func FuzzFilter(f *testing.F) {
	for _, seed := range []string{
		`userName eq "pat.kim"`, `userName Eq "x" and not (active eq false)`, `emails[type eq "work" and value co "@"]`,
		`meta.lastModified gt "2011-05-13T04:42:34Z"`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department sw "pay"`,
		`title pr or externalId ne "x"`, `name.givenName ew "t"`, `id eq "2819c223-7f76-453a-919d-413861904646"`,
		`((userName eq "a") or (userName eq "b")) and emails pr`, `x eq 1.5e3`, `active eq null`, `emails[value eq "a"].type`,
		`members[value eq "x"]`, `userName eq "\"quoted\" \\ back"`, `not(not(title pr))`,
		`emails[type eq "work"].value eq "pat@example.org"`, `emails[type eq "w\"]."].value pr and userName sw "p"`,
	} {
		f.Add(seed)
	}
	doc := sampleUser()
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseFilter(s)
		if err != nil {
			return
		}
		first := matches(e, doc)
		if matches(e, doc) != first {
			t.Fatalf("%q: answers differ", s)
		}
		eqTerms(e)
	})
}

// FuzzPatch applies an arbitrary operation, at an arbitrary path, to a
// user: it must never panic, and the result must still be a JSON object.
func FuzzPatch(f *testing.F) {
	for _, seed := range []struct{ op, path, value string }{
		{"Replace", `emails[type eq "work"].value`, `"new@example.org"`},
		{"add", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", `"m2"`},
		{"remove", `emails[value co "@"]`, `null`},
		{"replace", "", `{"name.givenName":"Sam","active":"False"}`},
		{"Add", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", `{"department":"Ops"}`},
		{"remove", "name.familyName", `null`},
		{"add", "phoneNumbers", `[{"value":"+1","type":"mobile"}]`},
		{"replace", "members[value eq \"x\"].display", `"y"`},
		{"remove", "emails", `[{"value":"pat@example.org"}]`},
		{"replace", "urn:ietf:params:scim:schemas:core:2.0:User:userName", `"p"`},
	} {
		f.Add(seed.op, seed.path, seed.value)
	}
	f.Fuzz(func(t *testing.T, op, path, value string) {
		var v any
		if json.Unmarshal([]byte(value), &v) != nil {
			return
		}
		doc := sampleUser()
		if err := applyPatch(doc, patchOp{Op: op, Path: path, Value: v}, userSchema); err != nil {
			return
		}
		if _, err := json.Marshal(doc); err != nil {
			t.Fatalf("%s %q %s left a resource that is not JSON: %v", op, path, value, err)
		}
		userSchema.validate(doc)
	})
}
