package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/msgrouter/router/core"
)

// Faults returns the faults that need only the router's address: a burst
// of n hostile connections of each kind, and a storm of m connections of
// one request each. Their counts go into the report of the run whose
// Options hold them: pass the same Tally to Run.
func Faults(tl *Tally, addr string, n, m int) ([]Fault, error) {
	network, address, err := core.ParseAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return []Fault{
		{Name: "hostile", Inject: func(ctx context.Context) (string, error) { return tl.t.hostileBurst(ctx, network, address, n) }},
		{Name: "storm", Inject: func(ctx context.Context) (string, error) { return tl.t.storm(ctx, network, address, m) }},
	}, nil
}

// storm opens n connections at once, each sending one echo request and
// reading its answer: every one is accounted for.
func (t *tally) storm(ctx context.Context, network, address string, n int) (string, error) {
	var wg sync.WaitGroup
	var ok, refused atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, address)
			if err != nil {
				refused.Add(1)
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(30 * time.Second))
			req := echoRequest("storm-" + strconv.Itoa(i))
			t.sent.Add(1)
			if _, err := nc.Write(req); err != nil {
				t.unanswered.Add(1)
				t.addError("storm: write", err.Error(), 1)
				return
			}
			var dec core.Decoder
			dec.MaxContentLength = -1
			buf := make([]byte, 4096)
			for {
				k, err := nc.Read(buf)
				for m, derr := range dec.Messages(buf[:k]) {
					if derr != nil {
						break
					}
					t.answered.Add(1)
					if aerr := core.AnswerError(m); aerr != nil {
						t.errorAnswer(aerr)
					} else if !bytes.Equal(m.Content, contentOf(req)) {
						t.mismatched.Add(1)
					}
					ok.Add(1)
					return
				}
				if err != nil {
					t.unanswered.Add(1)
					t.addError("storm: connection lost", err.Error(), 1)
					return
				}
			}
		}()
	}
	wg.Wait()
	return fmt.Sprintf("%d connections, %d answered, %d refused", n, ok.Load(), refused.Load()), nil
}

// hostileBurst opens n connections of each hostile kind, and counts what
// the router did with them. None sends a request that expects an answer.
func (t *tally) hostileBurst(ctx context.Context, network, address string, n int) (string, error) {
	kinds := []struct {
		name string
		run  func(nc net.Conn) string
	}{
		{"garbage", func(nc net.Conn) string {
			junk := make([]byte, 256)
			for i := range junk {
				junk[i] = byte(rand.IntN(256))
			}
			junk[0], junk[1] = 0, 40 // a header length, then no JSON
			nc.Write(junk)
			return readToEnd(nc, 20*time.Second)
		}},
		{"slowloris", func(nc net.Conn) string {
			// A header that trickles in a byte a second: the router's
			// read timeout closes it.
			frame := echoRequest("slow")
			for i := 0; i < len(frame); i++ {
				if _, err := nc.Write(frame[i : i+1]); err != nil {
					return "closed by the router"
				}
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
					return "given up"
				}
				if i > 25 {
					break
				}
			}
			return readToEnd(nc, 20*time.Second)
		}},
		{"reset mid-request", func(nc net.Conn) string {
			frame := echoRequest("reset")
			nc.Write(frame[:len(frame)/2])
			resetClose(nc)
			return "reset by us"
		}},
		{"reset before the answer", func(nc net.Conn) string {
			nc.Write(echoRequest("reset"))
			resetClose(nc)
			return "reset by us"
		}},
		{"silent", func(nc net.Conn) string {
			// Connects and sends nothing; closes after a while.
			select {
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
			}
			return "closed by us"
		}},
	}
	var wg sync.WaitGroup
	var opened atomic.Int64
	for _, k := range kinds {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var d net.Dialer
				nc, err := d.DialContext(ctx, network, address)
				if err != nil {
					t.count(t.hostile, k.name+": refused")
					return
				}
				opened.Add(1)
				defer nc.Close()
				t.count(t.hostile, k.name+": "+k.run(nc))
			}()
		}
	}
	wg.Wait()
	return fmt.Sprintf("%d hostile connections (%d each of garbage, slowloris, resets, silent)", opened.Load(), n), nil
}

// readToEnd reads until the router closes the connection, or limit.
func readToEnd(nc net.Conn, limit time.Duration) string {
	nc.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	switch {
	case err == nil:
		return "closed by the router"
	case errors.As(err, &ne) && ne.Timeout():
		return "still open after " + limit.String()
	case errors.Is(err, syscall.ECONNRESET):
		return "reset by the router"
	}
	return "error: " + err.Error()
}

// resetClose closes nc with a reset rather than a FIN.
func resetClose(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	nc.Close()
}
