//go:build unix

package core

import "syscall"

// readNonBlocking reads once from a non-blocking descriptor: n < 0 with
// EAGAIN when nothing is queued, 0 at end of stream.
func readNonBlocking(fd uintptr, buf []byte) (int, error) {
	return syscall.Read(int(fd), buf)
}
