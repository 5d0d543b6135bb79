package main

import (
	"context"
	"flag"
	"fmt"
)

var reloadCmd = &command{
	name:    "reload",
	summary: "have a running router reload its config (SIGHUP)",
	desc: `Reload asks a running router to apply its config again: it sends SIGHUP to
the process whose id is in FILE, the file that 'router serve --pid-file FILE'
wrote, or to the process --pid N. The router reads its config file again
(without one, the default config) under the same environment and flags, and
starts afresh any plugin that failed; see 'router help serve'.

Reload returns once the signal is sent. The router's log says whether the
new config was applied, or why it was rejected (the last good config then
keeps serving), and the metric router_reloads_total counts the result.

Before it signals, reload checks that the process runs and, on Linux, that
it runs 'serve': a pid file that a killed router left behind may name a
process that has since taken its number, and SIGHUP would end most others.

Not on Windows, which has no SIGHUP: a router there reloads its config file
when the file changes.

Exit codes: 0 when the router was signalled; 1 if the pid file does not
exist or holds no process id, no such process runs (a stale pid file), the
process is not a router, or it may not be signalled (it runs as another
user); 2 for a usage error.
`,
	examples: []string{
		"# A router that writes its pid, and a reload of it:\nrouter serve -c router.yaml --pid-file router.pid\nrouter reload --pid-file router.pid",
		"# The router whose process id you know:\nrouter reload --pid 4242",
	},
	setup: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		var file string
		var pid int
		fs.StringVar(&file, "pid-file", "", "signal the router whose process id is in `FILE`, the file 'router serve --pid-file' wrote")
		fs.IntVar(&pid, "pid", 0, "signal the router with the process id `N`, instead of --pid-file")
		return func(_ context.Context, c *cli, args []string) error {
			set := map[string]bool{}
			fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
			switch {
			case len(args) > 0:
				return usagef("reload", "takes no arguments, got %q", args)
			case set["pid-file"] && set["pid"]:
				return usagef("reload", "want --pid-file FILE or --pid N, not both")
			case set["pid-file"] && file == "":
				return usagef("reload", "--pid-file: want a FILE")
			case set["pid"] && pid <= 0:
				return usagef("reload", "--pid %d: want a process id above 0", pid)
			case !set["pid-file"] && !set["pid"]:
				return usagef("reload", "want --pid-file FILE (the file 'router serve --pid-file FILE' wrote) or --pid N")
			}
			return reload(c, file, pid)
		}
	},
}

// reload sends SIGHUP to the router whose process id is in the pid file
// file, or else pid.
func reload(c *cli, file string, pid int) error {
	if errNoHangup != nil {
		return errNoHangup
	}
	from := ""
	if file != "" {
		var err error
		if pid, err = readPIDFile(file); err != nil {
			return err
		}
		from = "the pid file " + file
	}
	if err := signalReload(pid, from); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "sent SIGHUP to the router (pid %d); its log says whether the config was reloaded\n", pid)
	return nil
}
