//go:build !unix

package router

// openFileLimit reports no limit to check: Windows has no RLIMIT_NOFILE
// (a process's handles are bounded by memory).
func openFileLimit() (soft, hard uint64, ok bool) { return 0, 0, false }
