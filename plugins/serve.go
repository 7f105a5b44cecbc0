// Package plugins runs connectors as child processes over hashicorp/go-plugin
// and gRPC with mutual TLS. The host side supervises the child (restarting it
// with backoff) and presents it as an ordinary connectors.Connector; the serve
// side is what `jitd connector serve <kind>` and external plugins run. It is the
// only package that knows go-plugin and gRPC.
package plugins

import (
	"os"

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
func Serve(open Opener) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{pluginName: &connectorPlugin{open: open}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Output: os.Stderr, JSONFormat: true, Level: hclog.Info,
		}),
	})
}
