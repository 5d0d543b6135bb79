package python_test

import (
	"os"
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

// The committed protobuf code of the SDK is what generate.sh makes from
// the router's plugin.proto now: a change to the proto must regenerate
// it. It needs Debian's protoc 3.21 (protobuf-compiler).
func TestSDKGeneratedCode(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("no protoc: install Debian's protobuf-compiler to check sdk/python/routerplugin/_pb")
	}
	out, err := exec.Command(protoc, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "libprotoc 3.21.") {
		t.Skipf("protoc %q: the committed code is from protoc 3.21", strings.TrimSpace(string(out)))
	}
	dir := t.TempDir()
	protoDir := filepath.Join(repoRoot(), "plugins", "internal", "pluginpb")
	cmd := exec.Command(protoc, "-I", protoDir, "--python_out="+dir, filepath.Join(protoDir, "plugin.proto"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, msg)
	}
	want, err := os.ReadFile(filepath.Join(dir, "plugin_pb2.py"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(repoRoot(), "sdk", "python", "routerplugin", "_pb", "plugin_pb2.py"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("sdk/python/routerplugin/_pb/plugin_pb2.py is stale: run sh sdk/python/generate.sh")
	}
}
