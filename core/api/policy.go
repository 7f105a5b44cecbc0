package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/request"
)

// PolicyTestRequest asks what the policy would decide for a request.
type PolicyTestRequest struct {
	Directory  string  `json:"directory"`
	User       string  `json:"user"`
	Group      string  `json:"group"`
	For        string  `json:"for"`
	Reason     string  `json:"reason,omitempty"`
	Ticket     string  `json:"ticket,omitempty"`
	MFA        bool    `json:"mfa,omitempty"`
	Risk       float64 `json:"risk,omitempty"`
	BreakGlass bool    `json:"breakglass,omitempty"`
}

// PolicyStep is one approval step of a decision.
type PolicyStep struct {
	Any    int      `json:"any"`
	Users  []string `json:"users"`
	Groups []string `json:"groups"`
}

// PolicyDecision is the policy's answer, with its reasons.
type PolicyDecision struct {
	Allowed     bool         `json:"allowed"`
	Rule        string       `json:"rule,omitempty"`
	MaxDuration string       `json:"max_duration,omitempty"`
	Auto        bool         `json:"auto_approved"`
	Steps       []PolicyStep `json:"steps"`
	Reason      string       `json:"reason,omitempty"`
	Explain     []string     `json:"explain"`
	Groups      []string     `json:"requester_groups"`
	Held        []string     `json:"held"`
}

// testPolicy evaluates the policy for a would-be request, with the
// requester's groups from the mirror and what they hold now. People who may
// ask for access but not read the policy (requesters, approvers) may test
// only their own request, as they are signed in: their MFA is their
// session's, and risk is not theirs to set.
func (s *Server) testPolicy(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req PolicyTestRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if !auth.Allowed(p.Role, auth.PolicyRead) {
		if !auth.Allowed(p.Role, auth.RequestCreate) || (req.User != "" && !strings.EqualFold(req.User, p.Name)) {
			return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: fmt.Sprintf("role %s may test the policy only for its own requests", p.Role)}
		}
		req.User, req.MFA, req.Risk = p.Name, p.MFA, 0
		if req.Directory == "" {
			req.Directory = s.defaultDirectory
		}
	}
	d, err := parseFor(req.For)
	if err != nil {
		return err
	}
	if req.Directory == "" || req.User == "" || req.Group == "" || d == 0 {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "directory, user, group and for are required"}
	}
	in, err := request.Input(r.Context(), s.store, s.clock.Now(), req.Directory, req.User)
	if err != nil {
		return err
	}
	in.Group, in.Duration, in.Reason, in.Ticket, in.MFA, in.Risk, in.BreakGlass = req.Group, d, req.Reason, req.Ticket, req.MFA, req.Risk, req.BreakGlass
	pol := s.policyInForce()
	if pol == nil {
		if pol, err = policy.Compile(nil, nil); err != nil {
			return err
		}
	}
	dec := pol.Decide(in)
	out := PolicyDecision{Allowed: dec.Allowed, Rule: dec.Rule, Auto: dec.Auto, Reason: dec.Reason, Explain: dec.Explain,
		Steps: []PolicyStep{}, Groups: in.Groups, Held: in.Held}
	if dec.MaxDuration > 0 {
		out.MaxDuration = dec.MaxDuration.String()
	}
	for _, st := range dec.Steps {
		out.Steps = append(out.Steps, PolicyStep{Any: st.Any, Users: nonNil(st.Users), Groups: nonNil(st.Groups)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
