package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/core/report"

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
	var checkpointFile, bundle, publicKey string
	verify := &cobra.Command{
		Use:   "verify [--checkpoint FILE] | --bundle FILE [--public-key HEX]",
		Short: "Check the whole chain (exit 3 if a row was edited, inserted or deleted), or an evidence bundle offline",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if bundle != "" {
				return verifyBundle(cmd, g, bundle, publicKey)
			}
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
	verify.Flags().StringVar(&bundle, "bundle", "", "an evidence bundle (jitd evidence export) to check offline, without the daemon")
	verify.Flags().StringVar(&publicKey, "public-key", "", "the jitd's audit public key (jitd audit key), kept apart from the bundle; without it the bundle is checked against the key it names")
	key := &cobra.Command{
		Use:   "key",
		Short: "Print the public key that signs checkpoints and evidence bundles (give it to auditors apart from any bundle)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			k, err := c.AuditKey(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), k)
			return nil
		},
	}
	cmd.AddCommand(list, verify, key)
	return cmd
}

// verifyBundle checks an evidence bundle offline; exit 3 when it does not
// verify.
func verifyBundle(cmd *cobra.Command, g *globals, path, publicKey string) error {
	f, err := os.Open(path)
	if err != nil {
		return usageErr{fmt.Errorf("--bundle: %w", err)}
	}
	defer f.Close()
	var pub ed25519.PublicKey
	if publicKey != "" {
		if pub, err = hex.DecodeString(strings.TrimSpace(publicKey)); err != nil || len(pub) != ed25519.PublicKeySize {
			return usageErr{fmt.Errorf("--public-key must be the hex jitd audit key prints (got %q)", publicKey)}
		}
	}
	v, err := report.VerifyEvidence(f, pub)
	if err != nil {
		return &exitError{3, fmt.Errorf("the evidence bundle does not verify: %w", err)}
	}
	w := cmd.OutOrStdout()
	if g.json() {
		return printJSON(w, v)
	}
	fmt.Fprintf(w, "evidence bundle intact: %d files, audit events %d to %d (%d) linked from the anchor, checkpoint signed; period %s to %s\n",
		len(v.Files), v.FirstSeq, v.LastSeq, v.Events, v.From.UTC().Format(time.RFC3339), v.To.UTC().Format(time.RFC3339))
	if v.SelfSigned {
		fmt.Fprintf(w, "signed by key %s, named by the bundle itself: give --public-key (jitd audit key) to prove whose it is\n", v.PublicKey)
	}
	return nil
}

func printEvents(w io.Writer, evs []audit.Event) error {
	t := table(w)
	fmt.Fprintln(t, "SEQ\tTIME\tACTOR\tACTION\tGRANT\tUSER\tGROUP\tDETAIL")
	for _, e := range evs {
		fmt.Fprintf(t, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, stamp(e.Time), e.Actor, e.Action, e.GrantID, e.User, e.Group, e.Detail)
	}
	return t.Flush()
}
