//go:build !linux

package core

// physicalMemory is not read on this system: the input budget's default
// is then DefaultMaxBuffered, or a quarter of GOMEMLIMIT.
func physicalMemory() int64 { return 0 }
