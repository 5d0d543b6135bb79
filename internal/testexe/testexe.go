// Package testexe installs executables for tests, as a deploy does: a
// copy written beside the target, then renamed over it, so that a process
// that runs the old file keeps it.
package testexe

import (
	"io"
	"os"
	"testing"
)

// Install copies the file from to path, with extra appended (so that a
// copy of one executable can differ from another), through path+".new"
// renamed over path. It fails t if it cannot.
func Install(t testing.TB, path, from, extra string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tmp := path + ".new"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(out, extra); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
