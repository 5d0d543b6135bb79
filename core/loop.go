package core

import "sync/atomic"

// forceGoroutineLoop makes every new connection use the goroutine loop
// instead of the poll loop. It is a test hook (see export_test.go), so that
// the tests run against both loops; nothing else sets it.
var forceGoroutineLoop atomic.Bool

// end releases rc once its requests are answered; a nil rc (no handler
// timeout) has nothing to release.
func (rc *reqCtx) end() {
	if rc != nil {
		rc.release()
	}
}
