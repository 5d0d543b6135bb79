package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// pidFile is the file that serve --pid-file wrote: this process's id,
// in decimal, and a newline.
type pidFile struct {
	path    string
	pid     int
	content []byte
}

// writePIDFile writes this process's id to path. It writes a file beside
// it and renames that over path, so that a reader finds the whole id (or
// the file as it was before), never a part.
func writePIDFile(path string) (*pidFile, error) {
	pf := &pidFile{path: path, pid: os.Getpid()}
	pf.content = []byte(strconv.Itoa(pf.pid) + "\n")
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("cannot write the pid file %s: %w", path, err)
	}
	_, err = tmp.Write(pf.content)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644) // CreateTemp's 0600 would hide it from monitoring
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("cannot write the pid file %s: %w", path, err)
	}
	return pf, nil
}

// remove removes the pid file if it still holds this process's id: a
// router started since with the same --pid-file owns it now.
func (pf *pidFile) remove(log hclog.Logger) {
	b, err := os.ReadFile(pf.path)
	if err != nil || !bytes.Equal(b, pf.content) {
		return
	}
	if err := os.Remove(pf.path); err != nil {
		log.Warn("cannot remove the pid file", "file", pf.path, "error", err)
	}
}

// errNoPIDFile reports a pid file that does not exist.
var errNoPIDFile = errors.New("no pid file")

// readPIDFile returns the process id that the pid file at path holds.
func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Errorf("%w %s: is the router running, started with 'router serve --pid-file %s'?", errNoPIDFile, path, path)
	case err != nil:
		return 0, fmt.Errorf("cannot read the pid file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		return 0, fmt.Errorf("the pid file %s holds %q, not a process id (want the file that 'router serve --pid-file' wrote)", path, s)
	}
	return pid, nil
}
