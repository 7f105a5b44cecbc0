package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func serviceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "service", Short: "Install and control jitd as a Windows service"}
	var cfg, account string
	install := &cobra.Command{
		Use:   "install [--config FILE] [--account ACCOUNT]",
		Short: "Register jitd as an automatic Windows service that runs jitd serve (run as an administrator)",
		Long: `Register jitd as an automatic (delayed start) Windows service that runs
"jitd serve --config FILE" as ACCOUNT (default: the virtual account
NT SERVICE\jitd), restarted on failure; register its event log source; and
give the configuration's directory (default %ProgramData%\jitd) an ACL that
admits only that account, SYSTEM and Administrators. The configuration must
exist: write it first and check it with jitd config check.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := installService(cfg, account); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "service jitd installed (runs as %s, config %s); start it with jitd service start\n", account, cfg)
			return nil
		},
	}
	install.Flags().StringVarP(&cfg, "config", "c", defaultConfigPath(), "configuration file")
	install.Flags().StringVar(&account, "account", serviceAccount, "the account the service runs as")
	simple := func(use, short string, run func() error, done string) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
			if err := run(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), done)
			return nil
		}}
	}
	cmd.AddCommand(install,
		simple("uninstall", "Remove the Windows service (the data stays)", uninstallService, "service jitd removed; the data directory is kept"),
		simple("start", "Start the Windows service", func() error { return controlService(true) }, "service jitd starting"),
		simple("stop", "Stop the Windows service (in-flight directory calls finish first)", func() error { return controlService(false) }, "service jitd stopped"))
	return cmd
}
