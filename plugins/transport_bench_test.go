package plugins_test

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/cputime"
	"github.com/msgrouter/router/plugins"
)

// echoChildEnv makes the test binary a child that echoes 100-byte
// messages: over the Unix socket at the path it names, or, set to
// "pipes", from descriptor 3 to descriptor 4.
const echoChildEnv = "ROUTER_TEST_ECHO_CHILD"

// runEchoChild is the child of BenchmarkProcessRoundTrip, run from
// TestMain; it runs on one thread's worth of Go, as plugins do.
func runEchoChild(spec string) {
	runtime.GOMAXPROCS(1)
	var r io.Reader
	var w io.Writer
	if spec == "pipes" {
		// Non-blocking, in the runtime's poller, as a plugin opens them.
		syscall.SetNonblock(3, true)
		syscall.SetNonblock(4, true)
		r, w = os.NewFile(3, "in"), os.NewFile(4, "out")
	} else {
		c, err := net.Dial("unix", spec)
		if err != nil {
			os.Exit(1)
		}
		r, w = c, c
	}
	buf := make([]byte, 100)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			os.Exit(0)
		}
		if _, err := w.Write(buf); err != nil {
			os.Exit(0)
		}
	}
}

// BenchmarkProcessRoundTrip times a bare round trip of 100 bytes between
// this process and a child, both Go, over the two transports a plugin's
// data path can use: a Unix socket, and a pair of pipes (see
// plugins/pipeconn.go for why the router uses pipes):
//
//	go test ./plugins -run '^$' -bench ProcessRoundTrip -benchtime 20000x
//
// It reports the median round trip and the CPU time of both processes per
// round trip. A third row, plugin-handle, is a request to a real plugin
// process through its handler (no server), one at a time: what the data
// path adds to the bare pipes.
func BenchmarkProcessRoundTrip(b *testing.B) {
	b.Run("plugin-handle", benchPluginHandle)
	for _, transport := range []string{"unix-socket", "pipes"} {
		b.Run(transport, func(b *testing.B) {
			cmd := exec.Command(os.Args[0])
			var r io.Reader
			var w io.WriteCloser
			switch transport {
			case "pipes":
				inR, inW, err := os.Pipe() // to the child
				if err != nil {
					b.Fatal(err)
				}
				outR, outW, err := os.Pipe() // from the child
				if err != nil {
					b.Fatal(err)
				}
				cmd.ExtraFiles = []*os.File{inR, outW}
				cmd.Env = append(os.Environ(), echoChildEnv+"=pipes")
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				inR.Close()
				outW.Close()
				r, w = outR, inW
				defer outR.Close()
			default:
				path := filepath.Join(b.TempDir(), "echo.sock")
				l, err := net.Listen("unix", path)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				cmd.Env = append(os.Environ(), echoChildEnv+"="+path)
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				c, err := l.Accept()
				if err != nil {
					b.Fatal(err)
				}
				r, w = c, c
			}
			defer cmd.Wait()
			defer w.Close()
			buf := make([]byte, 100)
			exchange := func() {
				if _, err := w.Write(buf); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(r, buf); err != nil {
					b.Fatal(err)
				}
			}
			exchange() // the child is up
			timeRoundTrips(b, exchange)
		})
	}
}

func benchPluginHandle(b *testing.B) {
	p, err := plugins.Start(context.Background(), plugins.Config{
		Name: "roundtrip", Cmd: os.Args[0], Env: []string{"ROUTER_TEST_PLUGIN=basic"}, HealthInterval: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	h, err := p.Handler("upper")
	if err != nil {
		b.Fatal(err)
	}
	req := core.NewBinary("text/plain", make([]byte, 100))
	exchange := func() {
		if _, err := h.Handle(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	exchange() // the plugin is up
	timeRoundTrips(b, exchange)
}

// timeRoundTrips runs exchange b.N times and reports the median time of
// one and the CPU time of this process and its children per exchange.
func timeRoundTrips(b *testing.B, exchange func()) {
	times := make([]time.Duration, 0, b.N)
	cpu0 := cputime.Self() + cputime.Children()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		exchange()
		times = append(times, time.Since(t0))
	}
	b.StopTimer()
	cpu := cputime.Self() + cputime.Children() - cpu0
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1000, "p50-µs")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(len(times)), "cpu-ns/rt")
}
