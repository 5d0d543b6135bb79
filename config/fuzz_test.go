package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msgrouter/router/config"
)

// fuzzExts are the file types FuzzLoad writes its input as, by the
// input's ext parameter (mod len).
var fuzzExts = []string{".yaml", ".toml", ".json", ".yml"}

// extIndex returns the index of ext in fuzzExts.
func extIndex(ext string) uint8 {
	for i, e := range fuzzExts {
		if e == ext {
			return uint8(i)
		}
	}
	panic("no fuzz ext " + ext)
}

// FuzzLoad writes its input to a file of one of the types Load reads and
// loads it with no environment and no flags. Load must not panic; it
// returns either a Config that validates, or an error made only of
// *config.Error values, one per line of its text, each naming the file
// (or the embedded default config, for a key the file left to it).
//
// The checked-in corpus is in testdata/fuzz/FuzzLoad; the seeds here are
// the default config, the example files in testdata and some broken
// files in each format.
func FuzzLoad(f *testing.F) {
	add := func(ext string, body []byte) { f.Add(body, extIndex(ext)) }
	add(".yaml", config.DefaultYAML())
	for _, name := range []string{"router.yaml", "router.toml", "router.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		add(filepath.Ext(name), b)
	}
	for _, s := range []struct{ ext, body string }{
		// YAML
		{".yaml", "listen: [\n"},
		{".yaml", "- a\n- b\n"},
		{".yaml", "42\n"},
		{".yaml", "listen: &a [*a]\n"},
		{".yaml", "log: {level: loud, format: xml}\nnope: 1\n"},
		{".yaml", "plugins: {}\n"},
		{".yaml", "plugins:\n  \"bad name\": {cmd: x}\n  ok: ~\n"},
		{".yaml", "routes:\n  - {plugin: nowhere, action: 1}\n"},
		{".yaml", "limits: {max_content_length: -1KiB, max_connections: 1e99}\n"},
		{".yaml", "timeouts: {idle: 10 years, read: [1], write: {a: b}}\n"},
		{".yaml", "listen: [{addr: \"tcp://[::1\", tls: {cert: /nonexistent}}]\n"},
		{".yaml", "listen: unix://\n"},
		{".yaml", "\"a\\nb\": 1\n"},
		{".yaml", "plugins:\n  x:\n    cmd: y\n    env: {PORT: 8080}\n    settings: {1: 2}\n"},
		{".yml", "\t\x00\xff"},
		// TOML
		{".toml", "listen = [\n"},
		{".toml", "[log]\nlevel = 1\n[log]\n"},
		{".toml", "timeouts.idle = 1979-05-27T07:32:00Z\n"},
		{".toml", "[plugins.a]\ncmd = \"x\"\nrestart = { max_restarts = -1 }\n"},
		// JSON
		{".json", "{"},
		{".json", "[1, 2]"},
		{".json", "null"},
		{".json", "{\"listen\": \"127.0.0.1:0\", \"limits\": {\"max_connections\": 1.5}}"},
		{".json", "{\"routes\": [{\"plugin\": \"echo\", \"content_type\": \"\u0000\"}]}"},
	} {
		add(s.ext, []byte(s.body))
	}

	// One directory for all inputs (each fuzz worker has its own): a
	// fresh t.TempDir per input slows fuzzing down severalfold.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, ext uint8) {
		path := filepath.Join(dir, "router"+fuzzExts[int(ext)%len(fuzzExts)])
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}})
		if err == nil {
			if cfg == nil {
				t.Fatal("Load returned neither a config nor an error")
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Load returned a config that does not validate: %v", err)
			}
			return
		}
		if cfg != nil {
			t.Errorf("Load returned a config with error %v", err)
		}
		errs := config.Errors(err)
		if len(errs) == 0 {
			t.Fatalf("Load returned %T with no *config.Error: %v", err, err)
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != len(errs) {
			t.Errorf("error has %d lines for %d *config.Error:\n%s", len(lines), len(errs), err)
		}
		for _, line := range lines {
			if !strings.HasPrefix(line, path+": ") && !strings.HasPrefix(line, "default config: ") {
				t.Errorf("error line does not start with the file's path %s: %q", path, line)
			}
		}
	})
}
