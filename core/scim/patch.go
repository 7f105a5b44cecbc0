package scim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/elimity-com/scim/errors"
	filter "github.com/scim2/filter-parser/v2"
)

// PATCH (RFC 7644 §3.5.2) as Okta and Entra send it: ops in any case
// ("Replace"), paths with value filters (emails[type eq "work"].value),
// URN-qualified paths and bare extension URNs, and path-less ops whose
// value holds attributes, dotted paths or URNs.

// patchOp is one operation of a PatchOp request.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// patchRequest is the body of a PATCH.
type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

// target is where a PATCH path points: an attribute of the core schema or
// of an extension, optionally a sub-attribute, optionally only the
// elements of a multi-valued attribute that pass a filter.
type target struct {
	container string // "" (core) or an extension URN
	attr      string
	sub       string
	where     filter.Expression
}

func scimErr(base errors.ScimError, format string, args ...any) errors.ScimError {
	base.Detail = fmt.Sprintf(format, args...)
	return base
}

// parsePath reads a PATCH path. A bare extension URN targets the whole
// extension (attr "").
func parsePath(path string, extensions []string) (target, error) {
	if len(path) > 1024 {
		return target{}, scimErr(errors.ScimErrorInvalidPath, "the path is longer than 1024 bytes")
	}
	rest := path
	var t target
	for _, urn := range append([]string{UserSchema, GroupSchema}, extensions...) {
		if strings.EqualFold(path, urn) && urn != UserSchema && urn != GroupSchema {
			return target{container: urn}, nil
		}
		if len(path) > len(urn) && strings.EqualFold(path[:len(urn)+1], urn+":") {
			rest = path[len(urn)+1:]
			if urn != UserSchema && urn != GroupSchema {
				t.container = urn
			}
			break
		}
	}
	p, err := filter.ParsePath([]byte(rest))
	if err != nil || p.AttributePath.URIPrefix != nil {
		return target{}, scimErr(errors.ScimErrorInvalidPath, "cannot parse the path %q", path)
	}
	t.attr = p.AttributePath.AttributeName
	t.where = p.ValueExpression
	t.sub = p.AttributePath.SubAttributeName()
	if s := p.SubAttributeName(); s != "" {
		t.sub = s
	}
	return t, nil
}

// applyPatch applies one operation to a resource. known says which
// attributes exist (canonical names by container) and which are
// multi-valued.
func applyPatch(doc map[string]any, op patchOp, sch resourceSchema) error {
	kind := strings.ToLower(op.Op)
	switch kind {
	case "add", "replace", "remove":
	default:
		return scimErr(errors.ScimErrorInvalidSyntax, "op must be add, replace or remove (got %q)", op.Op)
	}
	if op.Path == "" {
		if kind == "remove" {
			return scimErr(errors.ScimErrorNoTarget, "remove needs a path")
		}
		obj, ok := op.Value.(map[string]any)
		if !ok {
			return scimErr(errors.ScimErrorInvalidValue, "an op without a path needs an object value")
		}
		for k, v := range obj {
			if strings.EqualFold(k, "schemas") {
				continue
			}
			if _, id, _ := lookup(doc, "id"); strings.EqualFold(k, "id") && v == id { // some clients repeat the id
				continue
			}
			if err := applyPatch(doc, patchOp{Op: kind, Path: k, Value: v}, sch); err != nil {
				return err
			}
		}
		return nil
	}
	t, err := parsePath(op.Path, sch.extensions)
	if err != nil {
		return err
	}
	holder := doc
	if t.container != "" {
		k, v, _ := lookup(doc, t.container)
		if k == "" {
			k = t.container
		}
		m, _ := v.(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		doc[k] = m
		holder = m
		if t.attr == "" { // the whole extension
			if kind == "remove" {
				delete(doc, k)
				return nil
			}
			obj, ok := op.Value.(map[string]any)
			if !ok {
				return scimErr(errors.ScimErrorInvalidValue, "%s needs an object value", op.Path)
			}
			for ak, av := range obj {
				if strings.EqualFold(ak, "schemas") { // some clients repeat the extension's schemas
					continue
				}
				if err := applyPatch(doc, patchOp{Op: kind, Path: t.container + ":" + ak, Value: av}, sch); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if t.container == "" && (strings.EqualFold(t.attr, "id") || strings.EqualFold(t.attr, "meta")) {
		return scimErr(errors.ScimErrorMutability, "%s is read-only", t.attr)
	}
	a, ok := sch.attribute(t.container, t.attr)
	switch {
	case !ok && t.container == "" && strings.EqualFold(t.attr, "externalId") && t.sub == "" && t.where == nil:
		if kind == "remove" {
			delete(doc, "externalId")
		} else {
			doc["externalId"] = op.Value
		}
		return nil
	case !ok:
		return scimErr(errors.ScimErrorInvalidPath, "%q is not an attribute jitd keeps (GET /Schemas lists them)", op.Path)
	case t.sub != "" && a.HasSubAttributes():
		if _, ok := a.SubAttributes().ContainsAttribute(t.sub); !ok {
			return scimErr(errors.ScimErrorInvalidPath, "%q: %s has no sub-attribute %s", op.Path, a.Name(), t.sub)
		}
	case t.sub != "":
		return scimErr(errors.ScimErrorInvalidPath, "%q: %s has no sub-attributes", op.Path, a.Name())
	}
	name, multi := a.Name(), a.MultiValued()
	if sch.readOnly(name) {
		return scimErr(errors.ScimErrorMutability, "%s is read-only", name)
	}
	if kind == "remove" && name == "password" {
		return scimErr(errors.ScimErrorMutability, "password cannot be removed, only replaced")
	}
	key, current, _ := lookup(holder, name)
	if key == "" {
		key = name
	}
	switch {
	case t.where != nil:
		return patchElements(holder, key, current, kind, t, op)
	case t.sub != "":
		sub, _ := current.(map[string]any)
		if sub == nil {
			if kind == "remove" {
				return nil
			}
			sub = map[string]any{}
		}
		setSub(sub, t.sub, op.Value, kind == "remove")
		holder[key] = sub
	case kind == "remove":
		if list, ok := current.([]any); ok && op.Value != nil {
			holder[key] = withoutValues(list, op.Value)
			return nil
		}
		delete(holder, key)
	case multi:
		add := asList(op.Value)
		if kind == "replace" {
			holder[key] = add
			return nil
		}
		list, _ := current.([]any)
		if slices.ContainsFunc(add, isPrimary) { // the new primary value replaces the old (RFC 7644 §3.5.2.1)
			for _, el := range list {
				if m, ok := el.(map[string]any); ok && isPrimary(m) {
					pk, _, _ := lookup(m, "primary")
					m[pk] = false
				}
			}
		}
		holder[key] = append(list, add...)
	default:
		if m, ok := op.Value.(map[string]any); ok {
			if cur, ok := current.(map[string]any); ok { // merge sub-attributes
				for k, v := range m {
					ck, _, _ := lookup(cur, k)
					if ck == "" {
						ck = k
					}
					cur[ck] = v
				}
				return nil
			}
		}
		holder[key] = op.Value
	}
	return nil
}

// isPrimary reports whether an element of a multi-valued attribute is
// marked primary.
func isPrimary(el any) bool {
	m, _ := el.(map[string]any)
	_, p, _ := lookup(m, "primary")
	return p == true
}

// patchElements applies an op to the elements of a multi-valued attribute
// that pass its filter. A replace or add that matches nothing, with a
// filter of the form `type eq "work"`, adds such an element: clients send
// emails[type eq "work"].value for users who have no work email yet.
func patchElements(holder map[string]any, key string, current any, kind string, t target, op patchOp) error {
	list, _ := current.([]any)
	var kept []any
	hit := false
	for _, el := range list {
		m, ok := el.(map[string]any)
		if !ok || !matches(t.where, m) {
			kept = append(kept, el)
			continue
		}
		hit = true
		switch {
		case kind == "remove" && t.sub == "":
			continue // drop the element
		case kind == "remove":
			if sk, _, ok := lookup(m, t.sub); ok {
				delete(m, sk)
			}
		case t.sub != "":
			sk, _, _ := lookup(m, t.sub)
			if sk == "" {
				sk = t.sub
			}
			m[sk] = op.Value
		default:
			if v, ok := op.Value.(map[string]any); ok {
				for k, x := range v {
					m[k] = x
				}
			}
		}
		kept = append(kept, m)
	}
	if !hit && kind != "remove" {
		eq, ok := t.where.(*filter.AttributeExpression)
		if !ok || eq.Operator != filter.EQ {
			return scimErr(errors.ScimErrorNoTarget, "no element of %s passes the filter", key)
		}
		el := map[string]any{eq.AttributePath.AttributeName: eq.CompareValue}
		if t.sub != "" {
			el[t.sub] = op.Value
		} else if v, ok := op.Value.(map[string]any); ok {
			for k, x := range v {
				el[k] = x
			}
		}
		kept = append(kept, el)
	}
	holder[key] = kept
	return nil
}

func asList(v any) []any {
	if list, ok := v.([]any); ok {
		return list
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// withoutValues drops the elements whose value is among those of v.
func withoutValues(list []any, v any) []any {
	drop := map[string]bool{}
	for _, x := range asList(v) {
		if s := elementValue(x); s != "" {
			drop[s] = true
		}
	}
	var out []any
	for _, el := range list {
		if !drop[elementValue(el)] {
			out = append(out, el)
		}
	}
	return out
}

// elementValue is the "value" of an element of a multi-valued attribute.
func elementValue(el any) string {
	if s, ok := el.(string); ok {
		return s
	}
	m, _ := el.(map[string]any)
	_, v, _ := lookup(m, "value")
	s, _ := v.(string)
	return s
}
