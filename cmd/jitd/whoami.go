package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func whoamiCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who the daemon takes you for (name, role, MFA)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			who, err := c.Whoami(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), who)
			}
			mfa := "without"
			if who.MFA {
				mfa = "with"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s), signed in by %s %s multi-factor authentication\n", who.Name, who.Role, who.Via, mfa)
			return nil
		},
	}
}
