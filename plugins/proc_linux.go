package plugins

import "syscall"

// deathSignal has Linux send SIGTERM to the child when the daemon dies. It
// fires when the thread that started the child exits, which Go rarely does;
// the child's own watch on its parent covers the rest.
func deathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGTERM }
