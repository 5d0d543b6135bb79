package core

import "sync/atomic"

// forceGoroutineLoop makes every new connection use the goroutine loop
// instead of the poll loop. It is a test hook (see export_test.go), so that
// the tests run against both loops; nothing else sets it.
var forceGoroutineLoop atomic.Bool
