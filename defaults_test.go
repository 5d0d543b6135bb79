package router_test

import (
	"testing"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/plugins"
)

// The config shows and applies the plugins package's defaults, and its
// names for the built-ins and the plugin's environment, without
// importing it: they must agree.
func TestConfigAgreesWithPlugins(t *testing.T) {
	for _, c := range []struct {
		key         string
		config, got any
	}{
		{"start_timeout", config.DefaultStartTimeout, plugins.DefaultStartTimeout},
		{"health_interval", config.DefaultHealthInterval, plugins.DefaultHealthInterval},
		{"restart.max_restarts", config.DefaultMaxRestarts, plugins.DefaultMaxRestarts},
		{"restart.backoff", config.DefaultBackoff, plugins.DefaultBackoff},
		{"restart.max_backoff", config.DefaultMaxBackoff, plugins.DefaultMaxBackoff},
		{"restart.reset_after", config.DefaultResetAfter, plugins.DefaultResetAfter},
		{"restart.cooldown", config.DefaultCooldown, plugins.DefaultCooldown},
		{"max_in_flight", config.DefaultMaxInFlight, plugins.DefaultMaxInFlight},
		{"log.lines_per_second", config.DefaultLogLinesPerSecond, plugins.DefaultLogLinesPerSecond},
		{"log.burst", config.DefaultLogBurst, plugins.DefaultLogBurst},
		{"log.max_line", int(config.DefaultMaxLogLine), plugins.DefaultMaxLogLine},
		{"builtin prefix", config.BuiltinPrefix, plugins.BuiltinPrefix},
	} {
		if c.config != c.got {
			t.Errorf("%s: config says %v, plugins %v", c.key, c.config, c.got)
		}
	}
	// A variable of the plugin's handshake is no config key.
	cfg, err := config.Load("", config.LoadOptions{Environ: []string{plugins.Handshake.MagicCookieKey + "=x"}})
	if err != nil {
		t.Errorf("Load with %s set: %v", plugins.Handshake.MagicCookieKey, err)
	} else if cfg == nil {
		t.Error("Load returned no config")
	}
}
