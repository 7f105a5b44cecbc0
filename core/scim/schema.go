package scim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
)

// resourceSchema is a resource type's schemas: what jitd advertises under
// /Schemas, validates writes against and keeps.
type resourceSchema struct {
	core       schema.Schema
	extensions []string
	ext        map[string]schema.Schema
}

var (
	userSchema = resourceSchema{core: coreUserSchema(), extensions: []string{EnterpriseSchema},
		ext: map[string]schema.Schema{EnterpriseSchema: schema.ExtensionEnterpriseUser()}}
	groupSchema = resourceSchema{core: coreGroupSchema()}
)

// coreUserSchema is RFC 7643's User without groups: jitd does not work out
// the groups a user is in (members are read from the groups), so it does not
// advertise them. Clients that send an empty groups list (Okta does) assert
// nothing and are not refused.
func coreUserSchema() schema.Schema {
	s := schema.CoreUserSchema()
	s.Attributes = slices.DeleteFunc(slices.Clone(s.Attributes), func(a schema.CoreAttribute) bool { return a.Name() == "groups" })
	return s
}

// coreGroupSchema is RFC 7643's Group as jitd keeps it: names are unique in
// the directory, members are users (jitd does not nest groups), and each
// member's display is the member's name, filled in by jitd.
func coreGroupSchema() schema.Schema {
	return schema.Schema{
		ID:          GroupSchema,
		Name:        optional.NewString("Group"),
		Description: optional.NewString("Group"),
		Attributes: []schema.CoreAttribute{
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Description: optional.NewString("A human-readable name for the Group. REQUIRED."),
				Name:        "displayName", Required: true, Uniqueness: schema.AttributeUniquenessServer(),
			})),
			schema.ComplexCoreAttribute(schema.ComplexParams{
				Description: optional.NewString("A list of members of the Group."),
				MultiValued: true,
				Name:        "members",
				SubAttributes: []schema.SimpleParams{
					schema.SimpleStringParams(schema.StringParams{
						Description: optional.NewString("Identifier of the member of this Group."),
						Mutability:  schema.AttributeMutabilityImmutable(), Name: "value",
					}),
					schema.SimpleReferenceParams(schema.ReferenceParams{
						Description: optional.NewString("The URI corresponding to a SCIM resource that is a member of this Group."),
						Mutability:  schema.AttributeMutabilityImmutable(), Name: "$ref", ReferenceTypes: []schema.AttributeReferenceType{"User"},
					}),
					schema.SimpleStringParams(schema.StringParams{
						CanonicalValues: []string{"User"},
						Description:     optional.NewString("A label indicating the type of resource; jitd's members are users."),
						Mutability:      schema.AttributeMutabilityImmutable(), Name: "type",
					}),
					schema.SimpleStringParams(schema.StringParams{
						Description: optional.NewString("The member's displayName, or its userName when it has none. READ-ONLY."),
						Mutability:  schema.AttributeMutabilityReadOnly(), Name: "display",
					}),
				},
			}),
		},
	}
}

// common are the attributes every resource has besides its schema's.
var common = []string{"schemas", "id", "externalId", "meta"}

// attribute finds an attribute by name in the core schema (container "")
// or an extension, returning its canonical name.
func (s resourceSchema) attribute(container, name string) (schema.CoreAttribute, bool) {
	attrs := s.core.Attributes
	if container != "" {
		ext, ok := s.ext[container]
		if !ok {
			return schema.CoreAttribute{}, false
		}
		attrs = ext.Attributes
	}
	return attrs.ContainsAttribute(name)
}

func (s resourceSchema) readOnly(name string) bool {
	a, ok := s.core.Attributes.ContainsAttribute(name)
	return strings.EqualFold(name, "id") || strings.EqualFold(name, "meta") || (ok && a.Mutability() == "readOnly")
}

// empty reports whether a value asserts nothing: null, "", [] or {}.
func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// known refuses attributes jitd does not advertise, at any depth, unless
// they assert nothing: whatever jitd accepts, it keeps.
func (s resourceSchema) known(doc map[string]any) error {
	for k, v := range doc {
		if slices.ContainsFunc(common, func(c string) bool { return strings.EqualFold(c, k) }) {
			continue
		}
		if ext, ok := s.extension(k); ok {
			m, isMap := v.(map[string]any)
			if !isMap && v != nil {
				return scimErr(errors.ScimErrorInvalidSyntax, "%s must be an object", k)
			}
			for ak, av := range m {
				if strings.EqualFold(ak, "schemas") {
					continue
				}
				if err := knownAttribute(ext.Attributes, ak, av, k+":"); err != nil {
					return err
				}
			}
			continue
		}
		if err := knownAttribute(s.core.Attributes, k, v, ""); err != nil {
			return err
		}
	}
	return nil
}

func (s resourceSchema) extension(name string) (schema.Schema, bool) {
	for urn, sch := range s.ext {
		if strings.EqualFold(urn, name) {
			return sch, true
		}
	}
	return schema.Schema{}, false
}

func knownAttribute(attrs schema.Attributes, name string, v any, prefix string) error {
	a, ok := attrs.ContainsAttribute(name)
	if !ok {
		if empty(v) {
			return nil
		}
		return scimErr(errors.ScimErrorInvalidSyntax, "%s%s is not an attribute jitd keeps (GET /Schemas lists them)", prefix, name)
	}
	if !a.HasSubAttributes() {
		return nil
	}
	var elems []any
	switch v := v.(type) {
	case []any:
		elems = v
	case map[string]any:
		elems = []any{v}
	}
	for _, el := range elems {
		m, _ := el.(map[string]any)
		for sk, sv := range m {
			if _, ok := a.SubAttributes().ContainsAttribute(sk); !ok && !empty(sv) {
				return scimErr(errors.ScimErrorInvalidSyntax, "%s%s.%s is not an attribute jitd keeps (GET /Schemas lists them)", prefix, a.Name(), sk)
			}
		}
	}
	return nil
}

// onePrimary refuses a multi-valued attribute with more than one primary
// value (RFC 7643 §2.4).
func onePrimary(doc map[string]any, sch resourceSchema) error {
	check := func(holder map[string]any, attrs schema.Attributes, prefix string) error {
		for _, a := range attrs {
			if !a.MultiValued() || !a.HasSubAttributes() {
				continue
			}
			_, v, _ := lookup(holder, a.Name())
			n := 0
			for _, el := range asList(v) {
				m, _ := el.(map[string]any)
				if _, p, _ := lookup(m, "primary"); p == true {
					n++
				}
			}
			if n > 1 {
				return scimErr(errors.ScimErrorInvalidValue, "%s%s has %d primary values; at most one may be primary", prefix, a.Name(), n)
			}
		}
		return nil
	}
	if err := check(doc, sch.core.Attributes, ""); err != nil {
		return err
	}
	for urn, ext := range sch.ext {
		_, v, _ := lookup(doc, urn)
		if m, ok := v.(map[string]any); ok {
			if err := check(m, ext.Attributes, urn+":"); err != nil {
				return err
			}
		}
	}
	return nil
}

// validate checks a resource against the schemas (attributes jitd keeps,
// types, required attributes, string booleans, one primary value) and
// returns it with canonical attribute names.
func (s resourceSchema) validate(doc map[string]any) (map[string]any, error) {
	if err := s.known(doc); err != nil {
		return nil, err
	}
	out, serr := s.core.Validate(doc)
	if serr != nil {
		return nil, withDetail(*serr)
	}
	if _, v, ok := lookup(doc, "externalId"); ok {
		if ext, isString := v.(string); isString && ext != "" {
			out["externalId"] = ext
		} else if v != nil && !isString {
			return nil, scimErr(errInvalidValue, "externalId must be a string")
		}
	}
	for urn, sch := range s.ext {
		_, v, ok := lookup(doc, urn)
		if !ok || v == nil {
			continue
		}
		m, _ := v.(map[string]any)
		m = deepCopy(m)
		for k := range m {
			if strings.EqualFold(k, "schemas") {
				delete(m, k)
			}
		}
		wrapBareValues(m, sch)
		attrs, serr := sch.Validate(m)
		if serr != nil {
			return nil, withDetail(*serr)
		}
		if len(attrs) > 0 {
			out[urn] = attrs
		}
	}
	if err := onePrimary(out, s); err != nil {
		return nil, err
	}
	return out, nil
}

// withDetail gives the library's bare errors a sentence a client can act on.
func withDetail(e errors.ScimError) errors.ScimError {
	if e.Detail == "" {
		e.Detail = fmt.Sprintf("the resource does not fit its schema (%s)", e.ScimType)
	}
	return e
}

// readResource reads a request's resource and validates it.
func readResource(r *http.Request, sch resourceSchema) (map[string]any, error) {
	var body map[string]any
	if err := readJSON(r, &body); err != nil {
		return nil, err
	}
	return sch.validate(body)
}

// wrapBareValues turns a string given for a single-valued complex attribute
// that has a value sub-attribute into {"value": ...}: Entra sends the
// enterprise manager as a bare id.
func wrapBareValues(m map[string]any, sch schema.Schema) {
	for k, v := range m {
		str, ok := v.(string)
		if !ok {
			continue
		}
		a, ok := sch.Attributes.ContainsAttribute(k)
		if !ok || !a.HasSubAttributes() || a.MultiValued() {
			continue
		}
		if _, ok := a.SubAttributes().ContainsAttribute("value"); ok {
			m[k] = map[string]any{"value": str}
		}
	}
}
