//go:build !unix

package core_test

import (
	"testing"
	"time"
)

// cpuTime is not measured here: cpu-ns/req reads 0.
func cpuTime(*testing.B) time.Duration { return 0 }
