package main

import (
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"
)

func reportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Reports for auditors: who had access and why, removal lateness, break-glass, overdue accounts, conflicts, review campaigns"}
	var from, to, format, out, group, user, dir string
	run := func(name string, q url.Values) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if cmd.Flags().Lookup("from") != nil && !(name == "conflicts" && from == "" && to == "") {
				for k, v := range map[string]string{"from": from, "to": to} {
					if _, err := time.Parse(time.RFC3339, v); err != nil {
						return usageErr{fmt.Errorf("--%s must be RFC 3339, e.g. 2026-10-01T00:00:00Z (got %q)", k, v)}
					}
					q.Set(k, v)
				}
			}
			q.Set("format", format)
			body, err := c.Report(cmd.Context(), name, q)
			if err != nil {
				return err
			}
			if out == "" {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			if err := writeNewFile(out, body, "the report"); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "report written to %s (%d bytes)\n", out, len(body))
			return nil
		}
	}
	access := &cobra.Command{
		Use:   "access (--group NAME | --user LOGIN) --from TIME --to TIME [--format json|csv|html] [--out FILE]",
		Short: "Who had access to a group (or what access a person had) in a period, and why",
		Example: `  jitd report access --group prod-db-admins --from 2026-10-01T00:00:00Z --to 2027-01-01T00:00:00Z --format csv
  jitd report access --user alice --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z --format html --out alice.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if group == "" && user == "" {
				return usageErr{fmt.Errorf("name --group, --user, or both")}
			}
			q := url.Values{}
			for k, v := range map[string]string{"group": group, "user": user, "directory": dir} {
				if v != "" {
					q.Set(k, v)
				}
			}
			return run("access", q)(cmd, args)
		},
	}
	access.Flags().StringVar(&group, "group", "", "the group")
	access.Flags().StringVar(&user, "user", "", "the person")
	access.Flags().StringVar(&dir, "directory", "", "directory (needed when several are configured)")
	lateness := &cobra.Command{
		Use:   "lateness --from TIME --to TIME [--format json|csv|html] [--out FILE]",
		Short: "How late each grant that expired in a period left the directory, and which are overdue and still there",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return run("lateness", url.Values{})(cmd, args) },
	}
	breakglass := &cobra.Command{
		Use:   "breakglass --from TIME --to TIME [--format json|csv|html] [--out FILE]",
		Short: "Break-glass uses in a period and their review outcomes",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return run("breakglass", url.Values{})(cmd, args) },
	}
	accounts := &cobra.Command{
		Use:   "accounts-past-end [--format json|csv|html] [--out FILE]",
		Short: "Contractor accounts past their end date that are not disabled (expected: none)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return run("accounts-past-end", url.Values{})(cmd, args)
		},
	}
	conflicts := &cobra.Command{
		Use:   "conflicts [--from TIME --to TIME] [--format json|csv|html] [--out FILE]",
		Short: "People who hold, now, two or more groups of one separation-of-duties set; with a period, every time someone did",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return run("conflicts", url.Values{})(cmd, args) },
	}
	var campaign string
	campaignReport := &cobra.Command{
		Use:   "campaign --id CAMPAIGN-ID [--format json|csv|html] [--out FILE]",
		Short: "An access review campaign's results: every item, its decision, who made it, the comment and its effect",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return run("campaign", url.Values{"id": {campaign}})(cmd, args)
		},
	}
	campaignReport.Flags().StringVar(&campaign, "id", "", "the campaign (jitd review campaign list)")
	campaignReport.MarkFlagRequired("id")
	for _, c := range []*cobra.Command{access, lateness, breakglass} {
		c.Flags().StringVar(&from, "from", "", "start of the period, RFC 3339 (required)")
		c.Flags().StringVar(&to, "to", "", "end of the period, RFC 3339 (required)")
		c.MarkFlagRequired("from")
		c.MarkFlagRequired("to")
	}
	conflicts.Flags().StringVar(&from, "from", "", "start of a period, RFC 3339 (with --to: the conflicts of the period)")
	conflicts.Flags().StringVar(&to, "to", "", "end of the period, RFC 3339")
	conflicts.MarkFlagsRequiredTogether("from", "to")
	for _, c := range []*cobra.Command{access, lateness, breakglass, accounts, conflicts, campaignReport} {
		c.Flags().StringVar(&format, "format", "json", "json, csv or html (printable)")
		c.Flags().StringVar(&out, "out", "", "write to this new file (mode 0600) instead of standard output")
	}
	cmd.AddCommand(access, lateness, breakglass, accounts, conflicts, campaignReport)
	return cmd
}

func evidenceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "evidence", Short: "Evidence bundles an auditor checks offline (jitd audit verify --bundle)"}
	var from, to, out string
	export := &cobra.Command{
		Use:   "export --from TIME --to TIME --out FILE",
		Short: "Write the period's reports, the audit segment they rest on and a signed checkpoint, all signed, to a new file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for k, v := range map[string]string{"from": from, "to": to} {
				if _, err := time.Parse(time.RFC3339, v); err != nil {
					return usageErr{fmt.Errorf("--%s must be RFC 3339, e.g. 2026-10-01T00:00:00Z (got %q)", k, v)}
				}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			body, err := c.Evidence(cmd.Context(), from, to)
			if err != nil {
				return err
			}
			if err := writeNewFile(out, body, "the bundle"); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "evidence bundle written to %s (%d bytes); check it with: jitd audit verify --bundle %s --public-key \"$(jitd audit key)\"\n", out, len(body), out)
			return nil
		},
	}
	export.Flags().StringVar(&from, "from", "", "start of the period, RFC 3339 (required)")
	export.Flags().StringVar(&to, "to", "", "end of the period, RFC 3339 (required)")
	export.Flags().StringVar(&out, "out", "", "the new file to write (required)")
	for _, f := range []string{"from", "to", "out"} {
		export.MarkFlagRequired(f)
	}
	cmd.AddCommand(export)
	return cmd
}

// writeNewFile writes body to a new file at path, readable by its owner
// only; an existing file is never overwritten.
func writeNewFile(path string, body []byte, what string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w (it is never overwritten)", what, err)
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
