// Package conf is what every component's configuration shares: a strict
// YAML decoder that names each problem by its YAML path, durations written
// as people write them ("90m", "3d"), and the Problems a Validate method
// returns. Each component owns its Config, its defaults and its Validate;
// core/config only composes them.
package conf

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a configuration, at a YAML path such as
// "directories[0].settings.url" ("" for the whole document).
type Problem struct {
	Path string
	Msg  string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// Problems is every problem found, in the order found. A component's
// Validate returns paths relative to its own section; whoever composes it
// prefixes them with Add.
type Problems []Problem

// Addf records a problem at path.
func (p *Problems) Addf(path, format string, args ...any) {
	*p = append(*p, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Add records q's problems under prefix (a section such as "expiry" or
// "directories[1].settings").
func (p *Problems) Add(prefix string, q Problems) {
	for _, x := range q {
		*p = append(*p, Problem{Path: Join(prefix, x.Path), Msg: x.Msg})
	}
}

// Err is p as an error, or nil when there is no problem.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return p
}

// Lines are the problems one per line, "path: message".
func (p Problems) Lines() []string {
	out := make([]string, len(p))
	for i, x := range p {
		out[i] = x.String()
	}
	return out
}

func (p Problems) Error() string { return "config: " + strings.Join(p.Lines(), "\nconfig: ") }

// Join makes the path of key (a field name or "[i]") under prefix.
func Join(prefix, key string) string {
	switch {
	case prefix == "":
		return key
	case key == "":
		return prefix
	case strings.HasPrefix(key, "["):
		return prefix + key
	}
	return prefix + "." + key
}

// Lift turns an error of "field: problem" lines (the form connector kinds and
// older validators report in) into Problems.
func Lift(err error) Problems {
	if err == nil {
		return nil
	}
	if p, ok := err.(Problems); ok {
		return p
	}
	var out Problems
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		if field, msg, ok := strings.Cut(l, ": "); ok && !strings.ContainsAny(field, " \t") {
			out = append(out, Problem{Path: field, Msg: msg})
		} else {
			out = append(out, Problem{Msg: l})
		}
	}
	return out
}
