package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/core/api"
)

func breakglassCmd(g *globals) *cobra.Command {
	var req api.BreakGlassRequest
	cmd := &cobra.Command{
		Use:     "breakglass --group NAME --for DURATION --reason TEXT [--ticket ID]",
		Short:   "Grant yourself a group at once, without approval (only those policy.breakglass names; announced and reviewed)",
		Example: `  jitd breakglass --group prod-db-admins --for 30m --reason "SEV1 INC-9"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.BreakGlass(cmd.Context(), req)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, res)
			}
			fmt.Fprintf(w, "granted: %s for %s (grant %s); it is audited and sent to the notification channels that take breakglass.used, and review %s stays open until someone else closes it\n",
				res.Request.Group, res.Request.Duration, res.Request.GrantID, res.Review.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Directory, "directory", "", "directory (needed when several are configured)")
	f.StringVar(&req.Group, "group", "", "group (required)")
	f.StringVar(&req.For, "for", "", "how long (at most policy.breakglass.max_duration, default 1h) (required)")
	f.StringVar(&req.Reason, "reason", "", "the incident (required)")
	f.StringVar(&req.Ticket, "ticket", "", "incident ticket")
	for _, name := range []string{"group", "for", "reason"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

func reviewCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "review", Short: "Review uses of break-glass, and access review campaigns"}
	var state string
	list := &cobra.Command{
		Use:   "list [--state open|closed]",
		Short: "List break-glass reviews, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			vs, err := c.Reviews(cmd.Context(), state)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, vs)
			}
			t := table(w)
			fmt.Fprintln(t, "ID\tWHO\tGROUP\tSTATE\tOPENED\tCLOSED BY\tOUTCOME\tREASON")
			for _, v := range vs {
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Subject, v.Group, v.State, stamp(v.CreatedAt), v.ClosedBy, v.Outcome, v.Reason)
			}
			return t.Flush()
		},
	}
	list.Flags().StringVar(&state, "state", "open", "open, closed, or empty for all")
	var req api.CloseReviewRequest
	closeCmd := &cobra.Command{
		Use:   "close REVIEW-ID --outcome justified|unjustified --comment TEXT",
		Short: "Close a review (never your own)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			v, err := c.CloseReview(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "review %s closed: %s\n", v.ID, v.Outcome)
			return nil
		},
	}
	closeCmd.Flags().StringVar(&req.Outcome, "outcome", "", "justified or unjustified (required)")
	closeCmd.Flags().StringVar(&req.Comment, "comment", "", "what the review found (required)")
	closeCmd.MarkFlagRequired("outcome")
	closeCmd.MarkFlagRequired("comment")
	cmd.AddCommand(list, closeCmd, campaignCmd(g))
	return cmd
}
