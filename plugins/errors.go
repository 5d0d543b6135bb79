package plugins

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of the host side. They are wrapped with the plugin's name; test
// for them with errors.Is. The texts of those a request can get name no
// path or process id of the host: they reach clients in error answers,
// while the router's log has the detail.
var (
	// ErrStart: the plugin could not be started (not found, not
	// executable, handshake failed, wrong protocol, Init failed). Start
	// returns it as a *StartError.
	ErrStart = errors.New("plugins: cannot start plugin")
	// ErrExited: the plugin process died with the request in flight,
	// or the router killed it for breaking the data protocol (an answer
	// that is not a frame, above Config.MaxAnswerLength, or for a
	// request never sent), which the error then says.
	ErrExited = errors.New("plugins: plugin exited")
	// ErrRestarting: the plugin died and is being restarted, and the
	// request's deadline passed before the new process was up.
	ErrRestarting = errors.New("plugins: plugin is restarting")
	// ErrFailed: the plugin kept dying and hit its restart limit; its
	// routes answer this until its cool-down ends
	// (RestartPolicy.Cooldown) or the next reload.
	ErrFailed = errors.New("plugins: plugin failed")
	// ErrBusy: the plugin had Config.MaxInFlight requests in flight
	// until the request's deadline.
	ErrBusy = errors.New("plugins: plugin busy")
	// ErrStopped: the plugin has been shut down.
	ErrStopped = errors.New("plugins: plugin stopped")
	// ErrNoHandler: the plugin has no handler of that name.
	ErrNoHandler = errors.New("plugins: no such handler")
	// ErrAnswerTooLarge: a handler's answer is above the router's limit
	// (Config.MaxAnswerLength). The plugin answers this error instead,
	// and goes on serving.
	ErrAnswerTooLarge = errors.New("plugins: answer above the router's limit")
)

// StartError is why a plugin could not be started. It matches ErrStart
// and its cause with errors.Is. Its text names the plugin's executable
// and gives go-plugin's whole explanation, for the operator; Summary is
// one line without them.
type StartError struct {
	Plugin string // the plugin's name in the config
	Path   string // its executable, if known
	Stage  string // what failed: "handshake", "init", ...; empty for the executable
	Err    error  // the cause
	// Stderr holds the last lines the plugin wrote to its standard
	// error, joined by " | ", when it failed before its handshake: a
	// plugin says there why it cannot start (a missing package).
	Stderr string
}

// Error returns `plugins: cannot start plugin "NAME" (PATH): stage: cause`.
func (e *StartError) Error() string {
	var b strings.Builder
	b.WriteString(ErrStart.Error())
	if e.Plugin != "" {
		fmt.Fprintf(&b, " %q", e.Plugin)
	}
	if e.Path != "" {
		fmt.Fprintf(&b, " (%s)", e.Path)
	}
	b.WriteString(": ")
	b.WriteString(e.stageText())
	if e.Stderr != "" {
		fmt.Fprintf(&b, "\nthe plugin's standard error ends: %s", e.Stderr)
	}
	return b.String()
}

// Unwrap returns ErrStart and the cause.
func (e *StartError) Unwrap() []error { return []error{ErrStart, e.Err} }

// Summary returns the error in one line, without the plugin's name and
// path, for a caller that names them itself: go-plugin explains a failed
// handshake over several lines, of which the first says what happened.
func (e *StartError) Summary() string {
	msg := e.stageText()
	if first, _, cut := strings.Cut(msg, "\n"); cut {
		msg = first
		if strings.Contains(first, "Unrecognized remote plugin message") && e.Stderr == "" {
			msg += " (not a router plugin, or it failed before the handshake; its output is in the debug log)"
		}
	}
	if e.Stderr != "" {
		msg += " (the plugin's standard error ends: " + e.Stderr + ")"
	}
	return strings.Join(strings.Fields(msg), " ")
}

// stageText is "stage: cause", or the cause alone without a stage.
func (e *StartError) stageText() string {
	if e.Stage == "" {
		return fmt.Sprint(e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Stage, e.Err)
}

// ShortError returns err's Summary if it is a *StartError, and else its
// text in one line.
func ShortError(err error) string {
	if se, ok := errors.AsType[*StartError](err); ok {
		return se.Summary()
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return strings.Join(strings.Fields(msg), " ")
}
