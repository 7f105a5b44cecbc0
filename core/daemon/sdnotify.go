package daemon

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"
)

// notifier speaks systemd's readiness protocol (sd_notify) when the
// service manager asks for it (NOTIFY_SOCKET, Type=notify): READY=1 once
// the API listens, RELOADING=1 and READY=1 around a reload, STOPPING=1 on
// shutdown, and WATCHDOG=1 while the daemon is healthy (WatchdogSec). A
// daemon not started by systemd sends nothing.
type sdNotifier struct {
	addr string
	log  *slog.Logger
}

func newSDNotifier(log *slog.Logger) *sdNotifier {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:] // an abstract socket
	}
	return &sdNotifier{addr: addr, log: log}
}

func (n *sdNotifier) send(state string) {
	if n == nil {
		return
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.addr, Net: "unixgram"})
	if err != nil {
		n.log.Warn("systemd notification not sent", "state", state, "err", err)
		return
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		n.log.Warn("systemd notification not sent", "state", state, "err", err)
	}
}

// watchdog sends WATCHDOG=1 at half the interval systemd asks for, as long
// as healthy answers within it: a daemon whose store no longer answers is
// restarted by systemd instead of looking alive.
func (n *sdNotifier) watchdog(ctx context.Context, healthy func(context.Context) error) {
	if n == nil {
		return
	}
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return
	}
	every := time.Duration(usec) * time.Microsecond / 2
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, every)
		err := healthy(cctx)
		cancel()
		if err == nil {
			n.send("WATCHDOG=1")
		} else if ctx.Err() == nil {
			n.log.Error("ALERT: the daemon is not healthy; the systemd watchdog is not fed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
