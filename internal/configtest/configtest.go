// Package configtest has the helpers that the tests of config and of the
// running router share: config files written and loaded, and their
// errors compared line by line.
package configtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msgrouter/router/config"
)

// WriteFile writes body to name in dir and returns its path.
func WriteFile(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Load writes body to a file named name and loads it with no
// environment.
func Load(t testing.TB, name, body string) (*config.Config, error) {
	t.Helper()
	return config.Load(WriteFile(t, t.TempDir(), name, body), config.LoadOptions{Environ: []string{}})
}

// MustLoad is Load that fails the test on error.
func MustLoad(t testing.TB, name, body string) *config.Config {
	t.Helper()
	c, err := Load(t, name, body)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// Lines returns the lines of err's text.
func Lines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// AssertLines checks that err's text is exactly want, line by line,
// with DIR in want standing for dir.
func AssertLines(t testing.TB, err error, dir string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want:\n%s", strings.Join(want, "\n"))
	}
	got := Lines(err)
	for i := range want {
		want[i] = strings.ReplaceAll(want[i], "DIR", dir)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("error lines differ:\n--- got\n%s\n--- want\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
