package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/builtin"
	"github.com/jitd/jitd/connectors/entra"
	"github.com/jitd/jitd/core/config"
	"github.com/jitd/jitd/core/daemon"
	"github.com/jitd/jitd/plugins"
)

func serveCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find jitd's own binary for connector children: %w", err)
			}
			level := new(slog.LevelVar)
			var l slog.Level
			l.UnmarshalText([]byte(cfg.Log.Level))
			level.Set(l)
			run := func(ctx context.Context, reload <-chan struct{}, ready func(), log *slog.Logger) error {
				if err := containChildren(); err != nil {
					log.Warn("could not tie the connector children to the daemon's life", "err", err)
				}
				return daemon.Run(ctx, cfg, daemon.Options{Binary: self, Log: log, Level: level, Version: version, Reload: reload,
					Ready: func(string) { ready() }, Load: func() (*config.Config, error) { return config.Load(path) }})
			}
			// Started by the Windows service manager: it stops and reloads
			// the daemon, and the log goes to the event log.
			if handled, err := asService(level, run); handled {
				return err
			}
			// SIGHUP reloads the configuration; it never ends the daemon.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reload := make(chan struct{}, 1)
			go func() {
				for range hup {
					select {
					case reload <- struct{}{}:
					default: // one is pending already
					}
				}
			}()
			return run(cmd.Context(), reload, func() {}, newLogger(os.Stderr, cfg.Log, level))
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", envOr("JITD_CONFIG", defaultConfigPath()), "configuration file (env JITD_CONFIG)")
	return cmd
}

// newLogger makes the daemon's logger; level, set from c, may change later.
func newLogger(w io.Writer, c config.Log, level *slog.LevelVar) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(c.Level))
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		// Durations in seconds, as log shippers and dashboards count them.
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				return slog.Float64(a.Key, a.Value.Duration().Seconds())
			}
			return a
		}
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with the configuration file"}
	var path string
	var online bool
	check := &cobra.Command{
		Use:   "check --config FILE [--online]",
		Short: "Report every problem in a configuration file; exit 3 if there are any",
		Long: `Report every problem in a configuration file; exit 3 if there are any.

With --online, also start each directory's connector, sign in, and check the
directory's schema for every attribute the configuration will write (the
disabled marker, the accounts marker, the provisioning and SCIM attributes).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if p, ok := err.(config.Problems); ok {
				for _, line := range p.Lines() {
					fmt.Fprintln(cmd.ErrOrStderr(), line)
				}
				return &exitError{3, fmt.Errorf("%s: %d problems", path, len(p))}
			}
			if err != nil {
				return &exitError{3, err}
			}
			if online {
				self, err := os.Executable()
				if err != nil {
					return err
				}
				problems := daemon.CheckOnline(cmd.Context(), cfg, self, slog.New(slog.DiscardHandler))
				for _, line := range problems {
					fmt.Fprintln(cmd.ErrOrStderr(), line)
				}
				if len(problems) > 0 {
					return &exitError{3, fmt.Errorf("%s: %d problems online", path, len(problems))}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok online (%d directories reached, schemas checked)\n", path, len(cfg.Directories))
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d directories)\n", path, len(cfg.Directories))
			return nil
		},
	}
	check.Flags().BoolVar(&online, "online", false, "also reach each directory and check its schema against the configuration")
	check.Flags().StringVarP(&path, "config", "c", envOr("JITD_CONFIG", defaultConfigPath()), "configuration file (env JITD_CONFIG)")
	cmd.AddCommand(check)
	return cmd
}

func versionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print jitd's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]string{"version": version})
			}
			fmt.Fprintln(cmd.OutOrStdout(), "jitd", version)
			return nil
		},
	}
}

// connectorCmd is how jitd runs its built-in connectors as child processes.
func connectorCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "connector", Hidden: true}
	cmd.AddCommand(&cobra.Command{
		Use:   "serve KIND",
		Short: "Serve a built-in connector over the plugin protocol (started by jitd serve)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind := args[0]
			if _, ok := builtin.Lookup(kind); !ok {
				return usageErr{fmt.Errorf("unknown connector kind %q", kind)}
			}
			if os.Getenv(plugins.Handshake.MagicCookieKey) == "" {
				return usageErr{fmt.Errorf("this command is started by `jitd serve`, not by hand")}
			}
			// Kinds whose SDKs only the binary links: config validation knows
			// them through builtin, the child opens them here.
			heavy := map[string]builtin.Kind{
				"entra": builtin.KindOf(func(_ string, c entra.Config) (connectors.Connector, error) { return entra.New(c) }),
			}
			plugins.Serve(func(dir string, settings []byte) (connectors.Connector, error) {
				return builtin.OpenWith(heavy, kind, dir, settings)
			})
			return nil
		},
	})
	return cmd
}
