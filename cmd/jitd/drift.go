package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/core/api"
)

func driftCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "drift", Short: "Members of JIT-managed groups that nobody granted"}
	var dir string
	list := &cobra.Command{
		Use:   "list [--directory NAME]",
		Short: "List members of JIT-managed groups with no grant and no baseline entry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ds, err := c.Drift(cmd.Context(), dir)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, ds)
			}
			t := table(w)
			fmt.Fprintln(t, "DIRECTORY\tGROUP\tUSER\tFIRST SEEN\tLAST SEEN")
			for _, d := range ds {
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\n", d.Directory, d.Group, d.User, stamp(d.FirstSeen), stamp(d.LastSeen))
			}
			return t.Flush()
		},
	}
	list.Flags().StringVar(&dir, "directory", "", "only this directory")
	var req api.AcceptRequest
	revert := &cobra.Command{
		Use:   "revert --directory NAME --group NAME [--user LOGIN] --reason TEXT",
		Short: "Remove drift from the directory now, through the expiry queue (all of the group's drift without --user)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			n, err := c.RevertDrift(cmd.Context(), req)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]int{"reverted": n})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removing %d member(s) from %s/%s\n", n, req.Directory, req.Group)
			return nil
		},
	}
	revert.Flags().StringVar(&req.Directory, "directory", "", "directory name (required)")
	revert.Flags().StringVar(&req.Group, "group", "", "group name (required)")
	revert.Flags().StringVar(&req.User, "user", "", "only this user")
	revert.Flags().StringVar(&req.Reason, "reason", "", "why (required)")
	for _, f := range []string{"directory", "group", "reason"} {
		revert.MarkFlagRequired(f)
	}
	cmd.AddCommand(list, revert)
	return cmd
}

func baselineCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "baseline", Short: "The standing members a JIT-managed group had when jitd first saw it"}
	var dir, group string
	show := &cobra.Command{
		Use:   "show --directory NAME --group NAME",
		Short: "Show a group's baseline",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			b, err := c.Baseline(cmd.Context(), dir, group)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, b)
			}
			if !b.Recorded {
				fmt.Fprintf(w, "%s/%s: no baseline yet (recorded at the first sync that sees the group)\n", b.Directory, b.Group)
				return nil
			}
			fmt.Fprintf(w, "%s/%s: %d standing members\n", b.Directory, b.Group, len(b.Members))
			for _, m := range b.Members {
				fmt.Fprintln(w, "  "+m)
			}
			return nil
		},
	}
	var req api.AcceptRequest
	accept := &cobra.Command{
		Use:   "accept --directory NAME --group NAME [--user LOGIN] --reason TEXT",
		Short: "Accept drift as standing access: add it to the baseline (all of the group's drift without --user)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			req.Directory, req.Group = dir, group
			n, err := c.AcceptBaseline(cmd.Context(), req)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]int{"accepted": n})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "accepted %d member(s) into the baseline of %s/%s\n", n, dir, group)
			return nil
		},
	}
	for _, c := range []*cobra.Command{show, accept} {
		c.Flags().StringVar(&dir, "directory", "", "directory name (required)")
		c.Flags().StringVar(&group, "group", "", "group name (required)")
		c.MarkFlagRequired("directory")
		c.MarkFlagRequired("group")
	}
	accept.Flags().StringVar(&req.User, "user", "", "only this user")
	accept.Flags().StringVar(&req.Reason, "reason", "", "why this standing access is legitimate (required)")
	accept.MarkFlagRequired("reason")
	cmd.AddCommand(show, accept)
	return cmd
}
