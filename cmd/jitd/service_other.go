//go:build !windows

package main

import (
	"context"
	"errors"
	"log/slog"
)

// defaultConfigPath is where the daemon reads its configuration.
func defaultConfigPath() string { return "/etc/jitd/config.yaml" }

const serviceAccount = ""

var errNotWindows = errors.New("jitd service manages the Windows service; on Linux, install the package and use systemctl (docs/operations.md)")

func asService(slog.Leveler, func(ctx context.Context, reload <-chan struct{}, ready func(), log *slog.Logger) error) (bool, error) {
	return false, nil
}

func installService(cfg, account string) error { return errNotWindows }
func uninstallService() error                  { return errNotWindows }
func controlService(start bool) error          { return errNotWindows }

// containChildren does nothing here: the plugin host ends its children,
// and the kernel reaps them with the daemon.
func containChildren() error { return nil }
