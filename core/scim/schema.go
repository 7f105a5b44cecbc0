package scim

import (
	"net/http"
	"strings"

	elimity "github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
)

// resourceSchema is what PATCH needs to know of a resource type's schemas.
type resourceSchema struct {
	core       schema.Schema
	extensions []string
	ext        map[string]schema.Schema
}

var (
	userSchema = resourceSchema{core: schema.CoreUserSchema(), extensions: []string{EnterpriseSchema},
		ext: map[string]schema.Schema{EnterpriseSchema: schema.ExtensionEnterpriseUser()}}
	groupSchema = resourceSchema{core: schema.CoreGroupSchema()}
)

// attribute finds an attribute by name in the core schema (container "")
// or an extension, returning its canonical name.
func (s resourceSchema) attribute(container, name string) (string, bool, bool) {
	attrs := s.core.Attributes
	if container != "" {
		ext, ok := s.ext[container]
		if !ok {
			return "", false, false
		}
		attrs = ext.Attributes
	}
	if container == "" && strings.EqualFold(name, "externalId") {
		return "externalId", false, true
	}
	a, ok := attrs.ContainsAttribute(name)
	if !ok {
		return "", false, false
	}
	return a.Name(), a.MultiValued(), true
}

func (s resourceSchema) readOnly(name string) bool {
	a, ok := s.core.Attributes.ContainsAttribute(name)
	return strings.EqualFold(name, "id") || strings.EqualFold(name, "meta") || (ok && a.Mutability() == "readOnly")
}

// validate checks a resource against the schemas (types, required
// attributes, string booleans) and returns it with canonical attribute
// names; unknown attributes are dropped.
func (s resourceSchema) validate(doc map[string]any) (map[string]any, error) {
	out, serr := s.core.Validate(doc)
	if serr != nil {
		return nil, *serr
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
		if m, ok := v.(map[string]any); ok {
			wrapBareValues(m, sch)
		}
		attrs, serr := sch.Validate(v)
		if serr != nil {
			return nil, *serr
		}
		if len(attrs) > 0 {
			out[urn] = attrs
		}
	}
	return out, nil
}

// readResource reads a request's resource and validates it.
func readResource(r *http.Request, sch resourceSchema) (map[string]any, error) {
	var body map[string]any
	if err := readJSON(r, &body); err != nil {
		return nil, err
	}
	return sch.validate(body)
}

// discovery serves ServiceProviderConfig, Schemas and ResourceTypes through
// the library; resources are served by jitd's own handlers.
func discovery(docURL string, maxResults int) (elimity.Server, error) {
	return elimity.NewServer(&elimity.ServerArgs{
		ServiceProviderConfig: &elimity.ServiceProviderConfig{
			DocumentationURI: optional.NewString(docURL),
			AuthenticationSchemes: []elimity.AuthenticationScheme{{
				Type: elimity.AuthenticationTypeOauthBearerToken, Name: "Bearer token", Primary: true,
				Description: "A jitd token with the scim role: jitd token create --name <client> --role scim",
			}},
			MaxResults:       maxResults,
			SupportFiltering: true,
			SupportPatch:     true,
		},
		ResourceTypes: []elimity.ResourceType{
			{ID: optional.NewString("User"), Name: "User", Endpoint: "/Users", Description: optional.NewString("People in the directory"),
				Schema: userSchema.core, SchemaExtensions: []elimity.SchemaExtension{{Schema: userSchema.ext[EnterpriseSchema]}}},
			{ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups", Description: optional.NewString("Groups in the directory"),
				Schema: groupSchema.core},
		},
	})
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
