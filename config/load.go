package config

import (
	"bytes"
	"cmp"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	koanfjson "github.com/knadh/koanf/parsers/json"
	koanftoml "github.com/knadh/koanf/parsers/toml/v2"
	koanfyaml "github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/pelletier/go-toml/v2"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the names of the environment variables that override
// the configuration: ROUTER_ and the key in capitals with '_' for '.'
// (and for '-' in a plugin's name): ROUTER_LOG_LEVEL for log.level,
// ROUTER_LIMITS_MAX_CONNECTIONS, ROUTER_PLUGINS_SEARCH_CMD.
//
// ROUTER_PLUGIN (the plugin handshake's cookie) and ROUTER_TEST_* are
// not configuration and are ignored; any other ROUTER_ variable that
// names no key is an error.
const EnvPrefix = "ROUTER_"

// Sources named in errors for what is not a file.
const (
	sourceDefault = "default config"
	sourceFlags   = "flags"
)

// LoadOptions are the overrides Load applies over the file.
type LoadOptions struct {
	// Environ is the environment, as os.Environ returns it, from which
	// the ROUTER_ variables override the file. Nil means os.Environ();
	// an empty non-nil slice means no overrides.
	//
	// A variable's value is read as its key's type wants: an integer,
	// true or false, a duration or a size; a list (listen, a plugin's
	// args) as a JSON list or as comma-separated strings; a map (a
	// plugin's env or settings) or the routes as JSON.
	Environ []string
	// Flags override the environment and the file: dotted keys, as
	// "log.level", "limits.max_connections", "plugins.search.cmd" or
	// "listen", to values of the key's type (a []string for listen), or
	// to strings read as the environment's are.
	Flags map[string]any
	// Worker loads the file as `router worker` reads it: its worker
	// section and nats.url are required and checked, and the Config has
	// no listen and routes, neither the file's nor the defaults (see
	// Config.Validate).
	Worker bool
}

// Load reads the configuration: the file at path (YAML for .yaml and
// .yml, TOML for .toml, JSON for .json), over the defaults (see Config),
// under the ROUTER_ environment variables (see EnvPrefix), under
// o.Flags. An empty path means the embedded default configuration.
//
// A plugin's cmd that the file sets to a relative path with a slash
// (./shout, bin/shout) is made absolute against the file's directory,
// not the working directory; one from the environment or a flag is
// left relative to the working directory, and a bare name (python3) is
// left for exec to find on the PATH. Args are never rewritten.
//
// The result is validated (see Config.Validate). Every problem is
// reported, each as an *Error on its own line naming the source, the key
// and what was expected; test for their classes with errors.Is. A file
// that cannot be read or parsed is reported alone. Once it parses, one
// run reports all the problems: those of form (unknown keys, wrong
// types, values that do not parse) first, then those of the values. A
// value check that a problem of form would mislead, because the value
// it reads was left out, is left out too.
func Load(path string, o LoadOptions) (*Config, error) {
	l := &loader{path: path, src: &sources{}, ko: koanf.New(".")}
	if err := l.read(o); err != nil {
		return nil, err
	}
	c := new(Config)
	dec := &mapstructure.DecoderConfig{TagName: "koanf", ErrorUnused: true, ZeroFields: true}
	if err := l.ko.UnmarshalWithConf("", c, koanf.UnmarshalConf{DecoderConfig: dec}); err != nil {
		if len(l.form) > 0 {
			return nil, l.form.err()
		}
		// check has already checked every key and type.
		src := cmp.Or(path, sourceDefault)
		return nil, &Error{Source: src, Msg: err.Error(), Err: ErrType, Cause: err}
	}
	c.src = l.src
	c.worker = o.Worker
	if c.worker {
		// Not a worker's: the default ones, or those of a file shared
		// with a router.
		c.Listen, c.Routes = nil, nil
	}
	if err := c.resolveCmds(path); err != nil {
		return nil, err
	}
	c.setDefaults()
	errs := append(l.form, c.validate(time.Now(), l.bad)...)
	if len(errs) > 0 {
		return nil, errs.err()
	}
	return c, nil
}

// loader reads the layers of one Load into a koanf, with the problems of
// form it finds.
type loader struct {
	path string // the file; "" for none
	src  *sources
	ko   *koanf.Koanf
	// form are the problems of form: unknown keys, values of the wrong
	// type or that do not parse. Their values are left out of ko.
	form errList
	// bad are the keys of the values left out: see validator.tainted.
	bad []string
}

// checker returns a checker for the values of source.
func (l *loader) checker(source string) *checker {
	return &checker{src: source, errs: &l.form, bad: &l.bad}
}

// read reads the default config, the file, the environment and the
// flags into l.ko. Its error is one that stops Load at once (a file that
// cannot be read or parsed); the problems of form go to l.form.
func (l *loader) read(o LoadOptions) error {
	def, err := parseBytes(sourceDefault, ".yaml", defaultYAML)
	if err != nil {
		return err
	}
	var defErrs errList
	defTree, _ := (&checker{src: sourceDefault, errs: &defErrs}).check("", def, typeConfig)
	if err := defErrs.err(); err != nil {
		return fmt.Errorf("config: the embedded default config is invalid: %w", err)
	}
	base := defTree.(map[string]any)
	l.src.add(sourceDefault, base)
	if l.path != "" {
		if err := l.file(base); err != nil {
			return err
		}
	}
	for _, ly := range l.src.layers {
		if err := l.ko.Load(confmap.Provider(ly.tree, ""), nil); err != nil {
			return fmt.Errorf("config: merging %s: %w", ly.name, err)
		}
	}

	// The environment may name the plugins the file defines.
	environ := o.Environ
	if environ == nil {
		environ = os.Environ()
	}
	overrides := l.envLayers(environ, l.ko.MapKeys("plugins"))
	if len(o.Flags) > 0 {
		overrides = append(overrides, layer{sourceFlags, l.flagLayer(o.Flags)})
	}
	for _, ly := range overrides {
		l.src.add(ly.name, ly.tree)
		if err := l.ko.Load(confmap.Provider(ly.tree, ""), nil); err != nil {
			return fmt.Errorf("config: merging %s: %w", ly.name, err)
		}
	}

	// Per-plugin defaults, for the keys no source set.
	for _, name := range l.ko.MapKeys("plugins") {
		for k, v := range pluginDefaults {
			key := "plugins." + name + "." + k
			if !l.ko.Exists(key) {
				l.ko.Set(key, v)
			}
		}
	}
	return nil
}

// file reads the file at l.path, checks it and adds what passed as a
// layer over base, the default config's tree.
func (l *loader) file(base map[string]any) error {
	raw, err := readFile(l.path)
	if err != nil {
		return err
	}
	if len(raw) == 0 {
		return &Error{Source: l.path, Msg: "the file sets nothing", Want: "a configuration; to run with the defaults, give no file", Err: ErrValue}
	}
	tree, _ := l.checker(l.path).check("", raw, typeConfig)
	ft := tree.(map[string]any)
	// These are taken whole from the file: a file that lists its
	// plugins does not also get the default ones.
	for _, k := range []string{"listen", "plugins", "routes"} {
		if _, ok := ft[k]; ok {
			delete(base, k)
		}
	}
	l.src.add(l.path, ft)
	return nil
}

// resolveCmds makes each plugin's cmd that the file at path set to a
// relative path with a slash (./shout, bin/shout) absolute, against the
// file's directory: the file's author sees it from there, whatever the
// process's working directory. A cmd from the environment or a flag is
// left as it is, relative to the working directory, as are a built-in
// (builtin:NAME), an absolute path, a bare name that the PATH finds
// (python3), and the args.
func (c *Config) resolveCmds(path string) error {
	dir := ""
	for _, name := range slices.Sorted(maps.Keys(c.Plugins)) {
		p := c.Plugins[name]
		if !isRelativePath(p.Cmd) || c.src.of("plugins."+name+".cmd") != path {
			continue
		}
		if dir == "" {
			abs, err := filepath.Abs(path)
			if err != nil {
				return &Error{Source: path, Key: "plugins." + name + ".cmd", Msg: fmt.Sprintf("cannot find the directory of the file, to which %q is relative: %s", p.Cmd, err), Want: "an absolute path", Err: ErrFile, Cause: err}
			}
			dir = filepath.Dir(abs)
		}
		p.Cmd = filepath.Join(dir, p.Cmd)
		c.Plugins[name] = p
	}
	return nil
}

// isRelativePath reports whether a plugin's cmd is a relative path: not a
// built-in, not absolute, and with a slash, without which exec looks the
// name up on the PATH.
func isRelativePath(cmd string) bool {
	if strings.HasPrefix(cmd, BuiltinPrefix) || filepath.IsAbs(cmd) {
		return false
	}
	return strings.ContainsRune(cmd, '/') || strings.ContainsRune(cmd, filepath.Separator)
}

// pluginDefaults are the defaults of a plugin's keys.
var pluginDefaults = map[string]any{
	"start_timeout":        DefaultStartTimeout,
	"health_interval":      DefaultHealthInterval,
	"restart.max_restarts": int64(DefaultMaxRestarts),
	"restart.backoff":      DefaultBackoff,
	"restart.max_backoff":  DefaultMaxBackoff,
	"restart.reset_after":  DefaultResetAfter,
	"restart.cooldown":     DefaultCooldown,
	"max_in_flight":        int64(DefaultMaxInFlight),
	"instances":            int64(DefaultInstances),
	"log.lines_per_second": int64(DefaultLogLinesPerSecond),
	"log.burst":            int64(DefaultLogBurst),
	"log.max_line":         int64(DefaultMaxLogLine),
}

// setDefaults fills in the defaults that are not keys of their own.
func (c *Config) setDefaults() {
	for i := range c.Listen {
		if t := c.Listen[i].TLS; t != nil && t.MinVersion == "" {
			t.MinVersion = "1.2"
		}
	}
}

// readFile reads and parses the file at path by its extension.
func readFile(path string) (map[string]any, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if _, ok := parsers[ext]; !ok {
		return nil, &Error{Source: path, Msg: fmt.Sprintf("unknown file type %q", ext), Want: ".yaml, .yml, .toml or .json", Err: ErrFile}
	}
	b, err := file.Provider(path).ReadBytes()
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = "cannot read the file: " + pe.Err.Error()
		}
		return nil, &Error{Source: path, Msg: msg, Err: ErrFile, Cause: err}
	}
	return parseBytes(path, ext, b)
}

type parser interface {
	Unmarshal([]byte) (map[string]any, error)
}

var parsers = map[string]parser{
	".yaml": koanfyaml.Parser(),
	".yml":  koanfyaml.Parser(),
	".toml": koanftoml.Parser(),
	".json": koanfjson.Parser(),
}

var formatNames = map[string]string{".yaml": "YAML", ".yml": "YAML", ".toml": "TOML", ".json": "JSON"}

// parseBytes parses b in the format of ext, with a syntax error's line.
func parseBytes(source, ext string, b []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	m, err := parsers[ext].Unmarshal(b)
	if err == nil {
		return m, nil
	}
	format := formatNames[ext]
	msg := err.Error()
	var (
		yerr *yaml.TypeError
		terr *toml.DecodeError
		jerr *stdjson.SyntaxError
		jte  *stdjson.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &terr):
		row, col := terr.Position()
		msg = fmt.Sprintf("line %d, column %d: %s", row, col, terr.Error())
	case errors.As(err, &jerr):
		line, col := lineCol(b, jerr.Offset)
		msg = fmt.Sprintf("line %d, column %d: %s", line, col, jerr.Error())
	case errors.As(err, &jte):
		msg = "the file is not a map of keys: " + jte.Error()
	case errors.As(err, &yerr):
		msg = strings.Join(yerr.Errors, "; ")
		if strings.Contains(msg, "cannot unmarshal") {
			msg = "the file is not a map of keys: " + msg
		}
	default:
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return nil, &Error{Source: source, Msg: "invalid " + format + ": " + msg, Err: ErrSyntax, Cause: err}
}

// lineCol returns the 1-based line and column of byte offset off in b.
func lineCol(b []byte, off int64) (int, int) {
	// The offset is just past the offending byte.
	off = min(max(off-1, 0), int64(len(b)))
	before := b[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// envLayers returns one layer per ROUTER_ variable of environ, sorted by
// name, and reports those that name no key.
func (l *loader) envLayers(environ []string, pluginNames []string) []layer {
	byName := make(map[string][]leaf)
	for _, lf := range leaves(pluginNames) {
		n := envName(lf.key)
		byName[n] = append(byName[n], lf)
	}
	known := make([]string, 0, len(byName))
	for n := range byName {
		known = append(known, n)
	}
	slices.Sort(known)

	var vars []string
	vals := make(map[string]string)
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || name == pluginEnvCookie || strings.HasPrefix(name, EnvPrefix+"TEST_") {
			continue
		}
		if _, dup := vals[name]; !dup {
			vars = append(vars, name)
		}
		vals[name] = val
	}
	slices.Sort(vars)

	var out []layer
	for _, name := range vars {
		source := "$" + name
		ls := byName[name]
		switch {
		case len(ls) == 0:
			msg := "unknown variable"
			if s := suggest(name, known); s != "" {
				msg += ", did you mean $" + s + "?"
			} else if strings.HasPrefix(name, EnvPrefix+"PLUGINS_") {
				msg += ": it names no key of a defined plugin"
			}
			w := "ROUTER_ and a key in capitals, such as ROUTER_LOG_LEVEL for log.level"
			if strings.HasPrefix(name, EnvPrefix+"PLUGINS_") {
				w = "ROUTER_PLUGINS_<NAME>_<KEY> for a defined plugin NAME: " + strings.Join(pluginNames, ", ")
			}
			l.form.add(&Error{Source: source, Msg: msg, Want: w, Err: ErrUnknownKey})
			continue
		case len(ls) > 1:
			keys := make([]string, len(ls))
			for i, lf := range ls {
				keys[i] = lf.key
			}
			l.form.add(&Error{Source: source, Msg: "names several keys: " + strings.Join(keys, ", "), Want: "plugin names that differ by more than '-' and '_'", Err: ErrUnknownKey})
			continue
		}
		lf := ls[0]
		c := l.checker(source)
		v, ok := fromString(c, lf.key, vals[name], lf.t)
		if !ok {
			continue
		}
		if v, ok = c.check(lf.key, v, lf.t); ok {
			out = append(out, layer{name: source, tree: setPath(nil, lf.key, v)})
		}
	}
	return out
}

// envName returns the environment variable for key.
func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// flagLayer returns the tree of the flag overrides.
func (l *loader) flagLayer(flags map[string]any) map[string]any {
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	tree := make(map[string]any)
	c := l.checker(sourceFlags)
	for _, key := range keys {
		t, ok := typeAt(key)
		if !ok {
			parent, last := "", key
			if i := strings.LastIndexByte(key, '.'); i >= 0 {
				parent, last = key[:i], key[i+1:]
			}
			if pt, pok := typeAt(parent); pok && parent != "" && pt.Kind() == reflect.Struct {
				c.unknownKey(key, last, pt)
			} else if parent == "" {
				c.unknownKey(key, last, typeConfig)
			} else {
				c.fail(ErrUnknownKey, key, "unknown key", "a key of the configuration, such as log.level")
			}
			continue
		}
		v := flags[key]
		if s, isStr := v.(string); isStr && t.Kind() != reflect.String {
			if v, ok = fromString(c, key, s, t); !ok {
				continue
			}
		}
		if v, ok = c.check(key, v, t); ok {
			setPath(tree, key, v)
		}
	}
	return tree
}

// fromString reads a string from the environment or a flag as the type
// t wants, for check to check.
func fromString(c *checker, key, s string, t reflect.Type) (any, bool) {
	switch t.Kind() {
	case reflect.Bool:
		if b, err := strconv.ParseBool(s); err == nil {
			return b, true
		}
	case reflect.Int, reflect.Int64:
		if t == typeDuration || t == typeSize {
			return s, true
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			return n, true
		}
	case reflect.Slice:
		if strings.HasPrefix(strings.TrimSpace(s), "[") {
			var v []any
			if err := stdjson.Unmarshal([]byte(s), &v); err != nil {
				c.fail(ErrValue, key, "invalid JSON list: "+err.Error(), want(t))
				return nil, false
			}
			return v, true
		}
		if t.Elem().Kind() == reflect.Struct && t.Elem() != typeListener {
			c.fail(ErrType, key, "got "+describe(s), "a JSON list of "+pluralOf(t.Elem()))
			return nil, false
		}
		var v []any
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				v = append(v, p)
			}
		}
		return v, true
	case reflect.Map:
		var v map[string]any
		if err := stdjson.Unmarshal([]byte(s), &v); err != nil {
			c.fail(ErrValue, key, "invalid JSON map: "+err.Error(), "a JSON object")
			return nil, false
		}
		return v, true
	case reflect.Interface:
		var v any
		if err := stdjson.Unmarshal([]byte(s), &v); err == nil {
			return v, true
		}
	}
	return s, true
}

// setPath sets the dotted key path in tree to v, making the maps on the
// way, and returns tree.
func setPath(tree map[string]any, path string, v any) map[string]any {
	if tree == nil {
		tree = make(map[string]any)
	}
	m := tree
	segs := strings.Split(path, ".")
	for _, s := range segs[:len(segs)-1] {
		next, ok := m[s].(map[string]any)
		if !ok {
			next = make(map[string]any)
			m[s] = next
		}
		m = next
	}
	m[segs[len(segs)-1]] = v
	return tree
}

// layer is the tree of keys one source set.
type layer struct {
	name string
	tree map[string]any
}

// sources are the layers of a Config, lowest precedence first, to tell
// where a key's value came from.
type sources struct {
	layers []layer
}

func (s *sources) add(name string, tree map[string]any) {
	s.layers = append(s.layers, layer{name, tree})
}

// of returns the source of the value at key ("routes[1].plugin",
// "plugins.search.cmd"): the last layer that set it, or, for a key no
// layer set, the last that set the nearest key above it.
func (s *sources) of(key string) string {
	if s == nil {
		return ""
	}
	var segs []string
	for seg := range strings.SplitSeq(key, ".") {
		name, _, indexed := strings.Cut(seg, "[")
		segs = append(segs, name)
		if indexed {
			break // a list is set whole
		}
	}
	best, bestDepth := "", -1
	for _, l := range s.layers {
		depth := 0
		var node any = l.tree
		for _, seg := range segs {
			m, ok := node.(map[string]any)
			if !ok {
				break
			}
			if node, ok = m[seg]; !ok {
				break
			}
			depth++
		}
		if depth > 0 && depth >= bestDepth {
			best, bestDepth = l.name, depth
		}
	}
	return best
}
