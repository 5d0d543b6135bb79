//go:build !unix

package core

// readNonBlocking reports nothing queued where raw reads are not available;
// a shutting-down connection then closes once its current reads are done.
func readNonBlocking(fd uintptr, buf []byte) (int, error) {
	return 0, errDrained
}
