// Package loadgen drives a router over the network: a number of
// connections, each keeping a number of requests in flight (pipelined when
// more than one), with round-trip latencies recorded. The benchmarks use
// it, so that every figure comes from the same load generator.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgrouter/router/core"
)

// Options says what load to send.
type Options struct {
	// Addr is the router's address (see core.ParseAddr).
	Addr string
	// Request is one encoded request frame, sent over and over.
	Request []byte
	// Conns is the number of connections; zero means 1.
	Conns int
	// Depth is the number of requests each connection keeps in flight,
	// written together; zero means 1.
	Depth int
	// Requests is the total to send (rounded up to whole batches).
	Requests int64
}

// Result is what a run measured.
type Result struct {
	Requests int64
	Elapsed  time.Duration
	// Latencies holds the round trip of every batch, sorted.
	Latencies []time.Duration
}

// Rate returns requests per second.
func (r Result) Rate() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// Quantile returns the q-quantile (0..1) of the batch round trips.
func (r Result) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[min(len(r.Latencies)-1, int(q*float64(len(r.Latencies))))]
}

// Run sends the load and waits for every answer. Connections are opened
// before the clock starts.
func Run(ctx context.Context, o Options) (Result, error) {
	conns, depth := max(o.Conns, 1), max(o.Depth, 1)
	network, address, err := core.ParseAddr(o.Addr)
	if err != nil {
		return Result{}, err
	}
	cs := make([]net.Conn, conns)
	for i := range cs {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, address)
		if err != nil {
			return Result{}, err
		}
		defer c.Close()
		cs[i] = c
	}
	batch := make([]byte, 0, len(o.Request)*depth)
	for range depth {
		batch = append(batch, o.Request...)
	}
	var left atomic.Int64
	left.Store(o.Requests)
	var done atomic.Int64
	lat := make([][]time.Duration, conns)
	errs := make([]error, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = drive(ctx, c, batch, depth, &left, &done, &lat[i])
		}()
	}
	wg.Wait()
	res := Result{Requests: done.Load(), Elapsed: time.Since(start)}
	for _, l := range lat {
		res.Latencies = append(res.Latencies, l...)
	}
	slices.Sort(res.Latencies)
	return res, errors.Join(errs...)
}

func drive(ctx context.Context, c net.Conn, batch []byte, depth int, left, done *atomic.Int64, lat *[]time.Duration) error {
	var d core.Decoder
	d.MaxContentLength = -1
	buf := make([]byte, 64<<10)
	for left.Add(-int64(depth)) > -int64(depth) {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := time.Now()
		if _, err := c.Write(batch); err != nil {
			return err
		}
		for got := 0; got < depth; {
			n, err := c.Read(buf)
			p := buf[:n]
			for len(p) > 0 {
				k, m, derr := d.Decode(p)
				p = p[k:]
				if derr != nil {
					return derr
				}
				if m == nil {
					break
				}
				if aerr := core.AnswerError(m); aerr != nil {
					return fmt.Errorf("loadgen: %w", aerr)
				}
				got++
			}
			if err != nil {
				return fmt.Errorf("loadgen: after %d of %d answers: %w", got, depth, err)
			}
		}
		*lat = append(*lat, time.Since(t0))
		done.Add(int64(depth))
	}
	return nil
}
