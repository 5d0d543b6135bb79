package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
)

var configCmd = &command{
	name:    "config",
	summary: "check a config file, or print the default one",
	desc: `Config checks a config file, or prints the default one. A config file (YAML,
TOML or JSON) sets up the whole router: listeners, plugins, routes, limits,
timeouts and logging; config/README.md lists every key.
`,
	subs: []*command{configCheckCmd, configDefaultCmd},
	examples: []string{
		"# Start your own config from the default, check it, run it:\nrouter config default > router.yaml\nrouter config check router.yaml\nrouter serve -c router.yaml",
		"# Only the checks that need no plugin running:\nrouter config check --no-plugins router.yaml",
	},
}

type checkFlags struct {
	configFlags
	noPlugins bool
	worker    bool
}

var configCheckCmd = &command{
	name:         "config check",
	args:         "[FILE]",
	summary:      "check a config file and print the config it gives",
	interspersed: true,
	desc: `Check reads FILE (or, without one, the embedded default config) as serve
would: under the ROUTER_ environment variables and the same flags as serve,
which may come before or after FILE. It checks every key and value, starts the
plugins to check each route against what its plugin declares, stops them, and
prints the effective config as YAML on stdout: every key, with the defaults,
the environment and the flags applied. Nothing listens: it is safe to run next
to a router serving the same addresses.

--no-plugins skips starting the plugins: only what can be checked without
them is (keys, types, values, addresses, routes against each other).

--worker checks FILE as 'router worker' reads it: its worker section (each
endpoint a subject and a handler of its plugins) and nats.url, and not its
listen and routes.

With routes to NATS subjects (or --worker) and a nats.url, check connects to
the NATS server and warns when limits.max_content_length is over its max
payload (requests over it would be answered an error), or when it cannot
reach it. With the embedded server, the warning compares with
nats.embedded.max_payload.

An invalid config prints nothing on stdout, and its problems on stderr, one a
line, each naming the file (or $VARIABLE, or flags), the key, what is wrong
and what was wanted:

	router.yaml: timeouts.idle: invalid duration "10 secs" (want a duration such as 500ms, 10s or 1m30s, or 0 for none)

A valid config also gets one line on stderr, such as "router.yaml: ok (3
plugins started, 3 routes checked against their declarations)".

A TLS listener's certificate must be valid now: one that has expired, or whose
notBefore is still to come, is an error naming its dates. One that expires
within 7 days is a warning on stderr, before the ok line, which leaves the exit
code 0:

	warning: router.yaml: listen[0].tls.cert: certificate "cert.pem" expires in 3 days: notAfter ... (want a renewed certificate before then; ...)

Exit codes: 0 if the config is valid; 1 if not, or if a plugin cannot start;
2 for a usage error.
`,
	examples: []string{
		"# Check a file and see what it sets, defaults included:\nrouter config check router.yaml",
		"# What serve would run with this environment and these flags:\nROUTER_LOG_LEVEL=debug router config check router.yaml --listen :7000",
		"# Without starting the plugins, e.g. in CI:\nrouter config check --no-plugins router.yaml > /dev/null",
	},
	setup: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		f := new(checkFlags)
		f.register(fs)
		fs.BoolVar(&f.noPlugins, "no-plugins", false, "do not start the plugins: check the config without what they declare")
		fs.BoolVar(&f.worker, "worker", false, "check FILE as 'router worker' reads it: its worker section and nats.url, not its listen and routes")
		return func(ctx context.Context, c *cli, args []string) error {
			switch {
			case len(args) > 1:
				return usagef("config check", "want at most one FILE, got %d arguments", len(args))
			case len(args) == 1 && f.file != "" && f.file != args[0]:
				return usagef("config check", "FILE %q and --config %q disagree; give one", args[0], f.file)
			case len(args) == 1:
				f.file = args[0]
			}
			return f.run(ctx, c, fs)
		}
	},
}

func (f *checkFlags) run(ctx context.Context, c *cli, fs *flag.FlagSet) error {
	ld := f.loader(ctx, c, fs)
	ld.opts.Worker, ld.base.Worker = f.worker, f.worker
	cfg, err := ld.load()
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings(time.Now()) {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	switch w, err := router.CheckNATS(ctx, cfg); {
	case err != nil:
		fmt.Fprintf(c.stderr, "warning: %s\n", err)
	case w != nil:
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	what := "static checks only; plugins not started"
	if !f.noPlugins {
		if err := router.Check(ctx, cfg, f.startOptions(c, hclog.NewNullLogger())); err != nil {
			return ld.explain(err)
		}
		what = fmt.Sprintf("%d plugins started, %d routes checked against their declarations", len(cfg.Plugins), len(cfg.Routes))
		if f.worker {
			what = fmt.Sprintf("%d plugins started, %d endpoints checked against their handlers", len(cfg.Plugins), len(cfg.Worker.Endpoints))
		}
	}
	out, err := effectiveYAML(cfg, f.file)
	if err != nil {
		return err
	}
	if _, err := c.stdout.Write(out); err != nil {
		return err
	}
	name := f.file
	if name == "" {
		name = "default config"
	}
	fmt.Fprintf(c.stderr, "%s: ok (%s)\n", name, what)
	return nil
}

var configDefaultCmd = &command{
	name:    "config default",
	summary: "print the default config file",
	desc: `Default prints the embedded default config, commented: what serve runs without
--config. It is a good start for your own file: every key it has, you may
change, and a key you leave out of your file keeps its value here.
`,
	examples: []string{
		"router config default > router.yaml",
		"# Start your own file from it, then check what you changed:\nrouter config default > router.yaml\n$EDITOR router.yaml\nrouter config check router.yaml",
	},
	setup: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		return func(_ context.Context, c *cli, args []string) error {
			if len(args) > 0 {
				return usagef("config default", "takes no arguments")
			}
			_, err := c.stdout.Write(config.DefaultYAML())
			return err
		}
	},
}

// effectiveYAML writes cfg as YAML under a heading that says where it came
// from.
func effectiveYAML(cfg *config.Config, file string) ([]byte, error) {
	out, err := cfg.YAML()
	if err != nil {
		return nil, err
	}
	src := "the default config"
	if file != "" {
		src = file
	}
	head := "# The effective config: " + src + ", under the ROUTER_ environment\n# variables and the flags, with every default.\n"
	return append([]byte(head), out...), nil
}
