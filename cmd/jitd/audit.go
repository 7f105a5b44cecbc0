package main

import (
	"fmt"
	"io"
	"os"
	"strings"

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
	var checkpointFile string
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
			if checkpointFile != "" {
				b, rerr := os.ReadFile(checkpointFile)
				if rerr != nil {
					return usageErr{fmt.Errorf("--checkpoint: %w", rerr)}
				}
				res, err = c.VerifyAuditAgainst(cmd.Context(), strings.Split(string(b), "\n"))
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				printJSON(w, res)
			} else if res.OK {
				fmt.Fprintf(w, "audit log intact: %d events, hash chain verified", res.Events)
				if res.Keyed {
					fmt.Fprintf(w, " (keyed from event %d)", res.KeyedSince)
				}
				if res.Checkpoints > 0 {
					fmt.Fprintf(w, "; it holds what %d signed checkpoints saw", res.Checkpoints)
				}
				fmt.Fprintln(w)
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
	verify.Flags().StringVar(&checkpointFile, "checkpoint", "", "a file of signed checkpoints (data_dir/audit.checkpoints, or a copy kept elsewhere): the log must still hold what each saw")
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
