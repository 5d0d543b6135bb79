// Command floor is the framed-echo floor of issue 19's process-level
// harness: a server in its own process that answers each frame of the
// router's protocol (see PROTOCOL.md) with the same bytes, doing no JSON
// work and no dispatch. It is the cheapest correct framed server, so a
// router measured under the same load is measured against what the
// machine and the load generator allow.
//
//	go run ./internal/floor -listen 127.0.0.1:7000
//
// Once it listens it prints "listening: addr=HOST:PORT" on stderr (port
// 0 picks a free port), and it runs until SIGINT or SIGTERM.
//
// Each connection has one goroutine and one buffer, reused. A read is
// appended to what is buffered; the whole frames at its start are found
// by the 2-byte header length and the header's content-length, and
// written back in one write; the rest waits for the next read. Answers
// are thus the requests' bytes in request order, pipelining included.
//
// The content-length is found without a JSON parser: the first
// "content-length" key in the header, then a colon and digits (see
// frameSize). That is correct for the headers the protocol's senders
// write, and is the least work a framed server must do; core.ScanFrames
// would check the whole header, which is the router's work, not the
// floor's. A frame it cannot size (a zero header length, no
// content-length, or one over 16 MiB) closes the connection.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "serve on `HOST:PORT` (port 0 picks a free port)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "floor: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "floor: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "listening: addr=%s\n", l.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	if err := serve(l); err != nil && !errors.Is(err, net.ErrClosed) {
		fmt.Fprintf(os.Stderr, "floor: %v\n", err)
		os.Exit(1)
	}
}
