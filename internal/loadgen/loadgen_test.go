package loadgen

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
)

func TestQuantile(t *testing.T) {
	ms := func(n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = time.Duration(i+1) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		n    int
		q    float64
		want time.Duration // nearest rank
	}{
		{10, 0.9, 9 * time.Millisecond},
		{10, 0.5, 5 * time.Millisecond},
		{100, 0.5, 50 * time.Millisecond},
		{100, 0.99, 99 * time.Millisecond},
		{1000, 0.999, 999 * time.Millisecond},
		{1000, 1, 1000 * time.Millisecond},
		{100, 0.07, 7 * time.Millisecond}, // 0.07*100 is 7.000000000000001
		{3, 0, time.Millisecond},
		{1, 0.99, time.Millisecond},
		{0, 0.5, 0},
	}
	for _, tt := range tests {
		if got := (Result{Latencies: ms(tt.n)}).Quantile(tt.q); got != tt.want {
			t.Errorf("n=%d q=%v: %v, want %v", tt.n, tt.q, got, tt.want)
		}
	}
}

// serve runs answer on every connection to a fresh loopback listener.
func serve(t *testing.T, answer func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				answer(c)
			}()
		}
	}()
	return l.Addr().String()
}

func request(t *testing.T) []byte {
	t.Helper()
	b, err := core.Marshal(core.NewBinary("binary/x", []byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A server that accepts and never answers: the run ends at its timeout
// after the duration, and counts the timeouts, instead of waiting
// forever.
func TestRunSilentServer(t *testing.T) {
	quit := make(chan struct{})
	defer close(quit)
	addr := serve(t, func(c net.Conn) {
		c.Read(make([]byte, 1<<16))
		<-quit // and never answer
	})
	done := make(chan struct{})
	var res Result
	var err error
	go func() {
		defer close(done)
		res, err = Run(context.Background(), Options{Addr: addr, Request: request(t), Conns: 2, Duration: 100 * time.Millisecond, Timeout: 300 * time.Millisecond})
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run against a silent server did not return")
	}
	var counted *CountedErrors
	if !errors.As(err, &counted) || res.Errors[KindTimeout] < 2 || res.Requests != 0 {
		t.Errorf("Run = %d requests, errors %v, %v; want a timeout a connection and no request", res.Requests, res.Errors, err)
	}
}

// A server that answers every request twice: the surplus is an invalid
// answer, not a request counted twice.
func TestRunSurplusAnswers(t *testing.T) {
	ans, err := core.Marshal(core.NewBinary("binary/ok", []byte("ok")))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, func(c net.Conn) {
		buf := make([]byte, 1<<16)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			if _, err := c.Write(append(append([]byte(nil), ans...), ans...)); err != nil {
				return
			}
		}
	})
	res, err := Run(context.Background(), Options{Addr: addr, Request: request(t), Requests: 50, Timeout: 5 * time.Second})
	if res.Requests > 50 {
		t.Errorf("%d requests counted, of 50 sent", res.Requests)
	}
	if res.Errors[KindInvalid] == 0 {
		t.Errorf("no invalid answer counted: errors %v, %v", res.Errors, err)
	}
}
