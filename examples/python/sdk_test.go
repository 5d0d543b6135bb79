package python_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The SDK's own unittest suite (sdk/python/tests), so that "go test
// ./..." runs it.
func TestSDKUnittest(t *testing.T) {
	py := python(t)
	cmd := exec.Command(py, "-m", "unittest", "discover", "-v", "-s", "tests", "-t", ".")
	cmd.Dir = filepath.Join(repoRoot(), "sdk", "python")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	if !strings.Contains(string(out), "\nOK") || strings.Contains(string(out), "needs python3-grpcio") {
		t.Errorf("the suite did not run whole:\n%s", out)
	}
	t.Logf("%s", lastLines(out, 3))
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
