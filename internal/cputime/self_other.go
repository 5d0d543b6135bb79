//go:build !unix

package cputime

import "time"

// Self returns 0: the CPU time is not read on this system.
func Self() time.Duration { return 0 }
