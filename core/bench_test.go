package core_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/msgrouter/router/core"
)

// The end-to-end benchmarks drive a server over loopback with conns
// connections, each keeping depth requests in flight (pipelined when
// depth > 1), and report req/s. The floor is a trivial echo server that
// writes back whatever it reads: no decoding, no JSON, no dispatch.
//
//	go test ./core -run '^$' -bench 'Loopback' -benchtime 200000x

// searchLike answers like the reference search with a fixed table, in
// process, without importing plugins (core imports none of them).
var searchLike = core.HandlerFunc(func(_ context.Context, req *core.Message) (*core.Message, error) {
	v, _, err := req.Field("value")
	if err != nil {
		return nil, err
	}
	content := append(make([]byte, 0, 64), `{"result": "No match for '`...)
	content = append(content, v[1:len(v)-1]...)
	content = append(content, `'."}`...)
	return &core.Message{ContentType: core.ContentTypeJSON, ContentEncoding: core.EncodingUTF8, Content: content}, nil
})

func BenchmarkLoopback(b *testing.B) {
	req := frame(b, jsonReq(b, "search", "morpheus"))
	for _, shape := range []struct{ conns, depth int }{{64, 16}, {64, 1}, {1, 1}} {
		name := fmt.Sprintf("conns=%d/depth=%d", shape.conns, shape.depth)
		b.Run("echo-floor/"+name, func(b *testing.B) {
			addr := startEchoFloor(b)
			drive(b, addr, req, shape.conns, shape.depth)
		})
		b.Run("router/"+name, func(b *testing.B) {
			s := &core.Server{Handler: searchLike}
			l, err := core.Listen(context.Background(), "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go s.Serve(l)
			defer s.Close()
			drive(b, l.Addr().String(), req, shape.conns, shape.depth)
		})
	}
}

// startEchoFloor serves the floor: every byte read is written back.
func startEchoFloor(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 16<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// drive sends b.N requests over conns connections, depth at a time, and
// reports requests per second.
func drive(b *testing.B, addr string, req []byte, conns, depth int) {
	batch := make([]byte, 0, len(req)*depth)
	for range depth {
		batch = append(batch, req...)
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		cs[i] = c
		defer c.Close()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d core.Decoder
			buf := make([]byte, 32<<10)
			for left.Add(-int64(depth)) > -int64(depth) {
				if _, err := c.Write(batch); err != nil {
					b.Error(err)
					return
				}
				for got := 0; got < depth; {
					n, err := c.Read(buf)
					p := buf[:n]
					for len(p) > 0 {
						k, m, derr := d.Decode(p)
						p = p[k:]
						if derr != nil {
							b.Error(derr)
							return
						}
						if m == nil {
							break
						}
						got++
					}
					if err != nil && err != io.EOF {
						b.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
