package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/core/audit"
)

func auditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read and verify the hash-chained audit log"}
	var grantID string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit events, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			evs, err := c.AuditEvents(cmd.Context(), grantID, limit)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), evs.Events)
			}
			return printEvents(cmd.OutOrStdout(), evs.Events)
		},
	}
	list.Flags().StringVar(&grantID, "grant", "", "only events of this grant")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many events")
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the whole chain; exit 3 if a row was edited, inserted or deleted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.VerifyAudit(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				printJSON(w, res)
			} else if res.OK {
				fmt.Fprintf(w, "audit log intact: %d events, hash chain verified\n", res.Events)
			} else {
				for _, p := range res.Problems {
					fmt.Fprintln(w, p.String())
				}
			}
			if !res.OK {
				return &exitError{3, fmt.Errorf("audit log tampered with: %d problems in %d events", len(res.Problems), res.Events)}
			}
			return nil
		},
	}
	cmd.AddCommand(list, verify)
	return cmd
}

func printEvents(w io.Writer, evs []audit.Event) error {
	t := table(w)
	fmt.Fprintln(t, "SEQ\tTIME\tACTOR\tACTION\tGRANT\tUSER\tGROUP\tDETAIL")
	for _, e := range evs {
		fmt.Fprintf(t, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, stamp(e.Time), e.Actor, e.Action, e.GrantID, e.User, e.Group, e.Detail)
	}
	return t.Flush()
}
