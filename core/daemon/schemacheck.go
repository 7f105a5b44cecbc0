package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/config"
	"github.com/jitd/jitd/core/scim"
	"github.com/jitd/jitd/plugins"
)

// startCheckTimeout bounds the schema check at start: a directory that does
// not answer at once (a healthy one answers in milliseconds) is not waited
// for, so that it cannot hold up the others' revocations.
const startCheckTimeout = 2 * time.Second

// schemaTimeout bounds each directory's checks in jitd config check --online.
const schemaTimeout = 30 * time.Second

// connectorSpec is how a directory's connector is started: jitd's own
// binary for a built-in kind, or the configured plugin.
func connectorSpec(cfg *config.Config, dc config.Directory, binary string) plugins.Spec {
	spec := plugins.Spec{Directory: dc.Name, Settings: dc.SettingsValue(), Command: plugins.BuiltinCommand(binary, dc.Kind),
		CallTimeout: time.Duration(cfg.Expiry.CallTimeout)}
	if dc.Plugin != nil {
		spec.Command = plugins.ExternalCommand(dc.Plugin.Path)
		spec.SHA256 = dc.Plugin.SHA256
	}
	return spec
}

// writes lists, for a directory, what jitd's own settings (not the
// connector's) will write there: the SCIM mapping, when SCIM provisions it.
func writes(cfg *config.Config, dc config.Directory) map[string]string {
	if cfg.SCIM == nil || cfg.SCIM.Directory != dc.Name {
		return nil
	}
	return scim.Writes(dialect(dc), *cfg.SCIM)
}

// dialect is the directory's dialect for SCIM's default mapping.
func dialect(dc config.Directory) string {
	if ps, ok := dc.SettingsValue().(connectors.ProvisioningSettings); ok {
		return ps.Dialect()
	}
	return ""
}

// checkSchema asks a directory whether its schema defines every attribute
// the configuration will write; each problem is prefixed with the
// directory's name.
func checkSchema(ctx context.Context, cfg *config.Config, dc config.Directory, conn connectors.Connector) ([]string, error) {
	sc, ok := connectors.AsSchemaChecker(conn)
	if !ok {
		return nil, nil
	}
	problems, err := sc.CheckSchema(ctx, writes(cfg, dc))
	for i, p := range problems {
		problems[i] = "directories." + dc.Name + ": " + p
	}
	return problems, err
}

// checkSchemas runs the schema check on every directory at start. A
// directory whose schema lacks what the configuration writes stops the
// start: otherwise the first deactivation or provisioning write would
// fail, in front of an identity provider. A directory that does not answer
// is checked when jitd config check --online is run; the start goes on.
func (d *Daemon) checkSchemas(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	found := make([][]string, len(d.cfg.Directories))
	var wg sync.WaitGroup
	for i, dc := range d.cfg.Directories {
		wg.Go(func() {
			var err error
			found[i], err = checkSchema(ctx, d.cfg, dc, d.conns[i])
			if err != nil {
				d.opts.Log.Warn("could not check the directory's schema against the configuration; run jitd config check --online once it answers", "directory", dc.Name, "err", err)
			}
		})
	}
	wg.Wait()
	problems := slices.Concat(found...)
	for _, p := range problems {
		d.opts.Log.Error("the directory's schema lacks an attribute the configuration writes", "problem", p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("not starting: %d attributes the configuration writes are not in the directories' schemas: %s", len(problems), strings.Join(problems, "; "))
	}
	return nil
}

// CheckOnline starts each directory's connector as the daemon would and
// reports every problem it finds: a directory that cannot be reached or
// signed in to, attributes the configuration writes that the directory's
// schema does not define, and users and groups the configuration names
// that do not exist, are disabled, or make an approval step impossible.
func CheckOnline(ctx context.Context, cfg *config.Config, binary string, log *slog.Logger) []string {
	var problems []string
	conns := map[string]connectors.Connector{}
	defer func() {
		for name, conn := range conns {
			if err := conn.Close(); err != nil && !errors.Is(err, context.Canceled) {
				log.Debug("closing the connector", "directory", name, "err", err)
			}
		}
	}()
	for _, dc := range cfg.Directories {
		conn, err := plugins.Launch(ctx, connectorSpec(cfg, dc, binary), log, clock.Real{})
		if err != nil {
			problems = append(problems, fmt.Sprintf("directories.%s: the connector does not start: %v", dc.Name, err))
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, schemaTimeout)
		if err := conn.Check(cctx); err != nil {
			problems = append(problems, fmt.Sprintf("directories.%s: %v", dc.Name, err))
			conn.Close()
		} else {
			conns[dc.Name] = conn
			found, err := checkSchema(cctx, cfg, dc, conn)
			problems = append(problems, found...)
			if err != nil {
				problems = append(problems, fmt.Sprintf("directories.%s: could not read the schema: %v", dc.Name, err))
			}
		}
		cancel()
	}
	if len(conns) == len(cfg.Directories) {
		// Names are resolved only when every directory answers: a name
		// missing from an unreachable directory is not a finding.
		cctx, cancel := context.WithTimeout(ctx, 4*schemaTimeout)
		problems = append(problems, checkNames(cctx, cfg, conns)...)
		cancel()
	}
	return problems
}
