package scim

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/schema"
)

// Discovery (RFC 7644 §4): ServiceProviderConfig, ResourceTypes and
// Schemas, rendered by jitd so that every URI is a real one or absent and
// /Schemas says, attribute by attribute, where the effective mapping keeps
// each value: in a directory attribute, or in jitd's own store.

const (
	spcSchema          = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	resourceTypeSchema = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	schemaSchema       = "urn:ietf:params:scim:schemas:core:2.0:Schema"
	// bearerSpec is the specification of the Bearer scheme jitd's tokens use.
	bearerSpec = "https://www.rfc-editor.org/rfc/rfc6750"
)

func (s *Server) discover(w http.ResponseWriter, r *http.Request, segs []string) {
	if r.Method != http.MethodGet {
		s.fail(w, r, errors.ScimError{Status: http.StatusMethodNotAllowed, Detail: "discovery endpoints are read-only"})
		return
	}
	if r.URL.Query().Has("filter") {
		s.fail(w, r, errors.ScimError{Status: http.StatusForbidden, Detail: "discovery endpoints take no filter (RFC 7644 §4)"})
		return
	}
	id := ""
	if len(segs) > 1 {
		id = segs[1]
	}
	base := s.base(r)
	var all []map[string]any
	switch strings.ToLower(segs[0]) {
	case "serviceproviderconfig":
		if id != "" {
			s.fail(w, r, scimErr(errNotFound, "no such endpoint: %s", r.URL.Path))
			return
		}
		s.write(w, http.StatusOK, s.serviceProviderConfig(base))
		return
	case "resourcetypes":
		all = resourceTypes(base)
	default:
		all = s.schemas(base)
	}
	if id == "" {
		s.write(w, http.StatusOK, map[string]any{"schemas": []string{listSchema}, "totalResults": len(all), "itemsPerPage": len(all), "startIndex": 1, "Resources": all})
		return
	}
	for _, doc := range all {
		if strings.EqualFold(doc["id"].(string), id) {
			s.write(w, http.StatusOK, doc)
			return
		}
	}
	s.fail(w, r, scimErr(errNotFound, "no %s %q", segs[0], id))
}

func discoveryMeta(resourceType, location string) map[string]any {
	return map[string]any{"resourceType": resourceType, "location": location}
}

func (s *Server) serviceProviderConfig(base string) map[string]any {
	scheme := map[string]any{
		"type": "oauthbearertoken", "name": "Bearer token", "primary": true, "specUri": bearerSpec,
		"description": "A jitd token with the scim role, sent as Authorization: Bearer <token>; create one with jitd token create --name <client> --role scim",
	}
	doc := map[string]any{
		"schemas":               []string{spcSchema},
		"patch":                 map[string]any{"supported": true},
		"bulk":                  map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":                map[string]any{"supported": true, "maxResults": s.cfg.MaxResults},
		"changePassword":        map[string]any{"supported": true},
		"sort":                  map[string]any{"supported": false},
		"etag":                  map[string]any{"supported": false},
		"authenticationSchemes": []any{scheme},
		"meta":                  discoveryMeta("ServiceProviderConfig", base+"/ServiceProviderConfig"),
	}
	if s.docURL != "" {
		doc["documentationUri"] = s.docURL
		scheme["documentationUri"] = s.docURL
	}
	return doc
}

func resourceTypes(base string) []map[string]any {
	return []map[string]any{
		{"schemas": []string{resourceTypeSchema}, "id": "User", "name": "User", "endpoint": "/Users", "description": "People in the directory's provisioning area",
			"schema": UserSchema, "schemaExtensions": []any{map[string]any{"schema": EnterpriseSchema, "required": false}},
			"meta": discoveryMeta("ResourceType", base+"/ResourceTypes/User")},
		{"schemas": []string{resourceTypeSchema}, "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Groups in the directory's provisioning area",
			"schema": GroupSchema, "schemaExtensions": []any{},
			"meta": discoveryMeta("ResourceType", base+"/ResourceTypes/Group")},
	}
}

// schemas renders the schemas with the effective mapping's placement of
// each user attribute in its description.
func (s *Server) schemas(base string) []map[string]any {
	render := func(sch schema.Schema, container string, user bool) map[string]any {
		attrs := make([]any, 0, len(sch.Attributes))
		for _, a := range sch.Attributes {
			note := ""
			if user {
				note = s.mapping.placement(container, a)
			}
			attrs = append(attrs, renderAttribute(a, note))
		}
		return map[string]any{"schemas": []string{schemaSchema}, "id": sch.ID, "name": sch.Name.Value(), "description": sch.Description.Value(),
			"attributes": attrs, "meta": discoveryMeta("Schema", base+"/Schemas/"+url.PathEscape(sch.ID))}
	}
	return []map[string]any{
		render(userSchema.core, "", true),
		render(userSchema.ext[EnterpriseSchema], EnterpriseSchema, true),
		render(groupSchema.core, "", false),
	}
}

// renderAttribute writes every characteristic RFC 7643 §7 defines for an
// attribute; note, when given, ends the description.
func renderAttribute(a schema.CoreAttribute, note string) map[string]any {
	desc := a.Description()
	if note != "" {
		desc = strings.TrimSpace(desc + " " + note)
	}
	out := map[string]any{
		"name": a.Name(), "type": a.AttributeType(), "multiValued": a.MultiValued(), "description": desc,
		"required": a.Required(), "caseExact": a.CaseExact(), "mutability": a.Mutability(), "returned": a.Returned(),
		"uniqueness": a.Uniqueness(),
	}
	if cv := a.CanonicalValues(); len(cv) > 0 {
		out["canonicalValues"] = cv
	}
	if a.AttributeType() == "reference" {
		refs := a.ReferenceTypes()
		if len(refs) == 0 {
			refs = []schema.AttributeReferenceType{"external"}
		}
		out["referenceTypes"] = refs
	}
	if a.HasSubAttributes() {
		subs := make([]any, 0, len(a.SubAttributes()))
		for _, sa := range a.SubAttributes() {
			subs = append(subs, renderAttribute(sa, ""))
		}
		out["subAttributes"] = subs
	}
	return out
}
