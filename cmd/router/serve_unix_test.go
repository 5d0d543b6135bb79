//go:build unix

package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// Serve warns when --max-connections is above the open-file limit.
func TestServeOpenFileLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	if uint64(lim.Cur) > 10_000_000 {
		t.Skipf("the open-file limit, %d, is above 10,000,000", uint64(lim.Cur))
	}
	s := startServe(t, "--listen", "127.0.0.1:0", "--in-process", "--max-connections", "10000000")
	want := fmt.Sprintf("[WARN]  router: limits.max_connections 10000000 needs 10000033 open files (with 0 for 0 plugin processes, 1 for 1 listener and a margin of 32), above this process's limit of %d", uint64(lim.Cur))
	if logs := s.logs.String(); !strings.Contains(logs, want) || !strings.Contains(logs, "ulimit -n 10000033 ") {
		t.Errorf("no warning %q in the log:\n%s", want, logs)
	}
}
