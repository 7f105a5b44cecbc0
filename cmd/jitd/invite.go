package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
)

func inviteCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "invite", Short: "Invite contractors to ask for an account (sponsors), and use an invite (contractors)"}
	cmd.AddCommand(inviteCreateCmd(g), inviteListCmd(g), inviteRevokeCmd(g), inviteShowCmd(g), inviteAcceptCmd(g), invitePasswordCmd(g))
	return cmd
}

func inviteCreateCmd(g *globals) *cobra.Command {
	var req api.CreateInviteRequest
	var until string
	cmd := &cobra.Command{
		Use:   "create --until DATE [--sponsor LOGIN] [--directory NAME] [--groups G1,G2] [--valid 7d]",
		Short: "Make a single-use invite link for a contractor (shown once); you sponsor it unless you are an admin naming --sponsor",
		Example: `  jitd invite create --sponsor bob --directory corp-ad --until 2026-12-31
  jitd invite create --until 2026-12-31 --groups vpn-users,jira-contractors --valid 3d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if req.Until, err = parseEnd(until); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.CreateInvite(cmd.Context(), req)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, res)
			}
			fmt.Fprintf(w, "invite %s (sponsor %s) works until %s; send the contractor this link, shown only now:\n  %s%s\n",
				res.Invite.ID, res.Invite.Sponsor, stamp(res.Invite.ExpiresAt), strings.TrimRight(g.addrURL(), "/"), res.Path)
			fmt.Fprintf(w, "or: jitd invite accept %s --given-name ... --surname ... --email ... --company ... --until DATE\n", res.Token)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Directory, "directory", "", "directory for the account (needed when several manage accounts)")
	f.StringVar(&req.Sponsor, "sponsor", "", "the employee responsible (admins; others sponsor themselves)")
	f.StringVar(&until, "until", "", "the latest end date the contractor may choose: a day or RFC 3339 (required)")
	f.StringSliceVar(&req.Groups, "groups", nil, "JIT-managed groups the contractor may ask for")
	f.StringVar(&req.Valid, "valid", "", "how long the link works (default 7d, at most 30d)")
	f.StringVar(&req.Note, "note", "", "a note the contractor sees")
	cmd.MarkFlagRequired("until")
	return cmd
}

func inviteListCmd(g *globals) *cobra.Command {
	var sponsor string
	cmd := &cobra.Command{
		Use:   "list [--sponsor LOGIN]",
		Short: "List invites, newest first (approvers see the ones they sponsor)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			vs, err := c.Invites(cmd.Context(), sponsor)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, vs)
			}
			tw := table(w)
			fmt.Fprintln(tw, "ID\tSPONSOR\tDIRECTORY\tSTATE\tLINK WORKS UNTIL\tLATEST END\tGROUPS\tREQUEST")
			for _, v := range vs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Sponsor, v.Directory, v.State, stamp(v.ExpiresAt), stamp(v.MaxUntil),
					strings.Join(v.Groups, ","), v.RequestID)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&sponsor, "sponsor", "", "only this sponsor's (admins and auditors)")
	return cmd
}

func inviteRevokeCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "revoke INVITE-ID --reason TEXT",
		Short: "Withdraw an open invite (its sponsor, or an admin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			v, err := c.RevokeInvite(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "invite %s revoked\n", v.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.MarkFlagRequired("reason")
	return cmd
}

// The contractor's commands need no token: the invite's link is the right.

func (g *globals) anonymous() *apiclient.Client { return apiclient.New(g.addr, "", nil) }

// addrURL is the daemon's address as a URL.
func (g *globals) addrURL() string {
	if strings.Contains(g.addr, "://") {
		return g.addr
	}
	return "http://" + g.addr
}

// inviteToken accepts the token or the whole link.
func inviteToken(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[i+1:]
	}
	return s
}

func printOnboarding(cmd *cobra.Command, g *globals, o api.Onboarding) error {
	w := cmd.OutOrStdout()
	if g.json() {
		return printJSON(w, o)
	}
	fmt.Fprintf(w, "invite from %s (directory %s): %s, works until %s; an account may last until %s\n", o.Sponsor, o.Directory, o.State, stamp(o.ExpiresAt), stamp(o.MaxUntil))
	if len(o.Groups) > 0 {
		fmt.Fprintf(w, "groups you may ask for: %s\n", strings.Join(o.Groups, ", "))
	}
	if o.Note != "" {
		fmt.Fprintf(w, "note: %s\n", o.Note)
	}
	if r := o.Request; r != nil {
		fmt.Fprintf(w, "your request %s for account %s: %s (%d of %d approval steps done)", r.ID, r.Login, r.State, r.Done, r.Steps)
		if r.Detail != "" {
			fmt.Fprintf(w, ": %s", r.Detail)
		}
		fmt.Fprintln(w)
		if r.State == "approved" {
			fmt.Fprintln(w, "fetch your initial password (once) with: jitd invite password TOKEN")
		}
	}
	return nil
}

func inviteShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show TOKEN",
		Short: "Show what an invite offers, and where your request stands (contractors; no token needed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := g.anonymous().Onboarding(cmd.Context(), inviteToken(args[0]))
			if err != nil {
				return err
			}
			return printOnboarding(cmd, g, o)
		},
	}
}

func inviteAcceptCmd(g *globals) *cobra.Command {
	var req api.SubmitOnboardingRequest
	var until string
	cmd := &cobra.Command{
		Use:     "accept TOKEN --given-name G --surname S --email E --company C --until DATE [--groups G1,G2] [--reason TEXT]",
		Short:   "Use an invite: ask for your account (once); your sponsor approves it",
		Example: `  jitd invite accept i5f2c....Qx7 --given-name Ann --surname Lee --email ann@vendor.example --company "Vendor Ltd" --until 2026-12-31`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if req.Until, err = parseEnd(until); err != nil {
				return err
			}
			o, err := g.anonymous().SubmitOnboarding(cmd.Context(), inviteToken(args[0]), req)
			if err != nil {
				return err
			}
			return printOnboarding(cmd, g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.GivenName, "given-name", "", "your given name (required)")
	f.StringVar(&req.Surname, "surname", "", "your surname (required)")
	f.StringVar(&req.Email, "email", "", "your email address (required)")
	f.StringVar(&req.Company, "company", "", "your company (required)")
	f.StringVar(&until, "until", "", "the end of your contract: a day or RFC 3339 (required)")
	f.StringSliceVar(&req.Groups, "groups", nil, "groups you need, of those the invite offers")
	f.StringVar(&req.Reason, "reason", "", "what the access is for")
	for _, name := range []string{"given-name", "surname", "email", "company", "until"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

func invitePasswordCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "password TOKEN",
		Short: "Fetch your approved account's initial password (once; jitd forgets it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := g.anonymous().OnboardingPassword(cmd.Context(), inviteToken(args[0]))
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), pw)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "login: %s\ninitial password: %s\n(change it at first sign-in; it cannot be shown again)\n", pw.Login, pw.Password)
			return nil
		},
	}
}
