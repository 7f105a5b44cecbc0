package plugins

import (
	"os"
	"os/exec"
	"time"
)

// parentGone is closed when the parent process has exited. Windows does not
// re-parent orphans, so the parent is watched by its handle.
func parentGone(time.Duration) <-chan struct{} {
	gone := make(chan struct{})
	p, err := os.FindProcess(os.Getppid())
	if err != nil { // gone already
		close(gone)
		return gone
	}
	go func() {
		p.Wait()
		close(gone)
	}()
	return gone
}

// setProcAttr: children on Windows need no process-group setup.
func setProcAttr(*exec.Cmd) {}
