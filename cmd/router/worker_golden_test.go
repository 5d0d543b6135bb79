//go:build unix

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/goldentest"
)

// goldenRouterYAML routes as the default config does, but sends the
// text/json requests (to search) and the others (to binary) over NATS,
// through the router's embedded NATS server on a free port.
const goldenRouterYAML = `listen: tcp://127.0.0.1:0
nats: { embedded: { listen: "127.0.0.1:0" } }
plugins:
  echo: { cmd: "builtin:echo" }
routes:
  - { action: echo, plugin: echo }
  - { content_type: "text/json", nats: router.search }
  - { nats: router.binary }
`

// goldenWorkerYAML serves the search and binary built-ins, as plugin
// processes, on the subjects goldenRouterYAML names; %q is nats.url.
const goldenWorkerYAML = `nats: { url: %q }
plugins:
  search: { cmd: "builtin:search" }
  binary: { cmd: "builtin:binary" }
worker:
  endpoints:
    - { subject: router.search, plugin: search }
    - { subject: router.binary, plugin: binary }
`

// embeddedLine is the router's log line that gives its embedded NATS
// server's address.
var embeddedLine = regexp.MustCompile(`embedded NATS server listening: .*addr=(\S+)`)

// TestWorkerGolden runs the interop golden cases (testdata/golden)
// through a worker: a router whose search and binary routes go over its
// embedded NATS server to a `router worker` running the built-ins as
// plugins answers each golden request byte for byte as the reference
// server did, one request per connection (as the reference client
// sends) and all of them pipelined on one connection.
func TestWorkerGolden(t *testing.T) {
	if core.NativeByteOrder() != core.ByteOrderLittle {
		t.Skip("the golden files were recorded on a little-endian host")
	}
	cases := goldentest.Cases(t, "*")
	if len(cases) < 20 {
		t.Fatalf("only %d golden cases in %s", len(cases), goldentest.Dir())
	}
	path := writeFile(t, "router.yaml", goldenRouterYAML)
	p := startRouter(t, nil, "serve", "-c", path, "--watch=false")
	addr := p.waitLog(t, listeningLine)[1]
	natsAddr := p.waitLog(t, embeddedLine)[1]
	startWorkerWith(t, fmt.Sprintf(goldenWorkerYAML, "nats://"+natsAddr))
	waitGolden(t, p, addr, cases[0])

	var pipelined, wantAll []byte
	for _, c := range cases {
		want := goldentest.WithNativeByteOrder(t, c.Answer)
		pipelined, wantAll = append(pipelined, c.Request...), append(wantAll, want...)
		t.Run(c.Name, func(t *testing.T) {
			if got, _ := roundTrip(t, addr, c.Request); !bytes.Equal(got, want) {
				t.Errorf("answer through the worker\n got %q\nwant %q", got, want)
			}
		})
	}
	got := readAnswers(t, addr, pipelined, len(cases))
	if !bytes.Equal(got, wantAll) {
		t.Errorf("the %d golden requests pipelined on one connection: answers\n got %q\nwant %q", len(cases), got, wantAll)
	}
}

// waitGolden sends the golden case c until the router answers it as the
// reference did, for at most 15s: the worker's subscriptions have
// reached the embedded server.
func waitGolden(t *testing.T, p *routerProc, addr string, c goldentest.Case) {
	t.Helper()
	want := goldentest.WithNativeByteOrder(t, c.Answer)
	var got []byte
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, _ = roundTrip(t, addr, c.Request); bytes.Equal(got, want) {
			return
		}
	}
	t.Fatalf("golden case %s not answered through the worker after 15s: last answer %q; router logs:\n%s", c.Name, got, p.logs)
}

// readAnswers writes frames to a new connection to addr at once and
// returns the n answers read, as they came.
func readAnswers(t *testing.T, addr string, frames []byte, n int) []byte {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := nc.Write(frames); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(nc)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	sc.Split(core.ScanFrames)
	var out []byte
	for i := range n {
		if !sc.Scan() {
			t.Fatalf("answer %d of %d missing: %v", i+1, n, sc.Err())
		}
		out = append(out, sc.Bytes()...)
	}
	return out
}
