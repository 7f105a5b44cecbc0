package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/core/api"
)

func policyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Explain the access-request policy"}
	var req api.PolicyTestRequest
	test := &cobra.Command{
		Use:     "test --directory D --user LOGIN --group NAME --for DURATION",
		Short:   "Show what the policy would decide for a request, rule by rule",
		Example: `  jitd policy test --directory corp-ad --user alice --group prod-db-admins --for 4h`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			d, err := c.TestPolicy(cmd.Context(), req)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, d)
			}
			verdict := "refused: " + d.Reason
			switch {
			case d.Allowed && d.Auto:
				verdict = "allowed, approved without anyone"
			case d.Allowed:
				var steps []string
				for i, s := range d.Steps {
					who := append(append([]string{}, s.Users...), prefixed("members of ", s.Groups)...)
					steps = append(steps, fmt.Sprintf("step %d: any %d of %s", i+1, s.Any, strings.Join(who, ", ")))
				}
				verdict = "allowed after approval (" + strings.Join(steps, "; ") + ")"
			}
			fmt.Fprintf(w, "Decision:  %s\n", verdict)
			if d.Rule != "" {
				fmt.Fprintf(w, "Rule:      %s\n", d.Rule)
			}
			if d.MaxDuration != "" {
				fmt.Fprintf(w, "Longest:   %s\n", d.MaxDuration)
			}
			fmt.Fprintf(w, "Groups:    %s\nHolds now: %s\n\nWhy:\n", strings.Join(d.Groups, ", "), strings.Join(d.Held, ", "))
			for _, line := range d.Explain {
				fmt.Fprintf(w, "  - %s\n", line)
			}
			return nil
		},
	}
	f := test.Flags()
	f.StringVar(&req.Directory, "directory", "", "directory (required)")
	f.StringVar(&req.User, "user", "", "requester's login (required)")
	f.StringVar(&req.Group, "group", "", "group asked for (required)")
	f.StringVar(&req.For, "for", "", "duration asked for (required)")
	f.StringVar(&req.Reason, "reason", "", "the request's reason")
	f.StringVar(&req.Ticket, "ticket", "", "the request's ticket")
	f.BoolVar(&req.MFA, "mfa", false, "as if the requester signed in with MFA")
	f.Float64Var(&req.Risk, "risk", 0, "as if the risk score were this")
	for _, name := range []string{"directory", "user", "group", "for"} {
		test.MarkFlagRequired(name)
	}
	cmd.AddCommand(test)
	return cmd
}

func prefixed(p string, xs []string) []string {
	var out []string
	for _, x := range xs {
		out = append(out, p+x)
	}
	return out
}
