package plugins

import "github.com/hashicorp/go-plugin"

// Handshake is the go-plugin handshake between the router and its plugins.
//
// Version policy: ProtocolVersion is bumped when a change to the control
// service or to the data path's framing means an older plugin and a
// newer router (or the reverse) can no longer work together. Compatible
// additions (a new optional field, a new optional header) do not bump it.
// A router refuses a plugin built for another version with a clear error.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "ROUTER_PLUGIN",
	MagicCookieValue: "f3c1a8e2-message-router-plugin",
}

// pluginKey names the one plugin each process serves in go-plugin's set.
const pluginKey = "router"
