package router

import (
	"os"

	"github.com/msgrouter/router/plugins"
)

// executable is what was at a plugin's executable's path when it
// started. Linux refuses to write to a file that a process runs, so new
// content at the path is another file (moved there, or written after the
// old was removed), or this one written while no process ran it: either
// way its identity (device and inode, size, modification time) differs.
// A file only touched differs too, and is swapped for itself, harmlessly.
type executable struct {
	path string
	fi   os.FileInfo
}

// noteExecutable notes what is at the path of the executable c runs now.
func noteExecutable(c plugins.Config) (*executable, error) {
	path, err := c.ExecutablePath()
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, &plugins.StartError{Plugin: c.Name, Path: path, Err: err}
	}
	return &executable{path: path, fi: fi}, nil
}

// differs reports whether now is another executable than e.
func (e *executable) differs(now *executable) bool {
	return e.path != now.path || !os.SameFile(e.fi, now.fi) ||
		e.fi.Size() != now.fi.Size() || !e.fi.ModTime().Equal(now.fi.ModTime())
}
