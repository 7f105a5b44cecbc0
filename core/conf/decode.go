package conf

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Decode parses YAML into v (a pointer to a struct holding what an empty
// document means) strictly and completely: it goes on past a problem, so one
// run reports them all, each at its YAML path — keys v has no field for
// (with the nearest known key), values of the wrong type, bad durations.
// A value is quoted in a problem only when it is short, so a secret pasted
// under the wrong key does not end up in a log.
func Decode(b []byte, v any) Problems {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file: the defaults
		}
		return Problems{{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	return DecodeNode(&doc, v)
}

// DecodeNode decodes a YAML node into v as Decode does, with paths relative
// to the node.
func DecodeNode(n *yaml.Node, v any) Problems {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("conf: DecodeNode needs a non-nil pointer")
	}
	var d decoder
	d.value(n, rv.Elem(), "")
	return d.problems
}

type decoder struct{ problems Problems }

var (
	durationType  = reflect.TypeFor[time.Duration]()
	nodeType      = reflect.TypeFor[yaml.Node]()
	unmarshalerT  = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshal = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (d *decoder) addf(path string, n *yaml.Node, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if n != nil && n.Line > 0 {
		msg += fmt.Sprintf(" (line %d)", n.Line)
	}
	d.problems = append(d.problems, Problem{Path: path, Msg: msg})
}

func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.DocumentNode {
			if len(n.Content) == 0 {
				return
			}
			n = n.Content[0]
		} else {
			n = n.Alias
		}
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		v.SetZero()
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path)
		return
	}
	if v.Type() == durationType {
		d.duration(n, v, path)
		return
	}
	if v.CanAddr() && (v.Addr().Type().Implements(unmarshalerT) || v.Addr().Type().Implements(textUnmarshal)) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.addf(path, n, "%s", cleanYAMLError(err))
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.addf(path, n, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.value(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.addf(path, n, "want a mapping (key: value), got %s", describe(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := reflect.New(v.Type().Key()).Elem()
			d.value(n.Content[i], k, path)
			e := reflect.New(v.Type().Elem()).Elem()
			d.value(n.Content[i+1], e, Join(path, n.Content[i].Value))
			v.SetMapIndex(k, e)
		}
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.addf(path, n, "%s", cleanYAMLError(err))
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.scalar(n, v, path)
	}
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.addf(path, n, "want %s, got %s", want(v.Type()), describe(n))
		return
	}
	ok := true
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		ok = err == nil && n.Tag == "!!bool"
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, v.Type().Bits())
		ok = err == nil && n.Tag == "!!int"
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, err := strconv.ParseUint(strings.ReplaceAll(n.Value, "_", ""), 0, v.Type().Bits())
		ok = err == nil && n.Tag == "!!int"
		v.SetUint(i)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, v.Type().Bits())
		ok = err == nil && (n.Tag == "!!int" || n.Tag == "!!float")
		v.SetFloat(f)
	default:
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.addf(path, n, "%s", cleanYAMLError(err))
		}
	}
	if !ok {
		d.addf(path, n, "want %s, got %s", want(v.Type()), describe(n))
	}
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.addf(path, n, "want a duration (90m, 2h30m, 3d), got %s", describe(n))
		return
	}
	dur, err := ParseDuration(n.Value)
	if err != nil {
		d.addf(path, n, "%v", err)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.addf(path, n, "want a mapping (key: value), got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		p := Join(path, key.Value)
		if key.Value == "<<" {
			d.addf(path, key, "YAML merge keys are not supported; write the settings out")
			continue
		}
		idx, ok := fields[key.Value]
		if !ok {
			d.addf(p, key, "unknown key%s", suggest(key.Value, fields))
			continue
		}
		if seen[key.Value] {
			d.addf(p, key, "set twice")
			continue
		}
		seen[key.Value] = true
		d.value(val, v.FieldByIndex(idx), p)
	}
}

// fieldsOf maps a struct's YAML keys to its field indexes, following
// `yaml:",inline"` structs.
func fieldsOf(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			for k, idx := range fieldsOf(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = []int{i}
	}
	return out
}

// suggest names the known key nearest to key, when one is near.
func suggest(key string, fields map[string][]int) string {
	lower := strings.ToLower(key)
	best, bestD := "", 3
	for k := range fields {
		dist := distance(lower, k)
		if min(len(lower), len(k)) >= 4 && (strings.HasPrefix(k, lower) || strings.HasPrefix(lower, k)) {
			dist = min(dist, 2) // bind_password for bind_password_env
		}
		if dist < bestD || (dist == bestD && k < best) {
			best, bestD = k, dist
		}
	}
	if best == "" {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range fields {
				if !yield(k) {
					return
				}
			}
		})
		return "; known keys here: " + strings.Join(keys, ", ")
	}
	return "; did you mean " + best + "?"
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func want(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.String()
}

// describe says what a node holds without repeating a long value (it may
// be a secret pasted in the wrong place).
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if len(n.Value) > 24 || n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return fmt.Sprintf("a value of %d characters", len(n.Value))
	}
	return strconv.Quote(n.Value)
}

func cleanYAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

var daysRE = regexp.MustCompile(`^(\d+)d$`)

// ParseDuration parses Go durations ("90m", "2h30m") and whole days ("3d"
// = 72h).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if m := daysRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 36500 {
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use Go syntax (90m, 2h30m) or days (3d)", s)
	}
	return d, nil
}

// FormatDuration writes d as ParseDuration reads it: whole days as "14d",
// anything else as Go writes it.
func FormatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}
