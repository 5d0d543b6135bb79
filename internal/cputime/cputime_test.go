package cputime_test

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/msgrouter/router/internal/cputime"
)

// Busy work shows in Self; a child that computes shows in Children while
// it runs.
func TestCPUTime(t *testing.T) {
	if os.Getenv("CPUTIME_SPIN") != "" {
		for end := time.Now().Add(time.Minute); time.Now().Before(end); {
		}
		return
	}
	before := cputime.Self()
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	if got := cputime.Self() - before; got < 20*time.Millisecond {
		t.Errorf("Self grew by %v over 50 ms of computing, want at least 20 ms", got)
	}
	if runtime.GOOS != "linux" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCPUTime$")
	cmd.Env = append(os.Environ(), "CPUTIME_SPIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	deadline := time.Now().Add(20 * time.Second) // a bound, not a speed check
	for cputime.Children() < 50*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("Children = %v after 20 s of a child computing", cputime.Children())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
