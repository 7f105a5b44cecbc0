package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var monday10 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func rules() []Rule {
	return []Rule{
		{Name: "night-freeze", Match: `request.group == "prod-db-admins" && (context.hour < 6 || context.hour >= 22)`, Eligible: "false"},
		{Name: "dba", Match: `request.group == "prod-db-admins"`, Eligible: `"dba" in requester.groups`, MaxDuration: 4 * time.Hour,
			Approvals:   []Step{{Any: 1, Groups: []string{"dba-leads"}}, {Any: 1, Users: []string{"carol", "dave"}}},
			AutoApprove: `context.mfa && context.risk < 0.3 && request.duration <= duration("1h")`},
		{Name: "self-service", Match: `request.group.startsWith("read-")`},
	}
}

func compile(t *testing.T) *Policy {
	t.Helper()
	p, err := Compile(rules(), []Separation{{Name: "payments", Groups: []string{"payments-approve", "payments-release"}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecide(t *testing.T) {
	p := compile(t)
	base := Input{User: "alice", Directory: "corp", Group: "prod-db-admins", Duration: 2 * time.Hour, Groups: []string{"dba", "staff"}, Time: monday10, Risk: 0.5}
	for _, tc := range []struct {
		name    string
		change  func(*Input)
		allowed bool
		auto    bool
		steps   int
		rule    string
		reason  string
	}{
		{"eligible, two steps", func(*Input) {}, true, false, 2, "dba", ""},
		{"not in dba", func(in *Input) { in.Groups = []string{"staff"} }, false, false, 0, "dba", "alice is not eligible"},
		{"no rule covers", func(in *Input) { in.Group = "payroll" }, false, false, 0, "", "no rule lets alice request payroll"},
		{"too long", func(in *Input) { in.Duration = 5 * time.Hour }, false, false, 0, "dba", "at most 4h0m0s"},
		{"low risk, MFA, short: auto", func(in *Input) { in.MFA, in.Risk, in.Duration = true, 0.1, time.Hour }, true, true, 0, "dba", ""},
		{"no MFA: approvals", func(in *Input) { in.Risk, in.Duration = 0.1, time.Hour }, true, false, 2, "dba", ""},
		{"at night: frozen", func(in *Input) { in.Time = monday10.Add(13 * time.Hour) }, false, false, 0, "night-freeze", "not eligible"},
		{"self-service group", func(in *Input) { in.Group = "read-logs"; in.Groups = nil }, true, true, 0, "self-service", ""},
		{"separation of duties", func(in *Input) { in.Group = "payments-release"; in.Held = []string{"payments-approve"} }, false, false, 0, "", "separation of duties (payments)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			tc.change(&in)
			d := p.Decide(in)
			if d.Allowed != tc.allowed || d.Auto != tc.auto || len(d.Steps) != tc.steps || d.Rule != tc.rule || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("decision %+v", d)
			}
			if len(d.Explain) == 0 {
				t.Fatal("no explanation")
			}
		})
	}
}

// Every problem in a rule set is reported, with the path of the expression.
func TestCompileReportsEveryProblemWithItsPath(t *testing.T) {
	_, err := Compile([]Rule{
		{Name: "a", Match: `request.gruop == "x"`},                     // unknown variable
		{Name: "a", Eligible: `requester.groups`},                      // not a bool; name used twice
		{Name: "", AutoApprove: `context.risk < `},                     // syntax; no name
		{Name: "b", Approvals: []Step{{Any: 3, Users: []string{"x"}}}}, // any > users
		{Name: "c", MaxDuration: -time.Hour, Approvals: []Step{{}}},
	}, []Separation{{Name: "s", Groups: []string{"only-one"}}})
	var paths []string
	for _, e := range unwrap(err) {
		var ce *CompileError
		if !errors.As(e, &ce) {
			t.Fatalf("not a CompileError: %v", e)
		}
		paths = append(paths, ce.Path)
	}
	want := []string{"rules[0].match", "rules[1].name", "rules[1].eligible", "rules[2].name", "rules[2].auto_approve", "rules[3].approvals[0].any",
		"rules[4].max_duration", "rules[4].approvals[0]", "separation[0].groups"}
	for _, w := range want {
		found := false
		for _, p := range paths {
			found = found || p == w
		}
		if !found {
			t.Errorf("no problem reported at %s (got %v)", w, paths)
		}
	}
}

func unwrap(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// FuzzCompile: whatever text a rule holds, compiling it reports a problem or
// yields a policy whose decisions do not panic.
func FuzzCompile(f *testing.F) {
	for _, r := range rules() {
		f.Add(r.Match)
		f.Add(r.Eligible)
		f.Add(r.AutoApprove)
	}
	f.Add(`requester.attributes["dept"] == "ops" && request.ticket.matches("^CHG-[0-9]+$")`)
	f.Add(`context.time > timestamp("2026-01-01T00:00:00Z")`)
	f.Fuzz(func(t *testing.T, expr string) {
		p, err := Compile([]Rule{{Name: "r", Match: expr, Eligible: expr, AutoApprove: expr}}, nil)
		if err != nil {
			return
		}
		p.Decide(Input{User: "u", Group: "g", Duration: time.Hour, Time: monday10})
	})
}
