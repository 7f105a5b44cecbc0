package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
)

func grantCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "grant", Short: "Add, list, extend and revoke temporary group memberships"}
	cmd.AddCommand(grantAddCmd(g), grantListCmd(g), grantShowCmd(g), grantExtendCmd(g), grantRevokeCmd(g))
	return cmd
}

func parseUntil(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, usageErr{fmt.Errorf("--until must be RFC 3339, e.g. 2026-12-31T18:00:00Z (got %q)", s)}
	}
	return t, nil
}

func grantAddCmd(g *globals) *cobra.Command {
	var req api.AddGrantRequest
	var until string
	cmd := &cobra.Command{
		Use:     "add --user LOGIN --group NAME (--for DURATION | --until TIME) --reason TEXT",
		Short:   "Make a user a member of a JIT-managed group for a bounded time",
		Example: `  jitd grant add --user alice --group prod-db-admins --for 2h --reason "INC-123"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if req.Until, err = parseUntil(until); err != nil {
				return err
			}
			gr, err := c.AddGrant(cmd.Context(), req)
			if err != nil {
				return err
			}
			return printGrant(cmd.OutOrStdout(), g, gr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.User, "user", "", "user login (required)")
	f.StringVar(&req.Group, "group", "", "group name (required)")
	f.StringVar(&req.Directory, "directory", "", "directory name (needed when several are configured)")
	f.StringVar(&req.For, "for", "", "duration: Go syntax (90m, 2h) or days (3d)")
	f.StringVar(&until, "until", "", "end time, RFC 3339")
	f.StringVar(&req.Reason, "reason", "", "why (ticket, incident); recorded in the audit log (required)")
	cmd.MarkFlagRequired("user")
	cmd.MarkFlagRequired("group")
	cmd.MarkFlagRequired("reason")
	cmd.MarkFlagsOneRequired("for", "until")
	cmd.MarkFlagsMutuallyExclusive("for", "until")
	return cmd
}

func grantListCmd(g *globals) *cobra.Command {
	var f apiclient.GrantFilter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List grants, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			gs, err := c.ListGrants(cmd.Context(), f)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, gs)
			}
			t := table(w)
			fmt.Fprintln(t, "ID\tUSER\tGROUP\tDIRECTORY\tSTATE\tEXPIRES\tLEFT\tREASON")
			now := time.Now()
			for _, gr := range gs {
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", gr.ID, gr.User, gr.Group, gr.Directory, gr.State, stamp(gr.ExpiresAt), left(now, gr.ExpiresAt), gr.Reason)
			}
			return t.Flush()
		},
	}
	cmd.Flags().StringSliceVar(&f.States, "state", nil, "only these states (active, revoke_failed, ...)")
	cmd.Flags().StringVar(&f.User, "user", "", "only this user")
	cmd.Flags().StringVar(&f.Group, "group", "", "only this group")
	cmd.Flags().StringVar(&f.Directory, "directory", "", "only this directory")
	cmd.Flags().IntVar(&f.Limit, "limit", 0, "at most this many (default 1000)")
	return cmd
}

func grantShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show GRANT-ID",
		Short: "Show one grant and its audit trail",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			gr, err := c.Grant(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			evs, err := c.AuditEvents(cmd.Context(), gr.ID, 1000)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, map[string]any{"grant": gr, "audit": evs.Events})
			}
			if err := printGrant(w, g, gr); err != nil {
				return err
			}
			fmt.Fprintln(w, "\nAudit trail:")
			return printEvents(w, evs.Events)
		},
	}
}

func grantExtendCmd(g *globals) *cobra.Command {
	var req api.ExtendRequest
	var until string
	cmd := &cobra.Command{
		Use:   "extend GRANT-ID (--for DURATION | --until TIME) --reason TEXT",
		Short: "Move a grant's end later (--for adds to the current end)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if req.Until, err = parseUntil(until); err != nil {
				return err
			}
			gr, err := c.ExtendGrant(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return printGrant(cmd.OutOrStdout(), g, gr)
		},
	}
	cmd.Flags().StringVar(&req.For, "for", "", "add this much time (90m, 2h, 1d)")
	cmd.Flags().StringVar(&until, "until", "", "new end time, RFC 3339")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why (required)")
	cmd.MarkFlagRequired("reason")
	cmd.MarkFlagsOneRequired("for", "until")
	cmd.MarkFlagsMutuallyExclusive("for", "until")
	return cmd
}

func grantRevokeCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "revoke GRANT-ID --reason TEXT",
		Short: "End a grant now; the membership is removed through the expiry queue",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			gr, err := c.RevokeGrant(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			return printGrant(cmd.OutOrStdout(), g, gr)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.MarkFlagRequired("reason")
	return cmd
}

func printGrant(w io.Writer, g *globals, gr api.Grant) error {
	if g.json() {
		return printJSON(w, gr)
	}
	t := table(w)
	now := time.Now()
	rows := [][2]string{
		{"ID", gr.ID}, {"User", gr.User}, {"Group", gr.Group}, {"Directory", gr.Directory}, {"State", gr.State},
		{"Starts", stamp(gr.StartsAt)}, {"Expires", stamp(gr.ExpiresAt)}, {"Left", left(now, gr.ExpiresAt)},
		{"Reason", gr.Reason}, {"Created by", gr.CreatedBy},
	}
	if gr.Preexisting {
		rows = append(rows, [2]string{"Note", "user was already a member; the membership will be left in place"})
	}
	if !gr.EndedAt.IsZero() {
		rows = append(rows, [2]string{"Ended", stamp(gr.EndedAt)})
	}
	if gr.EndReason != "" {
		rows = append(rows, [2]string{"End reason", gr.EndReason})
	}
	if gr.LastError != "" {
		rows = append(rows, [2]string{"Last error", fmt.Sprintf("%s (attempt %d, next %s)", gr.LastError, gr.Attempts, stamp(gr.NextAttempt))})
	}
	for _, r := range rows {
		fmt.Fprintf(t, "%s:\t%s\n", r[0], r[1])
	}
	return t.Flush()
}
