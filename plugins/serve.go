// Package plugins runs connectors as child processes over hashicorp/go-plugin
// and gRPC with mutual TLS. The host side supervises the child (restarting it
// with backoff) and presents it as an ordinary connectors.Connector; the serve
// side is what `jitd connector serve <kind>` and external plugins run. It is the
// only package that knows go-plugin and gRPC.
package plugins

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// Handshake is shared by jitd and every connector plugin; a binary started
// without it exits with a message instead of serving.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "JITD_CONNECTOR_PLUGIN",
	MagicCookieValue: "b8c1f0e6-jitd-connector",
}

const pluginName = "connector"

// Serve serves a connector plugin on this process's stdio handshake until the
// host goes away. open builds the connector when the host sends its settings.
//
// A child never outlives its host: it exits, closing its directory
// connections, on SIGTERM or SIGINT (the host also asks for SIGTERM at its own
// death where the system offers that), and when its parent process is gone
// however it died.
func Serve(open Opener) {
	srv := &server{open: open}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() {
		select {
		case <-stop:
		case <-parentGone(time.Second / 4):
		}
		srv.close()
		os.Exit(0)
	}()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{pluginName: &connectorPlugin{srv: srv}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Output: os.Stderr, JSONFormat: true, Level: hclog.Info,
		}),
	})
}
