package scim

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"
)

// Filters (RFC 7644 §3.4.2.2) are parsed by scim2/filter-parser and
// evaluated here against a resource as clients see it, so id, externalId
// and meta.* filter like any schema attribute. Attribute names are matched
// without regard to case; string comparisons too, except for the
// case-exact id and externalId.

// parseFilter parses a filter, bounding its size so a hostile one cannot
// make the server work hard.
func parseFilter(s string) (filter.Expression, error) {
	if len(s) > 4096 {
		return nil, fmt.Errorf("the filter is longer than 4096 bytes")
	}
	e, err := filter.ParseFilter([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("cannot parse the filter %q", s)
	}
	return e, nil
}

// matches reports whether a resource passes the filter.
func matches(e filter.Expression, doc map[string]any) bool {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		if e.Operator == filter.AND {
			return matches(e.Left, doc) && matches(e.Right, doc)
		}
		return matches(e.Left, doc) || matches(e.Right, doc)
	case *filter.NotExpression:
		return !matches(e.Expression, doc)
	case *filter.ValuePath:
		for _, el := range elements(doc, e.AttributePath) {
			if m, ok := el.(map[string]any); ok && matches(e.ValueFilter, m) {
				return true
			}
		}
		return false
	case *filter.AttributeExpression:
		values := attrValues(doc, e.AttributePath)
		if e.Operator == filter.PR {
			for _, v := range values {
				if present(v) {
					return true
				}
			}
			return false
		}
		exact := caseExact(e.AttributePath)
		if e.Operator == filter.NE {
			for _, v := range values {
				if compare(filter.EQ, v, e.CompareValue, exact) {
					return false
				}
			}
			return true
		}
		for _, v := range values {
			if compare(e.Operator, v, e.CompareValue, exact) {
				return true
			}
		}
	}
	return false
}

func caseExact(p filter.AttributePath) bool {
	return p.SubAttribute == nil && (strings.EqualFold(p.AttributeName, "id") || strings.EqualFold(p.AttributeName, "externalId"))
}

func present(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

// scope returns the object a path's URI prefix points into.
func scope(doc map[string]any, p filter.AttributePath) map[string]any {
	uri := p.URI()
	if uri == "" || strings.EqualFold(uri, UserSchema) || strings.EqualFold(uri, GroupSchema) {
		return doc
	}
	_, v, _ := lookup(doc, uri)
	m, _ := v.(map[string]any)
	return m
}

// elements returns the values of a path's attribute, a multi-valued one
// as its elements.
func elements(doc map[string]any, p filter.AttributePath) []any {
	_, v, ok := lookup(scope(doc, p), p.AttributeName)
	if !ok {
		return nil
	}
	if list, ok := v.([]any); ok {
		return list
	}
	return []any{v}
}

// attrValues returns what a path names: a multi-valued attribute's
// elements' values (emails eq "x" compares emails.value), a complex
// attribute's sub-attribute.
func attrValues(doc map[string]any, p filter.AttributePath) []any {
	sub := p.SubAttributeName()
	var out []any
	for _, el := range elements(doc, p) {
		m, isMap := el.(map[string]any)
		switch {
		case sub != "" && isMap:
			if _, v, ok := lookup(m, sub); ok {
				out = append(out, v)
			}
		case sub == "" && isMap:
			if _, v, ok := lookup(m, "value"); ok {
				out = append(out, v)
			}
		case sub == "":
			out = append(out, el)
		}
	}
	return out
}

func compare(op filter.CompareOperator, have, want any, exact bool) bool {
	switch w := want.(type) {
	case string:
		h, ok := have.(string)
		if !ok {
			return false
		}
		if ht, err := time.Parse(time.RFC3339, h); err == nil {
			if wt, err := time.Parse(time.RFC3339, w); err == nil {
				return order(op, ht.Compare(wt))
			}
		}
		if !exact {
			h, w = strings.ToLower(h), strings.ToLower(w)
		}
		switch op {
		case filter.CO:
			return strings.Contains(h, w)
		case filter.SW:
			return strings.HasPrefix(h, w)
		case filter.EW:
			return strings.HasSuffix(h, w)
		}
		return order(op, strings.Compare(h, w))
	case bool:
		h, ok := boolValue(have)
		return ok && op == filter.EQ && h == w
	case nil:
		return op == filter.EQ && !present(have)
	default:
		wf, ok := number(w)
		hf, ok2 := number(have)
		if !ok || !ok2 {
			return false
		}
		switch {
		case hf < wf:
			return order(op, -1)
		case hf > wf:
			return order(op, 1)
		}
		return order(op, 0)
	}
}

func order(op filter.CompareOperator, c int) bool {
	switch op {
	case filter.EQ:
		return c == 0
	case filter.GT:
		return c > 0
	case filter.GE:
		return c >= 0
	case filter.LT:
		return c < 0
	case filter.LE:
		return c <= 0
	}
	return false
}

func boolValue(v any) (bool, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		switch strings.ToLower(v) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case float64:
		return v, true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

// eqTerms returns the attribute-equals-value terms that every match of e
// must satisfy (those ANDed at the top), so a listing can ask the
// directory for candidates instead of reading everything.
func eqTerms(e filter.Expression) []*filter.AttributeExpression {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		if e.Operator == filter.EQ {
			if _, ok := e.CompareValue.(string); ok {
				return []*filter.AttributeExpression{e}
			}
		}
	case *filter.LogicalExpression:
		if e.Operator == filter.AND {
			return append(eqTerms(e.Left), eqTerms(e.Right)...)
		}
	}
	return nil
}
