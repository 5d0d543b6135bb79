// Command router runs and talks to the message router.
//
//	router serve           run the router (default: 127.0.0.1:65432, built-in routes)
//	router worker          serve plugins' handlers to routers over NATS
//	router reload          have a running router reload its config (SIGHUP)
//	router send            send one request and print the answer
//	router bench           send load to a router and report throughput and latency
//	router soak            run a router under load and faults, and check nothing is lost
//	router config check    check a config file and print the config it gives
//	router config default  print the default config file
//	router plugin          serve a built-in handler as a plugin process (run by serve)
//	router version         print the version
//	router help            show help for a command
//
// Exit codes: 0 success; 1 runtime failure (invalid config, cannot bind, a
// plugin cannot start, cannot connect, the server answered an error); 2
// usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/plugins"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// Once the first signal has started a graceful shutdown, a second one
	// gets the default behaviour and kills the process.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args (without the program name) and returns
// the exit code. Cancelling ctx stops a running server gracefully.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	return c.run(ctx, args)
}

// cli is one invocation of the command.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	// environ, if not nil, is the environment whose ROUTER_ variables
	// override the config, instead of the process's. Tests set it.
	environ []string

	// listening, if set, is called by serve once all its listeners are
	// open, with their bound addresses in the order of the config: the
	// framed ones, then the raw ones. With flags, that is the --listen
	// ones, then the --raw ones. Tests use it to learn the ports chosen
	// for port 0.
	listening func(framed, raw []net.Addr)

	// hup, if set, replaces SIGHUP for serve and worker: a value on it
	// reloads the config file. Tests use it.
	hup <-chan os.Signal

	// executable, if set, is the router executable that serve runs for
	// "builtin:" plugins, instead of this process's own executable.
	// Tests set it: their binary is not the router.
	executable string

	// servePlugin, if set, replaces plugins.ServePlugin, which does not
	// return, for the plugin command. Tests use it.
	servePlugin func(*plugins.Plugin)
}

// command is one command, or one subcommand (whose name then holds its
// parent's: "config check"). A command either has subcommands, or a
// setup that declares its flags on fs and returns the function that runs
// it with the remaining arguments.
type command struct {
	name     string
	args     string // usage after "router NAME [flags]"
	summary  string // one line, for the command list
	desc     string
	examples []string
	subs     []*command
	// interspersed lets flags come after the arguments too.
	interspersed bool
	setup        func(fs *flag.FlagSet) func(ctx context.Context, c *cli, args []string) error
}

// commands in the order help lists them.
var commands []*command

func init() {
	commands = []*command{serveCmd, workerCmd, reloadCmd, sendCmd, benchCmd, soakCmd, configCmd, pluginCmd, versionCmd, helpCmd}
}

// lookup returns the command that names (a command, then its
// subcommands) name, or nil.
func lookup(names ...string) *command {
	list := commands
	var found *command
	for _, n := range names {
		found = nil
		for _, cmd := range list {
			if cmd.base() == n {
				found = cmd
			}
		}
		if found == nil {
			return nil
		}
		list = found.subs
	}
	return found
}

// base is the last word of the command's name: "check" for "config check".
func (cmd *command) base() string {
	return cmd.name[strings.LastIndexByte(cmd.name, ' ')+1:]
}

// subNames lists the names of the subcommands, for messages.
func (cmd *command) subNames() string {
	names := make([]string, len(cmd.subs))
	for i, s := range cmd.subs {
		names[i] = s.base()
	}
	return strings.Join(names, " or ")
}

// usageError is a mistake on the command line: exit code 2.
type usageError struct {
	cmd string // "" for the top level
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

func (c *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		c.topUsage(c.stderr)
		return exitUsage
	}
	name := args[0]
	switch {
	case isHelp(name):
		c.topUsage(c.stdout)
		return exitOK
	case name == "-version" || name == "--version":
		name = "version"
	}
	cmd := lookup(name)
	if cmd == nil {
		return c.fail(usagef("", "unknown command %q", name))
	}
	return c.runCommand(ctx, cmd, args[1:])
}

// runCommand runs cmd with args, the arguments after its name.
func (c *cli) runCommand(ctx context.Context, cmd *command, args []string) int {
	if len(cmd.subs) > 0 {
		switch {
		case len(args) == 0:
			return c.fail(usagef(cmd.name, "want a subcommand: %s", cmd.subNames()))
		case isHelp(args[0]):
			c.cmdUsage(c.stdout, cmd)
			return exitOK
		}
		sub := lookup(append(strings.Fields(cmd.name), args[0])...)
		if sub == nil {
			return c.fail(usagef(cmd.name, "unknown subcommand %q; want %s", args[0], cmd.subNames()))
		}
		return c.runCommand(ctx, sub, args[1:])
	}
	fs := newFlagSet(cmd)
	runCmd := cmd.setup(fs)
	rest, err := parseFlags(fs, args, cmd.interspersed)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.cmdUsage(c.stdout, cmd)
			return exitOK
		}
		return c.fail(usagef(cmd.name, "%v", err))
	}
	return c.fail(runCmd(ctx, c, rest))
}

// parseFlags parses args and returns the arguments that are not flags.
// Unless interspersed, flags end at the first argument that is not one.
func parseFlags(fs *flag.FlagSet, args []string, interspersed bool) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if !interspersed {
		return fs.Args(), nil
	}
	var rest []string
	for args = fs.Args(); len(args) > 0; args = fs.Args() {
		rest = append(rest, args[0])
		if err := fs.Parse(args[1:]); err != nil {
			return nil, err
		}
	}
	return rest, nil
}

// newFlagSet returns an empty flag set for cmd that reports nothing
// itself: errors are reported by fail, help by cmdUsage.
func newFlagSet(cmd *command) *flag.FlagSet {
	fs := flag.NewFlagSet("router "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// fail reports err, if any, and returns the exit code for it. A config's
// problems are printed one a line as they are, each already naming its
// source and key: "router.yaml: routes[1].plugin: ...".
func (c *cli) fail(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		if ue.cmd == "" {
			fmt.Fprintf(c.stderr, "router: %s\nRun 'router help' for usage.\n", ue.msg)
		} else {
			fmt.Fprintf(c.stderr, "router %s: %s\nRun 'router help %s' for usage.\n", ue.cmd, ue.msg, ue.cmd)
		}
		return exitUsage
	case len(config.Errors(err)) > 0:
		fmt.Fprintln(c.stderr, err)
		return exitFailure
	default:
		fmt.Fprintf(c.stderr, "router: %v\n", err)
		return exitFailure
	}
}

func (c *cli) topUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString(`router is an embeddable, plugin-driven message router. It speaks the
framed protocol of the classic Python sockets tutorial's app-server (a 2-byte
big-endian header length, a JSON header, then the content).

Usage:

	router <command> [flags] [arguments]

Commands:

`)
	for _, cmd := range commands {
		fmt.Fprintf(&b, "\t%-8s %s\n", cmd.name, cmd.summary)
	}
	b.WriteString(`
Run 'router help <command>' or 'router <command> -h' for a command's flags
and examples.

Examples:

	router serve
	router serve -c router.yaml
	router send search morpheus
	router config default > router.yaml
	router config check router.yaml

` + exitCodesHelp)
	io.WriteString(w, b.String())
}

// exitCodesHelp ends the top-level help; each command's tells its own.
const exitCodesHelp = `Exit codes:

	0  success
	1  runtime failure: an invalid config, cannot listen, a plugin cannot
	   start or does not declare what its routes match, cannot connect,
	   the server answered an error, or the server stopped with an error
	2  usage error: unknown command or flag, bad flag value, wrong number
	   of arguments
`

func (c *cli) cmdUsage(w io.Writer, cmd *command) {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: router %s", cmd.name)
	nflags := 0
	var fs *flag.FlagSet
	if cmd.setup != nil {
		fs = newFlagSet(cmd)
		cmd.setup(fs)
		fs.VisitAll(func(*flag.Flag) { nflags++ })
	}
	switch {
	case len(cmd.subs) > 0:
		b.WriteString(" <subcommand> [flags] [arguments]")
	case nflags > 0:
		b.WriteString(" [flags]")
	}
	if cmd.args != "" {
		b.WriteString(" " + cmd.args)
	}
	b.WriteString("\n\n")
	b.WriteString(cmd.desc)
	if len(cmd.subs) > 0 {
		b.WriteString("\nSubcommands:\n\n")
		for _, s := range cmd.subs {
			fmt.Fprintf(&b, "\t%-8s %s\n", s.base(), s.summary)
		}
		fmt.Fprintf(&b, "\nRun 'router help %s <subcommand>' for a subcommand's flags.\n", cmd.name)
	}
	if nflags > 0 {
		b.WriteString("\nFlags:\n")
		fs.SetOutput(&b)
		fs.PrintDefaults()
	}
	if len(cmd.examples) > 0 {
		b.WriteString("\nExamples:\n")
		for _, ex := range cmd.examples {
			b.WriteString("\n\t" + strings.ReplaceAll(ex, "\n", "\n\t") + "\n")
		}
	}
	io.WriteString(w, b.String())
}

var helpCmd = &command{
	name:    "help",
	args:    "[command [subcommand]]",
	summary: "show help for router or one of its commands",
	desc: `Help prints the usage of router, or of the named command: what it does, its
flags and examples.
`,
	examples: []string{
		"# The commands, the exit codes:\nrouter help",
		"# One command, the same as 'router serve -h':\nrouter help serve",
		"# A subcommand:\nrouter help config check",
	},
	setup: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		return func(_ context.Context, c *cli, args []string) error {
			if len(args) == 0 {
				c.topUsage(c.stdout)
				return nil
			}
			if len(args) > 2 {
				return usagef("help", "want at most a command and a subcommand, got %d arguments", len(args))
			}
			cmd := lookup(args...)
			if cmd == nil {
				if len(args) == 2 && lookup(args[0]) != nil {
					return usagef("help", "unknown subcommand %q of %q", args[1], args[0])
				}
				return usagef("help", "unknown command %q", args[0])
			}
			c.cmdUsage(c.stdout, cmd)
			return nil
		}
	},
}
