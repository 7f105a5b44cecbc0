// Command jitd is the just-in-time access daemon and its command-line client.
//
// Exit codes: 0 success; 1 error; 2 usage error; 3 `audit verify` found the
// audit log tampered with, or `config check` found problems.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/core/api"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "jitd: "+oneLine(err))
	var ee *exitError
	var ae *api.Error
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.code)
	case errors.As(err, &ae) && ae.Status == 400:
		os.Exit(2)
	case isUsage(err):
		os.Exit(2)
	}
	os.Exit(1)
}

type globals struct {
	addr, token, tokenFile, output string
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "jitd",
		Short:         "Just-in-time access: temporary group memberships that remove themselves",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", envOr("JITD_ADDR", "http://127.0.0.1:8457"), "daemon API address (env JITD_ADDR)")
	pf.StringVar(&g.token, "token", "", "API token (env JITD_TOKEN; prefer the environment or --token-file over this flag)")
	pf.StringVar(&g.tokenFile, "token-file", "", "file holding the API token (env JITD_TOKEN_FILE); --token and --token-file beat the environment")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageErr{err} })
	root.AddCommand(serveCmd(), grantCmd(g), accountCmd(g), policyCmd(g), requestCmd(g), breakglassCmd(g), reviewCmd(g), decideCmd(g, true), decideCmd(g, false), tokenCmd(g), whoamiCmd(g), loginCmd(g), logoutCmd(g), inviteCmd(g), auditCmd(g), reportCmd(g), evidenceCmd(g), syncCmd(g), driftCmd(g), baselineCmd(g), configCmd(), migrateCmd(g), backupCmd(g), restoreCmd(g), serviceCmd(), versionCmd(g), connectorCmd())
	return root
}

type usageErr struct{ error }

func isUsage(err error) bool {
	var u usageErr
	return errors.As(err, &u)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func oneLine(err error) string {
	s := err.Error()
	for i, r := range s {
		if r == '\n' {
			return s[:i] + " (and more; see above)"
		}
	}
	return s
}
