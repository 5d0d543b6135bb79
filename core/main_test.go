package core_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if goroutines are left running
// after them: every Server a test starts must be closed, and every
// connection, handler and timer goroutine must end. core has no
// dependencies that keep goroutines of their own, so nothing is ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
