package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
)

func accountCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Create, list, extend, disable and delete ephemeral (contractor) accounts"}
	cmd.AddCommand(accountCreateCmd(g), accountListCmd(g), accountShowCmd(g), accountExtendCmd(g), accountEndCmd(g, false), accountEndCmd(g, true))
	return cmd
}

// parseEnd reads an end date: a day (the account lasts through it, UTC) or
// an RFC 3339 time.
func parseEnd(s string) (time.Time, error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.Add(24*time.Hour - time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, usageErr{fmt.Errorf("--until must be a day (2026-12-31, through its end, UTC) or RFC 3339 (got %q)", s)}
	}
	return t, nil
}

// defaultLogin makes "ann.lee" from the names, or the email's local part.
func defaultLogin(given, surname, email string) string {
	if given != "" && surname != "" {
		return strings.ToLower(strings.Join(strings.Fields(given), "") + "." + strings.Join(strings.Fields(surname), ""))
	}
	local, _, _ := strings.Cut(email, "@")
	return strings.ToLower(local)
}

func accountCreateCmd(g *globals) *cobra.Command {
	var req api.CreateAccountRequest
	var until string
	cmd := &cobra.Command{
		Use:   "create --sponsor LOGIN --until DATE (--login NAME | --given-name G --surname S | --email E)",
		Short: "Create a contractor account, enabled until its end date, then disabled and later deleted",
		Long: "Creates the account in the directory, enabled, with a random initial password printed once here\n" +
			"(jitd stores it nowhere). At the end date it is disabled and its grants end; after the retention\n" +
			"period (accounts.retention, default 30 days) it is deleted.",
		Example: `  jitd account create --directory corp-ad --sponsor bob --given-name Ann --surname Lee --email ann@vendor.example --until 2026-12-31`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if req.Until, err = parseEnd(until); err != nil {
				return err
			}
			if req.Login == "" {
				req.Login = defaultLogin(req.GivenName, req.Surname, req.Email)
			}
			if req.Login == "" {
				return usageErr{fmt.Errorf("give --login, or --given-name and --surname, or --email to make one from")}
			}
			if req.Reason == "" {
				req.Reason = "contractor account sponsored by " + req.Sponsor
			}
			out, err := c.CreateAccount(cmd.Context(), req)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, out)
			}
			if err := printAccount(w, out.Account); err != nil {
				return err
			}
			if out.InitialPassword != "" {
				fmt.Fprintf(w, "\nInitial password (shown once; jitd does not keep it): %s\n", out.InitialPassword)
			} else {
				fmt.Fprintln(w, "\nThe directory set no password that jitd knows: deliver access the directory's way (activation email, reset).")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Directory, "directory", "", "directory name (needed when several manage accounts)")
	f.StringVar(&req.Login, "login", "", "account login (default: given-name.surname, or the email's local part)")
	f.StringVar(&req.GivenName, "given-name", "", "contractor's given name")
	f.StringVar(&req.Surname, "surname", "", "contractor's surname")
	f.StringVar(&req.Email, "email", "", "contractor's email")
	f.StringVar(&req.Sponsor, "sponsor", "", "login of the employee responsible for the account (required)")
	f.StringVar(&until, "until", "", "end date: a day (through its end, UTC) or RFC 3339 (required)")
	f.StringVar(&req.Reason, "reason", "", "why (contract, ticket); recorded in the audit log")
	cmd.MarkFlagRequired("sponsor")
	cmd.MarkFlagRequired("until")
	return cmd
}

func accountListCmd(g *globals) *cobra.Command {
	var f apiclient.AccountFilter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List accounts, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			as, err := c.ListAccounts(cmd.Context(), f)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, as)
			}
			t := table(w)
			fmt.Fprintln(t, "ID\tLOGIN\tDIRECTORY\tSPONSOR\tSTATE\tENDS\tLEFT\tDELETED AFTER")
			now := time.Now()
			for _, a := range as {
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Login, a.Directory, a.Sponsor, a.State, stamp(a.EndsAt), left(now, a.EndsAt), stamp(a.DeleteAt))
			}
			return t.Flush()
		},
	}
	cmd.Flags().StringSliceVar(&f.States, "state", nil, "only these states (active, disable_failed, ...)")
	cmd.Flags().StringVar(&f.Sponsor, "sponsor", "", "only this sponsor's")
	cmd.Flags().StringVar(&f.Login, "login", "", "only this login")
	cmd.Flags().StringVar(&f.Directory, "directory", "", "only this directory")
	return cmd
}

func accountShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ACCOUNT-ID",
		Short: "Show one account and its audit trail",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			a, err := c.Account(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			evs, err := c.AuditEvents(cmd.Context(), a.ID, 1000)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, map[string]any{"account": a, "audit": evs.Events})
			}
			if err := printAccount(w, a); err != nil {
				return err
			}
			fmt.Fprintln(w, "\nAudit trail:")
			return printEvents(w, evs.Events)
		},
	}
}

func accountExtendCmd(g *globals) *cobra.Command {
	var req api.ExtendAccountRequest
	var until string
	cmd := &cobra.Command{
		Use:   "extend ACCOUNT-ID --until DATE --reason TEXT",
		Short: "Move an active account's end date (in the directory too)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if req.Until, err = parseEnd(until); err != nil {
				return err
			}
			a, err := c.ExtendAccount(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), a)
			}
			return printAccount(cmd.OutOrStdout(), a)
		},
	}
	cmd.Flags().StringVar(&until, "until", "", "new end date: a day or RFC 3339 (required)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why (required)")
	cmd.MarkFlagRequired("until")
	cmd.MarkFlagRequired("reason")
	return cmd
}

func accountEndCmd(g *globals, deleteNow bool) *cobra.Command {
	var reason string
	use, short := "disable", "End an account now; it is deleted after the retention period"
	if deleteNow {
		use, short = "delete", "End an account now and delete it without waiting for retention"
	}
	cmd := &cobra.Command{
		Use:   use + " ACCOUNT-ID --reason TEXT",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			end := c.DisableAccount
			if deleteNow {
				end = c.DeleteAccount
			}
			a, err := end(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), a)
			}
			return printAccount(cmd.OutOrStdout(), a)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.MarkFlagRequired("reason")
	return cmd
}

func printAccount(w io.Writer, a api.Account) error {
	t := table(w)
	rows := [][2]string{
		{"ID", a.ID}, {"Login", a.Login}, {"Directory", a.Directory}, {"Directory id", a.ExternalID}, {"State", a.State},
		{"Name", strings.TrimSpace(a.GivenName + " " + a.Surname)}, {"Email", a.Email}, {"Sponsor", a.Sponsor},
		{"Ends", stamp(a.EndsAt)}, {"Left", left(time.Now(), a.EndsAt)}, {"Deleted after", stamp(a.DeleteAt)},
		{"Reason", a.Reason}, {"Created by", a.CreatedBy},
	}
	if !a.DisabledAt.IsZero() {
		rows = append(rows, [2]string{"Disabled", stamp(a.DisabledAt)})
	}
	if !a.DeletedAt.IsZero() {
		rows = append(rows, [2]string{"Deleted", stamp(a.DeletedAt)})
	}
	if a.EndReason != "" {
		rows = append(rows, [2]string{"End reason", a.EndReason})
	}
	if a.LastError != "" {
		rows = append(rows, [2]string{"Last error", fmt.Sprintf("%s (attempt %d, next %s)", a.LastError, a.Attempts, stamp(a.NextAttempt))})
	}
	for _, r := range rows {
		fmt.Fprintf(t, "%s:\t%s\n", r[0], r[1])
	}
	return t.Flush()
}
