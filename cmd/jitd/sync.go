package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/core/api"
)

func syncCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "sync", Short: "The local mirror of each directory: status, and sync now"}
	status := &cobra.Command{
		Use:   "status",
		Short: "Per directory: last full and incremental sync, cursor age, counts, last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.SyncStatus(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, st)
			}
			t := table(w)
			fmt.Fprintln(t, "DIRECTORY\tLAST FULL\tLAST INCREMENTAL\tCURSOR AGE\tUSERS\tGROUPS\tMEMBERSHIPS\tNOW\tERROR")
			now := time.Now()
			for _, s := range st {
				age := "-"
				if s.Incremental {
					age = now.Sub(s.CursorAt).Round(time.Second).String()
				}
				running := "-"
				if p := s.Running; p != nil {
					running = fmt.Sprintf("%s, %d objects", p.Phase, p.Objects)
				}
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", s.Directory, stamp(s.LastFullAt), stamp(s.LastIncrementalAt), age,
					s.Users, s.Groups, s.Memberships, running, s.LastError)
			}
			return t.Flush()
		},
	}
	var req api.SyncRunRequest
	run := &cobra.Command{
		Use:   "run [--full] [--directory NAME]",
		Short: "Sync now (incremental where possible) and wait for the result",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			// On a terminal, show what the sync is doing while it runs (on
			// stderr, so the result alone goes to stdout).
			done := func() {}
			if !g.json() && isTerminal(os.Stderr) {
				ctx, cancel := context.WithCancel(cmd.Context())
				finished := make(chan struct{})
				go func() {
					defer close(finished)
					syncProgress(ctx, os.Stderr, time.Second, c.SyncStatus)
				}()
				done = func() { cancel(); <-finished }
			}
			res, err := c.SyncRun(cmd.Context(), req)
			done()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			failed := 0
			for _, r := range res {
				if r.Error != "" {
					failed++
				}
			}
			if g.json() {
				printJSON(w, res)
			} else {
				t := table(w)
				fmt.Fprintln(t, "DIRECTORY\tKIND\tCHANGES\tREMOVED\tTOOK\tRESULT")
				for _, r := range res {
					kind, result := "incremental", "ok"
					if r.Full {
						kind = "full (" + r.Reason + ")"
					}
					if r.Error != "" {
						result = r.Error
					}
					fmt.Fprintf(t, "%s\t%s\t%d\t%d\t%s\t%s\n", r.Directory, kind, r.Changes, r.Removed, time.Duration(r.DurationMS)*time.Millisecond, result)
				}
				t.Flush()
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d directories failed to sync", failed, len(res))
			}
			return nil
		},
	}
	run.Flags().BoolVar(&req.Full, "full", false, "read the whole directory instead of the changes since the last sync")
	run.Flags().StringVar(&req.Directory, "directory", "", "only this directory")
	cmd.AddCommand(status, run)
	return cmd
}
