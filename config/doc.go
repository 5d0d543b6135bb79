// Package config sets up a whole router from one file: its listeners,
// its plugins, its routes, its limits, timeouts and logging. It reads
// YAML, TOML or JSON with koanf, applies ROUTER_ environment variables
// and flags over the file, validates the result, builds the router it
// describes, and reloads it when the file changes.
//
// # Loading
//
// Load reads a file over the defaults (the embedded default.yaml, which
// Default and DefaultYAML return), then applies the environment and the
// flags of LoadOptions, in that order of precedence. Every problem is
// reported at once, one per line, in the form
//
//	FILE: KEY: what is wrong (want WHAT)
//
// each an *Error wrapping a class (ErrUnknownKey, ErrType, ErrValue,
// ErrRoute, ErrListen, ...) for errors.Is; Errors splits them.
//
// # Running
//
// Start builds a Router from a Config: it opens the listeners, starts
// the plugins together, checks every route against the actions and
// content-types its plugin's handler declared, and builds the route
// table. Serve serves it; Shutdown stops it, connections first, then
// plugins.
//
// # Reloading
//
// Reload (what a SIGHUP should trigger, through ReloadFile) and Watch
// (on file change) apply a new Config without dropping a connection:
// new or changed plugins are started, added listeners opened, and only
// then is the route table swapped, atomically. A request in flight
// finishes on the table it started with; plugins that only the old
// table used are stopped once its requests are done; removed listeners
// are closed, their connections left to finish. A config that fails
// anywhere on the way changes nothing, and the last good one keeps
// serving.
//
// See README.md in this directory for every key, its type and default.
package config
