package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/core/config"
	"github.com/jitd/jitd/core/datadir"
)

func backupCmd(g *globals) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "backup FILE --config CONFIG",
		Short: "Write the database and every key file the daemon needs into one archive (the daemon may run)",
		Long: `Write the database (copied online with SQLite's backup API, so the daemon
may keep running) and the files beside it that the daemon needs — the audit
key and checkpoints, the link and session keys, the admin token — into one
archive, FILE, readable by its owner only. FILE must not exist.

Keep the archive as you keep the keys: whoever holds it can sign links and
read the admin token. Restore it with jitd restore.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return &exitError{3, err}
			}
			m, err := datadir.Backup(cmd.Context(), datadir.LayoutOf(cfg), args[0], version, cfg.InstanceID)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), m)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d files, schema %s\n", args[0], len(m.Files), m.Schema)
			for _, f := range m.Files {
				fmt.Fprintf(cmd.OutOrStdout(), "  %-18s %10d bytes  sha256 %s\n", f.Name, f.Size, f.SHA256)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", envOr("JITD_CONFIG", defaultConfigPath()), "configuration file (env JITD_CONFIG)")
	return cmd
}

func restoreCmd(g *globals) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "restore FILE --config CONFIG",
		Short: "Put a backup in place in a fresh data directory (the daemon must be stopped)",
		Long: `Put a backup made by jitd backup in place: the database into data_dir and
each key file where the configuration keeps it. Nothing is overwritten: the
data directory must hold no database and none of the files. The whole
archive is checked (manifest, sizes, checksums, the database's schema
version) before anything is moved into place, and a running daemon on the
same data directory makes it refuse.

Then start jitd serve and run jitd audit verify.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return &exitError{3, err}
			}
			m, err := datadir.Restore(cmd.Context(), args[0], datadir.LayoutOf(cfg))
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), m)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %d files into %s (backup of %s made %s by jitd %s, schema %s)\nnext: jitd serve, then jitd audit verify\n",
				len(m.Files), cfg.DataDir, m.Directory, m.Created.Format("2006-01-02 15:04:05 MST"), m.Version, m.Schema)
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", envOr("JITD_CONFIG", defaultConfigPath()), "configuration file (env JITD_CONFIG)")
	return cmd
}
