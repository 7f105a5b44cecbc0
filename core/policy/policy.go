// Package policy decides access requests from rules written in CEL: which
// requests a rule covers, who is eligible, the longest grant it allows, the
// approval chain, and when no approval is needed. Separation-of-duties sets
// ("never two of these groups at once") are checked before any rule. Rules
// are compiled and type-checked once, when the configuration is loaded, and
// every decision explains itself rule by rule.
package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"

	"github.com/jitd/jitd/core/conf"
)

// Rule is one policy rule. Expressions are CEL over the variables listed in
// Variables; an empty Match covers every request, an empty Eligible lets
// everyone the rule covers ask.
type Rule struct {
	Name        string        `yaml:"name"`
	Match       string        `yaml:"match"`
	Eligible    string        `yaml:"eligible"`
	MaxDuration time.Duration `yaml:"max_duration"` // 0: the group's own maximum
	// Approvals are the steps, all required, in order; none means the
	// request is approved as soon as it is made.
	Approvals []Step `yaml:"approvals"`
	// AutoApprove, when it holds, skips the approval steps (risk-based
	// auto-approval, say).
	AutoApprove string `yaml:"auto_approve"`
}

// Step is one approval step: Any (default 1) of Users or members of Groups.
type Step struct {
	Any    int      `yaml:"any"`
	Users  []string `yaml:"users"`
	Groups []string `yaml:"groups"`
}

// Separation is a separation-of-duties set: nobody may hold two of Groups at
// once (through grants or standing membership).
type Separation struct {
	Name   string   `yaml:"name"`
	Groups []string `yaml:"groups"`
}

// Config is the policy section of the configuration: the rules, the
// separation-of-duties sets, and where context.risk comes from.
type Config struct {
	Rules      []Rule       `yaml:"rules"`
	Separation []Separation `yaml:"separation"`
	// Risk is where context.risk comes from (0 without it).
	Risk *RiskConfig `yaml:"risk"`
}

// Compile compiles the rules and checks the risk source, returning every
// problem at its path in the section.
func (c Config) Compile() (*Policy, conf.Problems) {
	var p conf.Problems
	if c.Risk != nil {
		p.Add("risk", conf.Lift(c.Risk.Validate()))
	}
	pol, err := Compile(c.Rules, c.Separation)
	var ce *CompileError
	for _, e := range unjoin(err) {
		if errors.As(e, &ce) {
			p.Addf(ce.Path, "%v", ce.Err)
		} else {
			p.Addf("", "%v", e)
		}
	}
	return pol, p
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// Variables are what rule expressions can read.
var Variables = map[string]*cel.Type{
	"request.user":         cel.StringType,
	"request.directory":    cel.StringType,
	"request.group":        cel.StringType,
	"request.duration":     cel.DurationType,
	"request.reason":       cel.StringType,
	"request.ticket":       cel.StringType,
	"requester.login":      cel.StringType,
	"requester.groups":     cel.ListType(cel.StringType),
	"requester.attributes": cel.MapType(cel.StringType, cel.StringType),
	"requester.manager":    cel.StringType,
	"requester.jit_groups": cel.ListType(cel.StringType),
	"context.time":         cel.TimestampType,
	"context.hour":         cel.IntType,
	"context.weekday":      cel.StringType,
	"context.risk":         cel.DoubleType,
	"context.mfa":          cel.BoolType,
	"context.breakglass":   cel.BoolType,
	"context.onboarding":   cel.BoolType,
}

// Input is what a decision is made on.
type Input struct {
	User, Directory, Group, Reason, Ticket string
	Duration                               time.Duration
	// Groups are the requester's groups in the directory (from the mirror);
	// Held are the groups they hold now, by grant or standing membership,
	// for separation of duties.
	Groups     []string
	Held       []string
	Attributes map[string]string
	Manager    string // the manager's login, "" if none is known
	Time       time.Time
	Risk       float64
	MFA        bool
	BreakGlass bool
	// Onboarding: a contractor, not yet in the directory, asks through an
	// invite for an account with this group.
	Onboarding bool
	// JITGroups are the groups an access review turned from the
	// requester's standing access into access by request.
	JITGroups []string
}

func (in Input) vars() map[string]any {
	attrs := in.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	groups := in.Groups
	if groups == nil {
		groups = []string{}
	}
	jit := in.JITGroups
	if jit == nil {
		jit = []string{}
	}
	return map[string]any{
		"requester.jit_groups": jit,
		"request.user":         in.User, "request.directory": in.Directory, "request.group": in.Group,
		"request.duration": in.Duration, "request.reason": in.Reason, "request.ticket": in.Ticket,
		"requester.login": in.User, "requester.groups": groups, "requester.attributes": attrs,
		"requester.manager": in.Manager,
		"context.time":      in.Time.UTC(), "context.hour": int64(in.Time.UTC().Hour()), "context.weekday": in.Time.UTC().Weekday().String(),
		"context.risk": in.Risk, "context.mfa": in.MFA, "context.breakglass": in.BreakGlass,
		"context.onboarding": in.Onboarding,
	}
}

// Policy is a compiled rule set.
type Policy struct {
	rules      []compiled
	separation []Separation
	// literals are the strings the rule expressions name: any of them may
	// be a group whose members the rules favour.
	literals []string
}

type compiled struct {
	Rule
	match, eligible, auto cel.Program
}

// CompileError is one rule expression that does not compile; Path names it
// ("rules[2].eligible").
type CompileError struct {
	Path string
	Err  error
}

func (e *CompileError) Error() string { return e.Path + ": " + e.Err.Error() }

func newEnv() (*cel.Env, error) {
	opts := []cel.EnvOption{}
	for name, t := range Variables {
		opts = append(opts, cel.Variable(name, t))
	}
	return cel.NewEnv(opts...)
}

// Compile compiles and type-checks every expression, and checks the steps
// and separation sets. It returns every problem (as *CompileError values
// joined), not just the first.
func Compile(rules []Rule, separation []Separation) (*Policy, error) {
	env, err := newEnv()
	if err != nil {
		return nil, err
	}
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &CompileError{Path: path, Err: fmt.Errorf(format, args...)})
	}
	var literals []string
	prog := func(path, src string) cel.Program {
		if strings.TrimSpace(src) == "" {
			return nil
		}
		ast, iss := env.Compile(src)
		if iss != nil && iss.Err() != nil {
			bad(path, "%s", strings.ReplaceAll(iss.Err().Error(), "\n", " "))
			return nil
		}
		celast.PreOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
			if e.Kind() == celast.LiteralKind {
				if v, ok := e.AsLiteral().(types.String); ok {
					literals = append(literals, string(v))
				}
			}
		}))
		if ast.OutputType() != cel.BoolType {
			bad(path, "must be true or false, but is %s", ast.OutputType())
			return nil
		}
		p, err := env.Program(ast)
		if err != nil {
			bad(path, "%v", err)
			return nil
		}
		return p
	}
	p := &Policy{separation: separation}
	names := map[string]bool{}
	for i, r := range rules {
		path := fmt.Sprintf("rules[%d]", i)
		switch {
		case strings.TrimSpace(r.Name) == "":
			bad(path+".name", "required")
		case names[r.Name]:
			bad(path+".name", "%q is used by another rule", r.Name)
		}
		names[r.Name] = true
		if r.MaxDuration < 0 {
			bad(path+".max_duration", "must not be negative")
		}
		for j, s := range r.Approvals {
			sp := fmt.Sprintf("%s.approvals[%d]", path, j)
			if len(s.Users)+len(s.Groups) == 0 {
				bad(sp, "name users or groups who may approve")
			}
			if s.Any < 0 || (len(s.Groups) == 0 && s.Any > len(s.Users)) {
				bad(sp+".any", "must be between 1 and the number of users named (%d)", len(s.Users))
			}
		}
		r.Approvals = slices.Clone(r.Approvals)
		for j := range r.Approvals {
			r.Approvals[j].Any = max(r.Approvals[j].Any, 1) // "any" left out: one
		}
		p.rules = append(p.rules, compiled{Rule: r,
			match: prog(path+".match", r.Match), eligible: prog(path+".eligible", r.Eligible), auto: prog(path+".auto_approve", r.AutoApprove)})
	}
	for i, s := range separation {
		if len(s.Groups) < 2 {
			bad(fmt.Sprintf("separation[%d].groups", i), "name at least two groups that nobody may hold together")
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p.literals = literals
	return p, nil
}

// Groups returns every group name the policy may rely on: the groups of
// approval steps and separation sets, and every string a rule expression
// names (a rule such as '"dba" in requester.groups' trusts the members of
// dba). Whoever can change those groups' members can change what the
// policy allows, so nothing but the directory's own administrators may.
func (p *Policy) Groups() []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, r := range p.rules {
		for _, s := range r.Approvals {
			out = append(out, s.Groups...)
		}
	}
	for _, s := range p.separation {
		out = append(out, s.Groups...)
	}
	out = append(out, p.literals...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Separations returns the separation-of-duties sets.
func (p *Policy) Separations() []Separation { return slices.Clone(p.separation) }

// Separate checks the separation-of-duties sets alone (break-glass skips
// the rules, never these). It explains each set that concerns the group and
// reports whether one refuses the request; the refusal is the last line.
func (p *Policy) Separate(in Input) (explain []string, refused bool) {
	for _, s := range p.separation {
		if !slices.Contains(s.Groups, in.Group) {
			continue
		}
		for _, held := range in.Held {
			if held != in.Group && slices.Contains(s.Groups, held) {
				return append(explain, fmt.Sprintf("separation of duties (%s): %s already holds %s, which may not be held together with %s", s.Name, in.User, held, in.Group)), true
			}
		}
		explain = append(explain, fmt.Sprintf("separation of duties (%s): holds none of the other groups", s.Name))
	}
	return explain, false
}

// Decision is the outcome for one request, with the reasons.
type Decision struct {
	Allowed     bool
	Rule        string        // the rule that decided
	MaxDuration time.Duration // 0: the group's own maximum
	Steps       []Step        // approval steps still required
	Auto        bool          // approved without anyone
	// Explain says, rule by rule, what was checked and what it gave.
	Explain []string
	// Reason says why the request is refused, for the requester.
	Reason string
}

func eval(p cel.Program, vars map[string]any) (bool, error) {
	if p == nil {
		return true, nil
	}
	out, _, err := p.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("gave %v, not true or false", out.Value())
	}
	return b, nil
}

// Decide applies separation of duties, then the first rule that covers the
// request: it allows (with its maximum, steps or auto-approval) if the
// requester is eligible, and refuses otherwise.
func (p *Policy) Decide(in Input) Decision {
	var d Decision
	var refused bool
	d.Explain, refused = p.Separate(in)
	if refused {
		d.Reason = d.Explain[len(d.Explain)-1]
		return d
	}
	vars := in.vars()
	for _, r := range p.rules {
		match, err := eval(r.match, vars)
		if err != nil {
			d.Explain = append(d.Explain, fmt.Sprintf("rule %s: match failed: %v (rule skipped)", r.Name, err))
			continue
		}
		if !match {
			d.Explain = append(d.Explain, fmt.Sprintf("rule %s: does not cover this request", r.Name))
			continue
		}
		// The first rule that covers the request decides it, so a rule can
		// also refuse (eligible: false), like a firewall's first match.
		d.Rule = r.Name
		eligible, err := eval(r.eligible, vars)
		if err != nil {
			d.Reason = fmt.Sprintf("rule %s covers the request, but its eligibility check failed: %v", r.Name, err)
			d.Explain = append(d.Explain, d.Reason)
			return d
		}
		if !eligible {
			d.Reason = fmt.Sprintf("rule %s covers the request, and %s is not eligible (%s)", r.Name, in.User, r.Eligible)
			d.Explain = append(d.Explain, d.Reason)
			return d
		}
		d.MaxDuration = r.MaxDuration
		if r.MaxDuration > 0 && in.Duration > r.MaxDuration {
			d.Reason = fmt.Sprintf("rule %s allows at most %s, %s was asked for", r.Name, r.MaxDuration, in.Duration)
			d.Explain = append(d.Explain, "rule "+r.Name+": "+d.Reason)
			return d
		}
		d.Allowed = true
		auto, err := eval(r.auto, vars)
		switch {
		case err != nil:
			d.Explain = append(d.Explain, fmt.Sprintf("rule %s: auto-approval failed: %v (approvals required)", r.Name, err))
			d.Steps = r.Approvals
		case r.auto != nil && auto:
			d.Auto = true
			d.Explain = append(d.Explain, fmt.Sprintf("rule %s: eligible; auto-approved (%s)", r.Name, r.AutoApprove))
		case len(r.Approvals) == 0:
			d.Auto = true
			d.Explain = append(d.Explain, fmt.Sprintf("rule %s: eligible; no approval required", r.Name))
		default:
			d.Steps = r.Approvals
			d.Explain = append(d.Explain, fmt.Sprintf("rule %s: eligible; %d approval step(s) required", r.Name, len(r.Approvals)))
		}
		return d
	}
	d.Reason = fmt.Sprintf("no rule lets %s request %s", in.User, in.Group)
	d.Explain = append(d.Explain, d.Reason)
	return d
}
