package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/core/api"
)

// campaignCmd is `jitd review campaign`: access review campaigns.
func campaignCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "campaign", Short: "Access review campaigns: certify standing access, or revoke it"}

	var spec api.CampaignSpec
	var from, to string
	create := &cobra.Command{
		Use:   "create --name NAME --scope standing|members|accounts|grants --reviewers owners|manager|named",
		Short: "Open a campaign (admins); every item gets its reviewers at once, never the person it is about",
		Example: `  jitd review campaign create --name "Q1 admins" --scope standing --reviewers owners --reviewer erin --due 14d --remind 3d,1d --on-no-answer revoke
  jitd review campaign create --name "VPN users" --scope members --group vpn-users --reviewers manager --escalate-after 7d
  jitd review campaign create --name "November grants" --scope grants --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z --reviewers named --reviewer-group security`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, t := range []struct {
				flag, v string
				into    *time.Time
			}{{"--from", from, &spec.Scope.From}, {"--to", to, &spec.Scope.To}} {
				if t.v == "" {
					continue
				}
				at, err := time.Parse(time.RFC3339, t.v)
				if err != nil {
					return fmt.Errorf("%s must be a time such as 2026-11-01T00:00:00Z (got %q)", t.flag, t.v)
				}
				*t.into = at
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out, err := c.CreateCampaign(cmd.Context(), spec)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "campaign %s opened: %d items, due %s; undecided items are %s then\n",
				out.ID, out.Counts.Items, stamp(out.DueAt), map[string]string{"keep": "kept", "revoke": "revoked"}[out.OnNoAnswer])
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&spec.Name, "name", "", "what the campaign is called (required)")
	f.StringVar(&spec.Scope.Kind, "scope", "", "standing (JIT-managed groups' standing members), members (of --group), accounts (contractors) or grants (of --from/--to)")
	f.StringVar(&spec.Scope.Directory, "directory", "", "one directory (default: all)")
	f.StringSliceVar(&spec.Scope.Groups, "group", nil, "groups in scope (repeat or comma-separate)")
	f.StringVar(&from, "from", "", "grants scope: the period's start (RFC 3339)")
	f.StringVar(&to, "to", "", "grants scope: the period's end (RFC 3339)")
	f.StringVar(&spec.Reviewers.Kind, "reviewers", "", "owners (groups[].owners; an account's sponsor), manager (the person's manager) or named")
	f.StringSliceVar(&spec.Reviewers.Users, "reviewer", nil, "named reviewers; with owners or manager, who decides when they find nobody")
	f.StringSliceVar(&spec.Reviewers.Groups, "reviewer-group", nil, "members of these groups review (as --reviewer)")
	f.StringVar(&spec.Duration, "due", "", "how long reviewers have (default 14d)")
	f.StringSliceVar(&spec.Remind, "remind", nil, "remind reviewers with items left this long before the due date (e.g. 3d,1d)")
	f.StringVar(&spec.EscalateAfter, "escalate-after", "", "undecided items also go to the reviewers' managers this long after opening")
	f.StringVar(&spec.OnNoAnswer, "on-no-answer", "keep", "what an undecided item becomes at the due date: keep or revoke")
	create.MarkFlagRequired("name")
	create.MarkFlagRequired("scope")
	create.MarkFlagRequired("reviewers")

	var state string
	list := &cobra.Command{
		Use:   "list",
		Short: "List campaigns, newest first (people who review see theirs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			cs, err := c.Campaigns(cmd.Context(), state)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, cs)
			}
			t := table(w)
			fmt.Fprintln(t, "ID\tNAME\tSTATE\tSCOPE\tDUE\tITEMS\tUNDECIDED\tKEPT\tREVOKED\tJIT\tYOURS")
			for _, x := range cs {
				n := x.Counts
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", x.ID, x.Name, x.State, x.Scope.Kind, stamp(x.DueAt), n.Items, n.Pending, n.Keep, n.Revoke, n.JIT, x.MyPending)
			}
			return t.Flush()
		},
	}
	list.Flags().StringVar(&state, "state", "", "open, closed, or empty for all")

	var mine, pending bool
	show := &cobra.Command{
		Use:   "show CAMPAIGN-ID",
		Short: "Show a campaign and its items (people who review see their own items)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if mine {
				q.Set("mine", "true")
			}
			if pending {
				q.Set("pending", "true")
			}
			d, err := c.Campaign(cmd.Context(), args[0], q)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, d)
			}
			n := d.Counts
			fmt.Fprintf(w, "%s (%s): %s, %s scope, due %s, no answer: %s\n%d items: %d undecided, %d kept, %d revoked, %d made just-in-time\n\n",
				d.Name, d.ID, d.State, d.Scope.Kind, stamp(d.DueAt), d.OnNoAnswer, n.Items, n.Pending, n.Keep, n.Revoke, n.JIT)
			t := table(w)
			fmt.Fprintln(t, "ITEM\tUSER\tGROUP\tSOURCE\tREVIEWERS\tDECISION\tBY\tCOMMENT")
			for _, it := range d.Items {
				fmt.Fprintf(t, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Seq, it.User, orDash(it.Group), it.Source, orDash(strings.Join(it.Reviewers, ",")),
					orDash(it.Decision), it.DecidedBy, it.Comment)
			}
			return t.Flush()
		},
	}
	show.Flags().BoolVar(&mine, "mine", false, "only the items you review")
	show.Flags().BoolVar(&pending, "pending", false, "only undecided items")

	var comment string
	decide := &cobra.Command{
		Use:   "decide CAMPAIGN-ID ITEM keep|revoke|jit [--comment TEXT]",
		Short: "Decide an item you review: keep it, revoke it, or make it just-in-time (removed, then asked for by request)",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.Atoi(args[1])
			if err != nil || seq < 1 {
				return fmt.Errorf("the item must be its number, as show lists it (got %q)", args[1])
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			it, err := c.DecideItem(cmd.Context(), args[0], seq, api.DecideItemRequest{Decision: args[2], Comment: comment})
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), it)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "item %d (%s %s): %s\n", it.Seq, it.User, orDash(it.Group), it.Decision)
			return nil
		},
	}
	decide.Flags().StringVar(&comment, "comment", "", "why (kept in the audit log)")

	closeCmd := &cobra.Command{
		Use:   "close CAMPAIGN-ID",
		Short: "Close a campaign now (admins); undecided items become what --on-no-answer said",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			x, err := c.CloseCampaign(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), x)
			}
			n := x.Counts
			fmt.Fprintf(cmd.OutOrStdout(), "campaign %s closed: %d kept, %d revoked, %d made just-in-time\n", x.ID, n.Keep, n.Revoke, n.JIT)
			return nil
		},
	}
	cmd.AddCommand(create, list, show, decide, closeCmd)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
