package plugins

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/msgrouter/router/core"
)

// BuiltinPrefix marks a Cmd that names a handler built into the router:
// "builtin:search" runs the router executable as "router plugin search".
const BuiltinPrefix = "builtin:"

// Defaults applied by a Config whose fields are zero.
const (
	DefaultStartTimeout   = 10 * time.Second
	DefaultHealthInterval = 10 * time.Second
	DefaultHealthTimeout  = 5 * time.Second
	DefaultMaxRestarts    = 5
	DefaultBackoff        = 100 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultResetAfter     = time.Minute
	DefaultCooldown       = time.Minute
	DefaultMaxInFlight    = 1024
)

// Config says how to run one plugin. The zero value of every field but
// Name and Cmd works.
type Config struct {
	// Name is the plugin's name in the router's config; logs and errors
	// use it.
	Name string
	// Cmd is the plugin executable's path, or "builtin:NAME".
	Cmd string
	// Args are extra arguments for the executable.
	Args []string
	// Env holds extra KEY=VALUE environment variables for the plugin.
	Env []string
	// Settings are handed to the plugin's Init as a JSON object.
	Settings map[string]any
	// Logger receives the host's logs and the plugin's, under the
	// plugin's name. Nil means silent.
	Logger hclog.Logger
	// StartTimeout bounds starting the plugin. Zero means
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// HealthInterval is the time between health checks. Zero means
	// DefaultHealthInterval; negative means none.
	HealthInterval time.Duration
	// HealthTimeout bounds one health check; a plugin that does not
	// answer in time (frozen, deadlocked) is restarted. Zero means
	// DefaultHealthTimeout.
	HealthTimeout time.Duration
	// Restart is what happens when the plugin dies.
	Restart RestartPolicy
	// Executable is the router executable that "builtin:" names run.
	// Empty means this process's executable (os.Executable).
	Executable string
	// LogLimits bounds the plugin's log lines that the router re-emits
	// (the plugin's standard error): how many a second, and how long
	// one may be. The zero value applies the defaults (see LogLimits).
	LogLimits LogLimits
	// MaxInFlight bounds the requests sent to the plugin and not yet
	// answered: more wait, in the order they came, until one of those
	// ends or their deadline passes (ErrBusy). This is the plugin's
	// backpressure; a plugin that is slow but alive is never killed for
	// it. Zero means DefaultMaxInFlight; negative means no limit.
	MaxInFlight int
	// MaxAnswerLength bounds the content-length of the plugin's answers,
	// as core.Decoder's MaxContentLength does: zero means
	// core.DefaultMaxContentLength, negative means no limit. The plugin
	// is told the limit when it starts, and a plugin built with this
	// package answers ErrAnswerTooLarge for that request instead of a
	// larger answer. A plugin that sends one anyway breaks the data
	// protocol: its data connection fails (its requests in flight are
	// answered ErrExited, saying so) and it is restarted, since the
	// router never buffers more than the limit.
	MaxAnswerLength int64
}

// RestartPolicy says how a dead plugin is restarted: after Backoff, then
// twice as long each time up to MaxBackoff, at most MaxRestarts times in a
// row. A plugin that has stayed up for ResetAfter starts the count anew.
type RestartPolicy struct {
	// MaxRestarts is the limit; zero means DefaultMaxRestarts and
	// negative means never restart.
	MaxRestarts int
	// Backoff is the first delay; zero means DefaultBackoff.
	Backoff time.Duration
	// MaxBackoff caps the delay; zero means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// ResetAfter is the time up that resets the count; zero means
	// DefaultResetAfter.
	ResetAfter time.Duration
	// Cooldown is how long a plugin that hit MaxRestarts stays failed
	// before it is started again, its count anew; zero means
	// DefaultCooldown and negative means it stays failed until a reload.
	// A plugin that is never restarted (MaxRestarts negative) stays
	// failed too.
	Cooldown time.Duration
}

// withDefaults returns c with every default applied, as the rest of the
// package reads it: durations and counts are positive, but for those
// where zero now means none (HealthInterval, Restart.Cooldown) and a
// negative MaxRestarts (never restart); MaxInFlight is math.MaxInt for
// no limit, and MaxAnswerLength negative for none. Start applies it
// once.
func (c Config) withDefaults() Config {
	orDefault := func(v *time.Duration, def time.Duration, noneMeansZero bool) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0 && noneMeansZero:
			*v = 0
		}
	}
	orDefault(&c.StartTimeout, DefaultStartTimeout, false)
	orDefault(&c.HealthInterval, DefaultHealthInterval, true)
	orDefault(&c.HealthTimeout, DefaultHealthTimeout, false)
	r := &c.Restart
	orDefault(&r.Backoff, DefaultBackoff, false)
	orDefault(&r.MaxBackoff, DefaultMaxBackoff, false)
	orDefault(&r.ResetAfter, DefaultResetAfter, false)
	orDefault(&r.Cooldown, DefaultCooldown, true)
	if r.MaxRestarts == 0 {
		r.MaxRestarts = DefaultMaxRestarts
	}
	switch {
	case c.MaxInFlight == 0:
		c.MaxInFlight = DefaultMaxInFlight
	case c.MaxInFlight < 0:
		c.MaxInFlight = math.MaxInt
	}
	switch {
	case c.MaxAnswerLength == 0:
		c.MaxAnswerLength = core.DefaultMaxContentLength
	case c.MaxAnswerLength < 0:
		c.MaxAnswerLength = -1
	}
	return c
}

// resolveCmd turns Cmd into an executable path and its arguments, and
// checks that the executable exists and can be run.
// ExecutablePath returns the path of the executable c runs: Cmd looked up
// on the PATH, or, for "builtin:NAME", the router's own executable. A
// router that compares what it finds there with what it started sees a
// plugin rebuilt in place.
func (c Config) ExecutablePath() (string, error) {
	path, _, err := resolveCmd(c)
	return path, err
}

func resolveCmd(cfg Config) (string, []string, error) {
	path, args := cfg.Cmd, cfg.Args
	if name, ok := strings.CutPrefix(cfg.Cmd, BuiltinPrefix); ok {
		path = cfg.Executable
		if path == "" {
			exe, err := os.Executable()
			if err != nil {
				return "", nil, &StartError{Plugin: cfg.Name, Path: cfg.Cmd, Stage: "cannot find the router executable", Err: err}
			}
			path = exe
		}
		args = append([]string{"plugin", name}, cfg.Args...)
	}
	if path == "" {
		return "", nil, &StartError{Plugin: cfg.Name, Stage: "config", Err: errors.New("no cmd")}
	}
	lp, err := exec.LookPath(path)
	if err != nil {
		return "", nil, &StartError{Plugin: cfg.Name, Path: path, Err: err}
	}
	return lp, args, nil
}
