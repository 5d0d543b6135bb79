//go:build unix

package plugintest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// processGone reports whether process pid has exited. A zombie, exited
// but not yet reaped by its parent, counts as gone.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && bytes.Contains(b, []byte(") Z "))
}
