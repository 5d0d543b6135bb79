package plugins

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// The data path runs over two pipes the router makes for each plugin
// process and hands it as descriptors (see envDataFDs): one carries the
// requests to the plugin, the other the answers back. Pipes rather than a
// Unix socket because reading from a Unix stream socket wakes whoever
// polls its peer for room to write, whether or not the peer ever ran out
// of room, and Go's poller registers every descriptor for writing too: each
// read woke the other process's idle thread for nothing. A pipe wakes its
// writer only when it was full. BenchmarkProcessRoundTrip times a bare
// round trip between two Go processes over each: over a pair of pipes it
// takes less time and less CPU than over a Unix socket (measured: see
// BENCHMARKS.md, "Figures that were in code comments").
//
// A plugin built before the pipes, or started without envDataFDs, listens
// on a Unix socket instead and names it in its Describe answer; the router
// then dials it.

// envDataFDs names the variable that gives the plugin the descriptors of
// its data pipes: "R,W", the one it reads requests from and the one it
// writes answers to. The router passes them as childRequestsFD and
// childAnswersFD, after the TLS identity's (3).
const envDataFDs = "ROUTER_PLUGIN_DATA_FDS"

const (
	childRequestsFD = 4
	childAnswersFD  = 5
)

// pipeConn is a net.Conn over a pair of pipes: it reads from r and writes
// to w. Both must be in non-blocking mode, so that their deadlines work.
type pipeConn struct {
	r, w *os.File
}

var _ net.Conn = (*pipeConn)(nil)

// Read and Write fail with net.ErrClosed once the pipes are closed, as a
// socket's would (a closed file says os.ErrClosed).
func (c *pipeConn) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	return n, closedAsNet(err)
}

func (c *pipeConn) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	return n, closedAsNet(err)
}

func closedAsNet(err error) error {
	if err != nil && errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("%w: %w", net.ErrClosed, err)
	}
	return err
}

// Close closes both pipes.
func (c *pipeConn) Close() error {
	return errors.Join(c.r.Close(), c.w.Close())
}

func (c *pipeConn) LocalAddr() net.Addr  { return pipeAddr(c.r.Name()) }
func (c *pipeConn) RemoteAddr() net.Addr { return pipeAddr(c.w.Name()) }

func (c *pipeConn) SetDeadline(t time.Time) error {
	return errors.Join(c.r.SetReadDeadline(t), c.w.SetWriteDeadline(t))
}

func (c *pipeConn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *pipeConn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }

// pipeAddr names one end of a pipeConn.
type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

// dataPipes are the router's side of a plugin's data pipes, and the ends
// it hands to the child.
type dataPipes struct {
	conn  *pipeConn // the router's: writes requests, reads answers
	child [2]*os.File
}

// newDataPipes makes the pipes of one plugin process.
func newDataPipes() (*dataPipes, error) {
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ansR, ansW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, err
	}
	return &dataPipes{conn: &pipeConn{r: ansR, w: reqW}, child: [2]*os.File{reqR, ansW}}, nil
}

// closeChild closes the router's copies of the child's ends, once the
// child has its own: the router then reads end of file when the plugin's
// process is gone.
func (p *dataPipes) closeChild() {
	p.child[0].Close()
	p.child[1].Close()
}

// pluginDataConn is the plugin side: it opens the data pipes that
// envDataFDs names, or returns nil, nil when the router passed none.
func pluginDataConn() (net.Conn, error) {
	v := os.Getenv(envDataFDs)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(envDataFDs) // the plugin's children do not inherit them
	rs, ws, ok := strings.Cut(v, ",")
	r, rerr := strconv.Atoi(rs)
	w, werr := strconv.Atoi(ws)
	if !ok || rerr != nil || werr != nil || r < 3 || w < 3 || r == w {
		return nil, fmt.Errorf("%s=%q does not name two descriptors", envDataFDs, v)
	}
	// The descriptors come blocking (the router's os/exec made them so);
	// os.NewFile puts a non-blocking one in the runtime's poller.
	// Nor may the plugin's own children inherit them: the router would
	// not see the plugin's end of file while they live.
	for _, fd := range []int{r, w} {
		if err := adoptDataFD(fd); err != nil {
			return nil, fmt.Errorf("data pipe %d: %w", fd, err)
		}
	}
	return &pipeConn{r: os.NewFile(uintptr(r), "data-requests"), w: os.NewFile(uintptr(w), "data-answers")}, nil
}
