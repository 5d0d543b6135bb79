package core_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/loadgen"
)

// The end-to-end benchmarks drive a server over loopback with conns
// connections, each keeping depth requests in flight (pipelined when
// depth > 1), and report req/s. The load comes from internal/loadgen, the
// generator every benchmark uses (a test-only import: core itself imports
// none of the router's packages). The floor is a trivial echo server that
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
// reports requests per second and the median batch round trip.
func drive(b *testing.B, addr string, req []byte, conns, depth int) {
	b.ReportAllocs()
	b.ResetTimer()
	res, err := loadgen.Run(context.Background(), loadgen.Options{
		Addr: addr, Request: req, Conns: conns, Depth: depth, Requests: int64(b.N),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.Rate(), "req/s")
	b.ReportMetric(float64(res.Quantile(0.5).Microseconds()), "p50-µs")
}

// BenchmarkCodec decodes the reference search request and encodes the
// reference answer, each from and into a reused buffer.
func BenchmarkCodec(b *testing.B) {
	req := frame(b, jsonReq(b, "search", "morpheus"))
	ans, err := core.NewJSON(core.Object{{Key: "result", Value: "Follow the white rabbit. 🐰"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		var d core.Decoder
		b.ReportAllocs()
		b.SetBytes(int64(len(req)))
		for b.Loop() {
			if _, m, err := d.Decode(req); err != nil || m == nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode+action", func(b *testing.B) {
		var d core.Decoder
		b.ReportAllocs()
		for b.Loop() {
			_, m, _ := d.Decode(req)
			if a, err := m.Action(); err != nil || a != "search" {
				b.Fatal(a, err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = core.AppendFrame(buf[:0], ans); err != nil {
				b.Fatal(err)
			}
		}
	})
}
