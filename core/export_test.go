package core

// SetGoroutineLoop makes the connections accepted from now on use the
// goroutine loop (on) or, where there is one, the poll loop (off).
func SetGoroutineLoop(on bool) { forceGoroutineLoop.Store(on) }
