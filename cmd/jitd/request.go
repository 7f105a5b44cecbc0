package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
)

func requestCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "request", Short: "Ask for access, and follow your requests"}
	var req api.CreateRequestRequest
	var wait bool
	var start string
	create := &cobra.Command{
		Use:   "create (--group NAME | --extend GRANT-ID) --for DURATION --reason TEXT [--ticket ID] [--start TIME] [--wait]",
		Short: "Ask for temporary membership of a group, or more time on one of your grants (as the person your token names)",
		Example: `  jitd request create --group prod-db-admins --for 4h --reason "deploy 2.3" --ticket CHG-1042
  jitd request create --extend g-4sd0x --for 1h --reason "migration still running"
  jitd request create --group payments-release --for 2h --reason "release 2.4" --start 2026-12-06T22:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (req.Group == "") == (req.Extends == "") {
				return fmt.Errorf("give --group for a new grant, or --extend GRANT-ID for more time on one")
			}
			if start != "" {
				if d, err := time.ParseDuration(start); err == nil {
					req.StartsAt = time.Now().Add(d)
				} else if req.StartsAt, err = time.Parse(time.RFC3339, start); err != nil {
					return usageErr{fmt.Errorf("--start must be RFC 3339 (2026-12-06T22:00:00Z) or a time from now (90m) (got %q)", start)}
				}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			r, err := c.CreateRequest(cmd.Context(), req)
			if err != nil {
				return err
			}
			if wait && r.State == "pending" {
				if r, err = waitDecided(cmd, c, r); err != nil {
					return err
				}
			}
			if err := printRequest(cmd.OutOrStdout(), g, r); err != nil {
				return err
			}
			if wait && r.State != "approved" {
				return fmt.Errorf("request %s is %s%s", r.ID, r.State, suffix(": ", r.Detail))
			}
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&start, "start", "", "ask for the access from this time (RFC 3339, or from now: 90m); once approved, the grant is made then")
	f.BoolVar(&wait, "wait", false, "wait until the request is decided; exit 1 unless it is approved")
	f.StringVar(&req.Directory, "directory", "", "directory (needed when several are configured)")
	f.StringVar(&req.Group, "group", "", "group")
	f.StringVar(&req.Extends, "extend", "", "one of your active grants, to extend by --for")
	f.StringVar(&req.For, "for", "", "how long, from approval: 90m, 4h, 2d (required)")
	f.StringVar(&req.Reason, "reason", "", "why (required)")
	f.StringVar(&req.Ticket, "ticket", "", "change or incident ticket")
	for _, name := range []string{"for", "reason"} {
		create.MarkFlagRequired(name)
	}
	var filter apiclient.RequestFilter
	list := &cobra.Command{
		Use:   "list [--mine | --pending-my-approval]",
		Short: "List the requests you may see, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			rs, err := c.ListRequests(cmd.Context(), filter)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, rs)
			}
			t := table(w)
			fmt.Fprintln(t, "ID\tREQUESTER\tGROUP\tFOR\tSTATE\tSTEP\tCREATED\tREASON")
			for _, r := range rs {
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", r.ID, r.Requester, target(r), r.Duration, r.State, r.Step, len(r.Steps), stamp(r.CreatedAt), r.Reason)
			}
			return t.Flush()
		},
	}
	list.Flags().BoolVar(&filter.Mine, "mine", false, "only your own requests")
	list.Flags().BoolVar(&filter.PendingMyApproval, "pending-my-approval", false, "only pending requests you may decide")
	list.Flags().StringSliceVar(&filter.States, "state", nil, "only these states")
	list.MarkFlagsMutuallyExclusive("mine", "pending-my-approval")
	show := &cobra.Command{
		Use:   "show REQUEST-ID",
		Short: "Show one request and its decisions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			r, err := c.Request(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printRequest(cmd.OutOrStdout(), g, r)
		},
	}
	cancel := &cobra.Command{
		Use:   "cancel REQUEST-ID",
		Short: "Withdraw your pending request",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			r, err := c.CancelRequest(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printRequest(cmd.OutOrStdout(), g, r)
		},
	}
	cmd.AddCommand(create, list, show, cancel)
	return cmd
}

func decideCmd(g *globals, approve bool) *cobra.Command {
	var comment string
	use, short, flag := "approve REQUEST-ID [--comment TEXT]", "Approve the current step of a request", "comment"
	if !approve {
		use, short, flag = "deny REQUEST-ID --reason TEXT", "Deny a request", "reason"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			decide := c.Deny
			if approve {
				decide = c.Approve
			}
			r, err := decide(cmd.Context(), args[0], comment)
			if err != nil {
				return err
			}
			return printRequest(cmd.OutOrStdout(), g, r)
		},
	}
	cmd.Flags().StringVar(&comment, flag, "", "recorded with the decision")
	if !approve {
		cmd.MarkFlagRequired("reason")
	}
	return cmd
}

func tokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens"}
	var req api.CreateTokenRequest
	var out string
	create := &cobra.Command{
		Use:   "create --name NAME --role ROLE [--out FILE]",
		Short: "Make an API token (shown once, or written to a new file); requester and approver tokens are named by the person's login",
		Example: `  jitd token create --name alice --role requester
  jitd token create --name alice --role requester --out alice.token   # then: jitd --token-file alice.token ...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var f *os.File
			if out != "" {
				// Made before the token, so a token is never made that
				// cannot be kept.
				if f, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
					return usageErr{fmt.Errorf("--out: %w", err)}
				}
				defer f.Close()
			}
			t, err := c.CreateToken(cmd.Context(), req)
			if err != nil {
				if f != nil {
					os.Remove(out)
				}
				return err
			}
			if f != nil {
				if _, err := f.WriteString(t.Token + "\n"); err != nil {
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				t.Token = ""
				if !g.json() {
					fmt.Fprintf(cmd.OutOrStdout(), "Token for %s %s (%s) written to %s (mode 0600); jitd keeps only its hash\n", t.Kind, t.Name, t.Role, out)
					return nil
				}
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), t)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Token for %s %s (%s), shown once; jitd keeps only its hash:\n%s\n", t.Kind, t.Name, t.Role, t.Token)
			return nil
		},
	}
	create.Flags().StringVar(&req.Name, "name", "", "who the token is for: a person's login, or with --system a name for the system (required)")
	create.Flags().StringVar(&req.Role, "role", "", "admin, auditor, approver, requester or scim (required)")
	create.Flags().BoolVar(&req.System, "system", false, "a token for a system (automation; SCIM tokens always are): it acts as system:NAME, not as a person")
	create.Flags().StringVar(&req.Expires, "expires", "", "lifetime (90d, 12h); none: never")
	create.Flags().StringVar(&out, "out", "", "write the token to this new file (mode 0600) instead of printing it")
	create.MarkFlagRequired("name")
	create.MarkFlagRequired("role")
	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ts, err := c.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, ts)
			}
			t := table(w)
			fmt.Fprintln(t, "ID\tKIND\tNAME\tROLE\tCREATED\tEXPIRES\tREVOKED")
			for _, tk := range ts {
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", tk.ID, tk.Kind, tk.Name, tk.Role, stamp(tk.CreatedAt), stamp(tk.ExpiresAt), stamp(tk.RevokedAt))
			}
			return t.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke TOKEN-ID",
		Short: "Stop a token from working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// target is what a request asks for: a group, or an onboarding's account.
func target(r api.Request) string {
	if o := r.Onboarding; o != nil {
		groups := ""
		if len(o.Groups) > 0 {
			groups = " +" + strings.Join(o.Groups, ",")
		}
		return "account " + o.Login + groups
	}
	return r.Group
}

// waitDecided follows a pending request until it is decided (or expires),
// saying on stderr whom it waits for.
func waitDecided(cmd *cobra.Command, c *apiclient.Client, r api.Request) (api.Request, error) {
	said := ""
	for r.State == "pending" {
		if line := waitingFor(r); line != said {
			fmt.Fprintln(cmd.ErrOrStderr(), line)
			said = line
		}
		select {
		case <-cmd.Context().Done():
			return r, fmt.Errorf("stopped waiting; request %s is still pending (jitd request show %s)", r.ID, r.ID)
		case <-time.After(time.Second):
		}
		next, err := c.Request(cmd.Context(), r.ID)
		if err != nil {
			return r, err
		}
		r = next
	}
	return r, nil
}

func waitingFor(r api.Request) string {
	line := fmt.Sprintf("request %s waits for approval", r.ID)
	if r.Step < len(r.Steps) {
		st := r.Steps[r.Step]
		who := append(append([]string{}, st.Users...), prefixed("members of ", st.Groups)...)
		line += fmt.Sprintf(", step %d of %d: %d of %s", r.Step+1, len(r.Steps), st.Any, strings.Join(who, ", "))
	}
	return line + " (Ctrl-C stops waiting; the request stays)"
}

func suffix(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}

func printRequest(w io.Writer, g *globals, r api.Request) error {
	if g.json() {
		return printJSON(w, r)
	}
	t := table(w)
	rows := [][2]string{{"ID", r.ID}, {"Requester", r.Requester}, {"Group", target(r)}, {"Directory", r.Directory}, {"For", r.Duration},
		{"State", r.State}, {"Reason", r.Reason}, {"Ticket", r.Ticket}, {"Rule", r.Rule}, {"Created", stamp(r.CreatedAt)}}
	if o := r.Onboarding; o != nil {
		rows = append(rows, [2]string{"Contractor", fmt.Sprintf("%s %s <%s>, %s; sponsor %s; until %s", o.GivenName, o.Surname, o.Email, o.Company, o.Sponsor, stamp(o.Until))},
			[2]string{"Account", r.AccountID})
	}
	if r.State == "pending" {
		rows = append(rows, [2]string{"Expires", fmt.Sprintf("%s (%s left)", stamp(r.ExpiresAt), left(time.Now(), r.ExpiresAt))})
	}
	if !r.StartsAt.IsZero() {
		rows = append(rows, [2]string{"Starts", stamp(r.StartsAt)})
	}
	for i, s := range r.Steps {
		who := append(append([]string{}, s.Users...), prefixed("members of ", s.Groups)...)
		mark := "waiting"
		if i < r.Step {
			mark = "done"
		}
		rows = append(rows, [2]string{fmt.Sprintf("Step %d", i+1), fmt.Sprintf("any %d of %s (%s)", s.Any, strings.Join(who, ", "), mark)})
	}
	for _, a := range r.Approvals {
		rows = append(rows, [2]string{"Decision", fmt.Sprintf("%s %s step %d at %s %s", a.Approver, a.Decision, a.Step+1, stamp(a.At), a.Comment)})
	}
	if r.DecidedBy != "" {
		rows = append(rows, [2]string{"Decided", r.DecidedBy + " at " + stamp(r.DecidedAt)})
	}
	if r.Detail != "" {
		rows = append(rows, [2]string{"Detail", r.Detail})
	}
	if r.GrantID != "" {
		rows = append(rows, [2]string{"Grant", r.GrantID})
	}
	for _, row := range rows {
		if row[1] != "" {
			fmt.Fprintf(t, "%s:\t%s\n", row[0], row[1])
		}
	}
	return t.Flush()
}
