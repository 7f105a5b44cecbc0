//go:build unix

package plugins

import (
	"os"
	"os/exec"
	"syscall"
	"time"
)

// parentGone is closed when this process's parent has gone: on Unix an
// orphan is re-parented (to init or a subreaper), so its parent id changes.
func parentGone(every time.Duration) <-chan struct{} {
	gone := make(chan struct{})
	ppid := os.Getppid()
	go func() {
		for os.Getppid() == ppid {
			time.Sleep(every)
		}
		close(gone)
	}()
	return gone
}

// setProcAttr puts the child in its own process group, so that a Ctrl-C
// meant for the daemon does not kill the child mid-call (the daemon stops
// its children itself), and asks for SIGTERM at the daemon's death where
// the system can (deathSignal).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	deathSignal(cmd.SysProcAttr)
}
