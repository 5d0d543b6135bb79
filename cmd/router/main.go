// Command router runs and talks to the message router.
//
//	router serve     run the router (default: 127.0.0.1:65432, built-in routes)
//	router send      send one request and print the answer
//	router plugin    serve a built-in handler as a plugin process (run by serve)
//	router version   print the version
//	router help      show help for a command
//
// Exit codes: 0 success; 1 runtime failure (cannot bind, a plugin cannot
// start, cannot connect, the server answered an error); 2 usage error.
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

	// listening, if set, is called by serve once all its listeners are
	// open, with their bound addresses in the order of the flags: the
	// framed ones (--listen), then the raw ones (--raw). Tests use it to
	// learn the ports chosen for port 0.
	listening func(framed, raw []net.Addr)

	// executable, if set, is the router executable that serve runs for
	// "builtin:" plugins, instead of this process's own executable.
	// Tests set it: their binary is not the router.
	executable string

	// servePlugin, if set, replaces plugins.ServePlugin, which does not
	// return, for the plugin command. Tests use it.
	servePlugin func(*plugins.Plugin)
}

// command is one subcommand. setup declares its flags on fs and returns
// the function that runs it with the remaining arguments.
type command struct {
	name     string
	args     string // usage after "router NAME [flags]"
	summary  string // one line, for the command list
	desc     string
	examples []string
	setup    func(fs *flag.FlagSet) func(ctx context.Context, c *cli, args []string) error
}

// commands in the order help lists them.
var commands []*command

func init() {
	commands = []*command{serveCmd, sendCmd, pluginCmd, versionCmd, helpCmd}
}

func lookup(name string) *command {
	for _, cmd := range commands {
		if cmd.name == name {
			return cmd
		}
	}
	return nil
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

func (c *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		c.topUsage(c.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		c.topUsage(c.stdout)
		return exitOK
	case "-version", "--version":
		name = "version"
	}
	cmd := lookup(name)
	if cmd == nil {
		return c.fail(usagef("", "unknown command %q", name))
	}
	fs := newFlagSet(cmd)
	runCmd := cmd.setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.cmdUsage(c.stdout, cmd)
			return exitOK
		}
		return c.fail(usagef(cmd.name, "%v", err))
	}
	return c.fail(runCmd(ctx, c, fs.Args()))
}

// newFlagSet returns an empty flag set for cmd that reports nothing
// itself: errors are reported by fail, help by cmdUsage.
func newFlagSet(cmd *command) *flag.FlagSet {
	fs := flag.NewFlagSet("router "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// fail reports err, if any, and returns the exit code for it.
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

Exit codes:

	0  success
	1  runtime failure: cannot listen, a plugin cannot start or its routes
	   conflict, cannot connect, the server answered an error, or the
	   server stopped with an error
	2  usage error: unknown command or flag, bad flag value, wrong number
	   of arguments
`)
	io.WriteString(w, b.String())
}

func (c *cli) cmdUsage(w io.Writer, cmd *command) {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: router %s", cmd.name)
	fs := newFlagSet(cmd)
	cmd.setup(fs)
	nflags := 0
	fs.VisitAll(func(*flag.Flag) { nflags++ })
	if nflags > 0 {
		b.WriteString(" [flags]")
	}
	if cmd.args != "" {
		b.WriteString(" " + cmd.args)
	}
	b.WriteString("\n\n")
	b.WriteString(cmd.desc)
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
	args:    "[command]",
	summary: "show help for router or one of its commands",
	desc:    "Help prints the usage of router, or of the named command.\n",
	examples: []string{
		"router help\nrouter help serve",
	},
	setup: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		return func(_ context.Context, c *cli, args []string) error {
			switch len(args) {
			case 0:
				c.topUsage(c.stdout)
				return nil
			case 1:
				cmd := lookup(args[0])
				if cmd == nil {
					return usagef("help", "unknown command %q", args[0])
				}
				c.cmdUsage(c.stdout, cmd)
				return nil
			}
			return usagef("help", "want at most one command, got %d arguments", len(args))
		}
	},
}
