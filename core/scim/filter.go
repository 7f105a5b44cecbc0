package scim

import (
	"encoding/json"
	"fmt"
	"slices"
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
		// Entra asks for emails[type eq "work"].value eq "x", which RFC
		// 7644's grammar lacks; it means emails[type eq "work" and value eq "x"].
		if alt := foldSubAttributeTests(s); alt != s {
			if e, err := filter.ParseFilter([]byte(alt)); err == nil {
				return e, nil
			}
		}
		return nil, fmt.Errorf("cannot parse the filter %q", s)
	}
	return e, nil
}

var compareOps = []string{"eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le", "pr"}

// foldSubAttributeTests rewrites attr[filter].sub op value into
// attr[filter and sub op value], outside quoted strings.
func foldSubAttributeTests(s string) string {
	var b strings.Builder
	inString, escaped := false, false
	open := -1 // index in b of the '[' being read
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case inString:
			b.WriteByte(ch)
			if escaped {
				escaped = false
			} else if ch == '\\' {
				escaped = true
			} else if ch == '"' {
				inString = false
			}
			continue
		case ch == '"':
			inString = true
		case ch == '[':
			open = b.Len()
		case ch == ']' && open >= 0 && i+1 < len(s) && s[i+1] == '.':
			sub, op, value, n, ok := subTest(s[i+2:])
			if ok {
				inner := b.String()[open+1:]
				head := b.String()[:open+1]
				b.Reset()
				if strings.Contains(strings.ToLower(inner), " or ") {
					inner = "(" + inner + ")" // the parser's grammar may refuse it, and the filter then fails
				}
				b.WriteString(head + inner + " and " + sub + " " + op)
				if value != "" {
					b.WriteString(" " + value)
				}
				b.WriteByte(']')
				i += 1 + n
				open = -1
				continue
			}
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// subTest reads "sub op value" at the start of s, returning how many bytes
// it took.
func subTest(s string) (sub, op, value string, n int, ok bool) {
	j := 0
	for j < len(s) && (s[j] == '_' || s[j] == '-' || s[j] == '$' || ('a' <= s[j]|0x20 && s[j]|0x20 <= 'z') || ('0' <= s[j] && s[j] <= '9')) {
		j++
	}
	if j == 0 || j >= len(s) || s[j] != ' ' {
		return "", "", "", 0, false
	}
	sub = s[:j]
	rest := strings.TrimLeft(s[j:], " ")
	skipped := len(s[j:]) - len(rest)
	if len(rest) < 2 {
		return "", "", "", 0, false
	}
	op = strings.ToLower(rest[:2])
	if !slices.Contains(compareOps, op) || (len(rest) > 2 && rest[2] != ' ' && rest[2] != ')') {
		return "", "", "", 0, false
	}
	n = j + skipped + 2
	if op == "pr" {
		return sub, op, "", n, true
	}
	v := strings.TrimLeft(rest[2:], " ")
	n += len(rest[2:]) - len(v)
	if strings.HasPrefix(v, `"`) {
		k, esc := 1, false
		for ; k < len(v); k++ {
			if esc {
				esc = false
			} else if v[k] == '\\' {
				esc = true
			} else if v[k] == '"' {
				break
			}
		}
		if k >= len(v) {
			return "", "", "", 0, false
		}
		return sub, op, v[:k+1], n + k + 1, true
	}
	k := 0
	for k < len(v) && v[k] != ' ' && v[k] != ')' {
		k++
	}
	if k == 0 {
		return "", "", "", 0, false
	}
	return sub, op, v[:k], n + k, true
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
	case *filter.ValuePath: // emails[type eq "work" and value eq "x"] needs emails.value eq "x"
		var out []*filter.AttributeExpression
		for _, t := range eqTerms(e.ValueFilter) {
			if strings.EqualFold(t.AttributePath.AttributeName, "value") && t.AttributePath.SubAttribute == nil {
				sub := "value"
				out = append(out, &filter.AttributeExpression{Operator: filter.EQ, CompareValue: t.CompareValue,
					AttributePath: filter.AttributePath{URIPrefix: e.AttributePath.URIPrefix, AttributeName: e.AttributePath.AttributeName, SubAttribute: &sub}})
			}
		}
		return out
	}
	return nil
}
