package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitd/jitd/core/config"
	"github.com/jitd/jitd/core/store/sqlite"
)

func migrateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Inspect the database schema version"}
	var path string
	status := &cobra.Command{
		Use:   "status --config FILE",
		Short: "Show the schema versions this binary knows and those the database has; exit 3 if the database is newer than this binary",
		Long: `Show the schema versions this binary knows and those applied to the
database in data_dir. The daemon applies pending versions itself when it
starts; it refuses a database that a newer jitd migrated, and so does this
command (exit 3). Nothing is changed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return &exitError{3, err}
			}
			db := filepath.Join(cfg.DataDir, "jitd.db")
			ms, err := sqlite.Migrations(cmd.Context(), db)
			if err != nil {
				return err
			}
			type row struct {
				Version string     `json:"version"`
				State   string     `json:"state"`
				Applied *time.Time `json:"applied_at,omitempty"`
			}
			var rows []row
			pending, unknown := 0, 0
			for _, m := range ms {
				r := row{Version: m.Version}
				switch {
				case !m.Known:
					r.State, unknown = "unknown to this binary", unknown+1
				case m.Applied.IsZero():
					r.State, pending = "pending", pending+1
				default:
					r.State = "applied"
				}
				if !m.Applied.IsZero() {
					at := m.Applied.UTC()
					r.Applied = &at
				}
				rows = append(rows, r)
			}
			if g.json() {
				if err := printJSON(cmd.OutOrStdout(), rows); err != nil {
					return err
				}
			} else {
				t := table(cmd.OutOrStdout())
				fmt.Fprintln(t, "VERSION\tSTATE\tAPPLIED")
				for _, r := range rows {
					at := "-"
					if r.Applied != nil {
						at = r.Applied.Format(time.RFC3339)
					}
					fmt.Fprintf(t, "%s\t%s\t%s\n", r.Version, r.State, at)
				}
				t.Flush()
				switch {
				case unknown > 0:
					fmt.Fprintf(cmd.OutOrStdout(), "%s was migrated by a newer jitd: this binary refuses it; run the newer version or restore a backup taken before the upgrade\n", db)
				case pending > 0:
					fmt.Fprintf(cmd.OutOrStdout(), "%d versions pending: jitd serve applies them when it starts\n", pending)
				default:
					fmt.Fprintln(cmd.OutOrStdout(), "up to date")
				}
			}
			if unknown > 0 {
				return &exitError{3, fmt.Errorf("%s: schema newer than this binary", db)}
			}
			return nil
		},
	}
	status.Flags().StringVarP(&path, "config", "c", envOr("JITD_CONFIG", defaultConfigPath()), "configuration file (env JITD_CONFIG)")
	cmd.AddCommand(status)
	return cmd
}
