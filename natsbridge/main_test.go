package natsbridge_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the tests leave no goroutine behind: no pool
// goroutine, NATS connection or embedded server outlives its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
