//go:build unix && !linux

package plugins

import "syscall"

// deathSignal: only Linux offers a parent-death signal; the child's watch on
// its parent is what ends it elsewhere.
func deathSignal(*syscall.SysProcAttr) {}
