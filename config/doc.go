// Package config reads, checks and defaults the file that describes a
// whole router: its listeners, its plugins, its routes, its limits,
// timeouts and logging. It reads YAML, TOML or JSON with koanf, applies
// ROUTER_ environment variables and flags over the file, and validates
// the result. It runs nothing: the module's root package, router, starts
// and reloads the router a Config describes.
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
// See README.md in this directory for every key, its type and default.
package config
