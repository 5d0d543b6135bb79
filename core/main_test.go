package core_test

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/msgrouter/router/core"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if goroutines are left running
// after them: every Server a test starts must be closed, and every
// connection, handler and timer goroutine must end. core has no
// dependencies that keep goroutines of their own, so nothing is ignored.
//
// The tests run twice: with the poll loop (on Linux) and then with the
// goroutine loop, so that both serve every test. Benchmarks and fuzzing
// run once; the benchmarks that compare the loops choose one themselves.
func TestMain(m *testing.M) {
	if spec := os.Getenv(idleClientEnv); spec != "" {
		os.Exit(idleClient(spec)) // a child of BenchmarkIdleConnections
	}
	flag.Parse()
	code := m.Run()
	if code == 0 {
		code = leaked()
	}
	// Neither benchmarks nor fuzzing run twice: the loops matter to
	// neither, and a second fuzzing pass would double its time. Nor does
	// -list, which would list everything twice.
	if code == 0 && flag.Lookup("test.bench").Value.String() == "" && flag.Lookup("test.fuzz").Value.String() == "" &&
		flag.Lookup("test.list").Value.String() == "" {
		fmt.Println("core: the tests again, with the goroutine loop")
		core.SetGoroutineLoop(true)
		code = m.Run()
		if code == 0 {
			code = leaked()
		}
	}
	os.Exit(code)
}

// leaked reports goroutines left running, as goleak.VerifyTestMain does.
func leaked() int {
	if err := goleak.Find(); err != nil {
		fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
		return 1
	}
	return 0
}
