package plugintest

import (
	"bytes"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// logCapture keeps the host's and the plugin's logs, to show with
// failures, and watches them for the plugin's pid and for a forced kill.
type logCapture struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	procPID int
	kill    bool
}

func newLogCapture() *logCapture { return &logCapture{} }

func (c *logCapture) logger() hclog.Logger {
	l := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name:   "plugintest",
		Level:  hclog.Debug,
		Output: c,
	})
	l.RegisterSink(c)
	return l
}

// Write receives the text log.
func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// Accept receives each log entry, structured (hclog.SinkAdapter).
func (c *logCapture) Accept(_ string, _ hclog.Level, msg string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch msg {
	case "plugin started": // logged by plugins.Start and by go-plugin
		for i := 0; i+1 < len(args); i += 2 {
			if k, _ := args[i].(string); k == "pid" {
				if pid, ok := args[i+1].(int); ok && pid > 0 {
					c.procPID = pid
				}
			}
		}
	case "plugin failed to exit gracefully": // go-plugin, before it kills
		c.kill = true
	}
}

func (c *logCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func (c *logCapture) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procPID
}

func (c *logCapture) killed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kill
}
