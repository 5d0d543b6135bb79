package config

import "time"

// The defaults of a plugin's keys: what a plugin whose file leaves a key
// out gets. They are the values the plugins package applies to a zero
// field (the router's tests check that the two agree); the config holds
// them itself so that it can show and check them without the plugins
// package.
const (
	DefaultStartTimeout           = 10 * time.Second
	DefaultHealthInterval         = 10 * time.Second
	DefaultMaxRestarts            = 5
	DefaultBackoff                = 100 * time.Millisecond
	DefaultMaxBackoff             = 5 * time.Second
	DefaultResetAfter             = time.Minute
	DefaultCooldown               = time.Minute
	DefaultMaxInFlight            = 1024
	DefaultInstances              = 1
	DefaultLogLinesPerSecond      = 100
	DefaultLogBurst               = 200
	DefaultMaxLogLine        Size = 4 << 10
)

// BuiltinPrefix marks a plugin cmd that names a handler built into the
// router: "builtin:search" runs the router executable as "router plugin
// search".
const BuiltinPrefix = "builtin:"

// pluginEnvCookie is the variable by which a process knows it runs as a
// plugin (go-plugin's magic cookie, see plugins.Handshake): it starts
// with EnvPrefix but is no config key.
const pluginEnvCookie = "ROUTER_PLUGIN"
