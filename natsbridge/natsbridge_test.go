package natsbridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/natsbridge"
	"github.com/msgrouter/router/plugins/echo"
	"github.com/msgrouter/router/plugins/search"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// atOnce bounds the failures that must come at once: well under the
// requests' deadline, so a failure that waits for the deadline is caught.
const (
	deadline = 10 * time.Second
	atOnce   = 5 * time.Second
)

// extHandler answers with the request's extension headers plus one whose
// value is not ASCII, so the answer's header travels in base64.
func extHandler(_ context.Context, req *core.Message) (*core.Message, error) {
	ans := &core.Message{ByteOrder: "big", ContentType: "text/plain", ContentEncoding: "utf-8",
		Headers: append([]core.Header(nil), req.Headers...), Content: req.Content}
	ans.SetHeader("x-worker", "\U0001f430 r\u00e9ponse\nline two")
	return ans, nil
}

func TestRoundTripByteExact(t *testing.T) {
	s := startServer(t, server.Options{})
	handlers := map[string]core.Handler{
		"t.echo":   echo.New(),
		"t.search": search.Default(),
		"t.ext":    core.HandlerFunc(extHandler),
		"t.fail": core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
			return nil, errors.New(`boom: "quoted" 'value' \U0001f436`)
		}),
	}
	var eps []natsbridge.Endpoint
	for subj, h := range handlers {
		eps = append(eps, natsbridge.Endpoint{Subject: subj, Handler: h})
	}
	serve(t, connect(t, s), natsbridge.Config{Endpoints: eps})
	client := connect(t, s)

	search1, _ := core.NewJSON(core.Object{{Key: "action", Value: "search"}, {Key: "value", Value: "morpheus"}})
	search2, _ := core.NewJSON(core.Object{{Key: "action", Value: "search"}, {Key: "value", Value: "\U0001f436"}})
	search3, _ := core.NewJSON(core.Object{{Key: "action", Value: "search"}, {Key: "value", Value: "nobody"}})
	bin := core.NewBinary("binary/custom-client-binary-type", []byte("searchmorpheus\x00\xff"))
	bin.SetHeader("x-request-id", "42")
	bin.Headers = append(bin.Headers, core.Header{Key: "x-raw", Value: []byte("{\n  \"a\": [1, 2]\n}")})
	empty := core.NewBinary("binary/x", nil)
	reqs := []*core.Message{search1, search2, search3, bin, empty}

	for subj, h := range handlers {
		bridge := natsbridge.NewHandler(client, subj)
		for i, req := range reqs {
			want, wantErr := core.Call(context.Background(), h, req)
			got, err, _ := call(bridge, req, deadline)
			if wantErr != nil {
				var re *natsbridge.RemoteError
				if !errors.As(err, &re) || err.Error() != wantErr.Error() || !errors.Is(err, natsbridge.ErrRemote) {
					t.Errorf("%s #%d: error %v, want a RemoteError %q", subj, i, err, wantErr)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s #%d: %v", subj, i, err)
				continue
			}
			if w, g := marshal(t, want), marshal(t, got); !bytes.Equal(w, g) {
				t.Errorf("%s #%d: answer\n%q\nwant\n%q", subj, i, g, w)
			}
		}
	}
}

func TestNoWorkers(t *testing.T) {
	s := startServer(t, server.Options{})
	h := natsbridge.NewHandler(connect(t, s), "router.search")
	_, err, took := call(h, core.NewBinary("binary/x", []byte("x")), deadline)
	if !errors.Is(err, natsbridge.ErrNoWorkers) || err.Error() != "no workers for router.search" {
		t.Fatalf("err = %v, want ErrNoWorkers", err)
	}
	if took > atOnce {
		t.Errorf("no workers took %v, want at once", took)
	}
}

func TestTimeout(t *testing.T) {
	s := startServer(t, server.Options{})
	stop := make(chan struct{})
	slow := core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
		<-stop // ignores its context: the client must not wait for it
		return core.NewBinary("binary/x", []byte("late")), nil
	})
	serve(t, connect(t, s), natsbridge.Config{Endpoints: []natsbridge.Endpoint{{Subject: "t.slow", Handler: slow}}})
	t.Cleanup(func() { close(stop) }) // before the Service's Shutdown
	h := natsbridge.NewHandler(connect(t, s), "t.slow")
	_, err, took := call(h, core.NewBinary("binary/x", []byte("x")), 100*time.Millisecond)
	if !errors.Is(err, core.ErrHandlerTimeout) {
		t.Fatalf("err = %v, want core.ErrHandlerTimeout", err)
	}
	if took > 900*time.Millisecond {
		t.Errorf("timeout took %v, want about the 100ms deadline", took)
	}
}

func TestTooLarge(t *testing.T) {
	s := startServer(t, server.Options{MaxPayload: 1024})
	big := core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
		return core.NewBinary("binary/x", bytes.Repeat([]byte("a"), 2000)), nil
	})
	serve(t, connect(t, s), natsbridge.Config{Endpoints: []natsbridge.Endpoint{
		{Subject: "t.echo", Handler: echo.New()}, {Subject: "t.big", Handler: big}}})
	client := connect(t, s)

	_, err, took := call(natsbridge.NewHandler(client, "t.echo"), core.NewBinary("binary/x", bytes.Repeat([]byte("a"), 2000)), deadline)
	if !errors.Is(err, natsbridge.ErrTooLarge) {
		t.Errorf("request: err = %v, want ErrTooLarge", err)
	}
	if took > atOnce {
		t.Errorf("oversized request took %v, want at once", took)
	}
	_, err, took = call(natsbridge.NewHandler(client, "t.big"), core.NewBinary("binary/x", []byte("x")), deadline)
	if !errors.Is(err, natsbridge.ErrTooLarge) {
		t.Errorf("answer: err = %v, want ErrTooLarge", err)
	}
	if took > atOnce {
		t.Errorf("oversized answer took %v, want at once", took)
	}
	if _, err, _ := call(natsbridge.NewHandler(client, "t.echo"), core.NewBinary("binary/x", []byte("small")), deadline); err != nil {
		t.Errorf("small request after: %v", err)
	}
}

func TestDisconnectedThenReconnect(t *testing.T) {
	s1 := startServer(t, server.Options{})
	p := port(s1)
	opts := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(20 * time.Millisecond)}
	worker, client := connect(t, s1, opts...), connect(t, s1, opts...)
	serve(t, worker, natsbridge.Config{Endpoints: []natsbridge.Endpoint{{Subject: "t.echo", Handler: echo.New()}}})
	h := natsbridge.NewHandler(client, "t.echo")
	req := core.NewBinary("binary/x", []byte("ping"))
	if _, err, _ := call(h, req, deadline); err != nil {
		t.Fatalf("before: %v", err)
	}

	s1.Shutdown()
	s1.WaitForShutdown()
	waitFor(t, "the client to see the disconnect", func() bool { return !client.IsConnected() })
	_, err, took := call(h, req, deadline)
	if !errors.Is(err, natsbridge.ErrDisconnected) {
		t.Fatalf("down: err = %v, want ErrDisconnected", err)
	}
	if took > atOnce {
		t.Errorf("disconnected took %v, want at once", took)
	}

	startServer(t, server.Options{Port: p})
	waitFor(t, "both to reconnect", func() bool { return client.IsConnected() && worker.IsConnected() })
	// The worker's subscriptions come back with its reconnect: until the
	// server has them, a request may find no workers.
	waitFor(t, "requests to flow again", func() bool {
		ans, err, _ := call(h, req, deadline)
		if err != nil && !errors.Is(err, natsbridge.ErrNoWorkers) {
			t.Fatalf("after: %v", err)
		}
		return err == nil && string(ans.Content) == "ping"
	})
}

func TestMaxInFlight(t *testing.T) {
	s := startServer(t, server.Options{})
	var cur, peak atomic.Int32
	sleepy := core.HandlerFunc(func(_ context.Context, req *core.Message) (*core.Message, error) {
		n := cur.Add(1)
		defer cur.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(30 * time.Millisecond)
		return core.NewBinary("binary/x", req.Content), nil
	})
	serve(t, connect(t, s), natsbridge.Config{MaxInFlight: 2, Endpoints: []natsbridge.Endpoint{
		{Subject: "t.a", Handler: sleepy}, {Subject: "t.b", Handler: sleepy}}})
	client := natsbridge.NewClient(connect(t, s))
	t.Cleanup(func() { client.Close() })
	hs := []core.Handler{client.Handler("t.a"), client.Handler("t.b")}
	echoConcurrently(t, 12, func(i int) core.Handler { return hs[i%2] })
	if p := peak.Load(); p > 2 || p < 1 {
		t.Errorf("peak in flight %d, want at most 2", p)
	}
	t.Logf("peak in flight: %d", peak.Load())
}

func TestShutdownDrains(t *testing.T) {
	s := startServer(t, server.Options{})
	release := make(chan struct{})
	var started atomic.Int32
	hold := core.HandlerFunc(func(_ context.Context, req *core.Message) (*core.Message, error) {
		if strings.HasPrefix(string(req.Content), "hold") {
			started.Add(1)
			<-release
		}
		return core.NewBinary("binary/x", req.Content), nil
	})
	svc, err := natsbridge.Serve(connect(t, s), natsbridge.Config{Endpoints: []natsbridge.Endpoint{{Subject: "t.hold", Handler: hold}}})
	if err != nil {
		t.Fatal(err)
	}
	h := natsbridge.NewHandler(connect(t, s), "t.hold")
	const held = 3
	var wg sync.WaitGroup
	errs := make([]error, held)
	for i := range held {
		wg.Go(func() {
			want := fmt.Sprint("hold", i)
			ans, err, _ := call(h, core.NewBinary("binary/x", []byte(want)), deadline)
			if err == nil && string(ans.Content) != want {
				err = fmt.Errorf("answer %q, want %q", ans.Content, want)
			}
			errs[i] = err
		})
	}
	waitFor(t, "the held requests to start", func() bool { return started.Load() == held })

	done := make(chan error, 1)
	go func() { done <- svc.Shutdown(context.Background()) }()
	waitFor(t, "new requests to find no workers", func() bool {
		_, err, _ := call(h, core.NewBinary("binary/x", []byte("probe")), deadline)
		return errors.Is(err, natsbridge.ErrNoWorkers)
	})
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with requests in flight", err)
	default:
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("held request %d: %v", i, err)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := svc.InFlight(); n != 0 {
		t.Errorf("in flight after Shutdown: %d", n)
	}
}

func TestHandleBatch(t *testing.T) {
	s := startServer(t, server.Options{MaxPayload: 1024})
	serve(t, connect(t, s), natsbridge.Config{Endpoints: []natsbridge.Endpoint{{Subject: "t.echo", Handler: echo.New()}}})
	h := natsbridge.NewHandler(connect(t, s), "t.echo")
	const n = 8
	reqs := make([]*core.Message, n)
	for i := range reqs {
		reqs[i] = core.NewBinary("binary/x", []byte(fmt.Sprint("req", i)))
	}
	reqs[3] = core.NewBinary("binary/x", bytes.Repeat([]byte("a"), 2000)) // over the max payload
	answers, errs := make([]*core.Message, n), make([]error, n)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	h.HandleBatch(ctx, reqs, answers, errs)
	for i := range reqs {
		switch {
		case i == 3:
			if !errors.Is(errs[i], natsbridge.ErrTooLarge) {
				t.Errorf("request 3: err = %v, want ErrTooLarge", errs[i])
			}
		case errs[i] != nil:
			t.Errorf("request %d: %v", i, errs[i])
		case !bytes.Equal(answers[i].Content, reqs[i].Content):
			t.Errorf("request %d: answer %q, want %q", i, answers[i].Content, reqs[i].Content)
		}
	}
}

func TestWorkerDiesHoldingRequest(t *testing.T) {
	s := startServer(t, server.Options{})
	release := make(chan struct{})
	took := make(chan int, 2)
	workers := make([]*nats.Conn, 2)
	for w := range workers {
		workers[w] = connect(t, s)
		hold := core.HandlerFunc(func(_ context.Context, req *core.Message) (*core.Message, error) {
			if string(req.Content) == "hold" {
				took <- w
				<-release
			}
			return core.NewBinary("binary/x", []byte(fmt.Sprint("worker", w))), nil
		})
		serve(t, workers[w], natsbridge.Config{Endpoints: []natsbridge.Endpoint{{Subject: "t.hold", Handler: hold}}})
	}
	t.Cleanup(func() { close(release) }) // before the Services' Shutdown
	h := natsbridge.NewHandler(connect(t, s), "t.hold")

	errc := make(chan error, 1)
	go func() {
		_, err, _ := call(h, core.NewBinary("binary/x", []byte("hold")), 300*time.Millisecond)
		errc <- err
	}()
	dead := <-took
	workers[dead].Close() // the worker dies holding the request
	if err := <-errc; !errors.Is(err, core.ErrHandlerTimeout) {
		t.Fatalf("held request: err = %v, want core.ErrHandlerTimeout", err)
	}
	alive := fmt.Sprint("worker", 1-dead)
	waitFor(t, "the server to drop the dead worker", func() bool {
		ans, err, _ := call(h, core.NewBinary("binary/x", []byte("ping")), deadline)
		return err == nil && string(ans.Content) == alive
	})
	for i := range 10 {
		ans, err, _ := call(h, core.NewBinary("binary/x", []byte("ping")), deadline)
		if err != nil || string(ans.Content) != alive {
			t.Fatalf("request %d after the death: %v, %v; want %s", i, ans, err, alive)
		}
	}
}

func TestServiceDiscovery(t *testing.T) {
	s := startServer(t, server.Options{})
	for range 2 {
		serve(t, connect(t, s), natsbridge.Config{Endpoints: []natsbridge.Endpoint{
			{Subject: "router.search", Handler: search.Default()}, {Subject: "router.echo", Handler: echo.New()}}})
	}
	client := connect(t, s)
	// What `nats micro info router` reads: every worker answers.
	sub, err := client.SubscribeSync(client.NewRespInbox())
	if err != nil {
		t.Fatal(err)
	}
	if err := client.PublishRequest("$SRV.INFO.router", sub.Subject, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		msg, err := sub.NextMsg(deadline)
		if err != nil {
			t.Fatalf("info answer %d: %v", i, err)
		}
		var info micro.Info
		if err := json.Unmarshal(msg.Data, &info); err != nil {
			t.Fatal(err)
		}
		if info.Name != natsbridge.DefaultName || len(info.Endpoints) != 2 {
			t.Fatalf("info %+v, want service %q with 2 endpoints", info, natsbridge.DefaultName)
		}
		for _, e := range info.Endpoints {
			if e.QueueGroup != natsbridge.DefaultQueueGroup || !strings.HasPrefix(e.Subject, "router.") {
				t.Errorf("endpoint %+v, want subject router.* in queue group %q", e, natsbridge.DefaultQueueGroup)
			}
		}
	}
}

// A request that waits for a slot of the pool past its deadline gets a
// timeout without its handler being called: the router gave up on it.
func TestQueuedPastDeadlineSkipsHandler(t *testing.T) {
	s := startServer(t, server.Options{})
	var calls atomic.Int32
	slow := core.HandlerFunc(func(_ context.Context, req *core.Message) (*core.Message, error) {
		calls.Add(1)
		time.Sleep(400 * time.Millisecond) // ignores its context, as a busy handler may
		return core.NewBinary("binary/x", req.Content), nil
	})
	serve(t, connect(t, s), natsbridge.Config{MaxInFlight: 1, Endpoints: []natsbridge.Endpoint{{Subject: "t.slow", Handler: slow}}})
	h := natsbridge.NewHandler(connect(t, s), "t.slow")
	const n = 3
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i], _ = call(h, core.NewBinary("binary/x", []byte("x")), 150*time.Millisecond) })
		time.Sleep(10 * time.Millisecond) // the first takes the slot
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, core.ErrHandlerTimeout) {
			t.Errorf("request %d: %v, want a timeout", i, err)
		}
	}
	// The two that queued are answered, to nobody, once the slot frees:
	// wait for that, then count the handler's calls.
	time.Sleep(600 * time.Millisecond)
	if c := calls.Load(); c != 1 {
		t.Errorf("handler called %d times, want 1: the queued requests were past their deadline", c)
	}
}

// Past MaxOutstanding messages awaiting answers, requests queue and go in
// batch messages: every one is answered, right, and NATS carried fewer
// messages than requests.
func TestCoalescedBatches(t *testing.T) {
	s := startServer(t, server.Options{})
	var calls atomic.Int32
	slowEcho := core.HandlerFunc(func(_ context.Context, req *core.Message) (*core.Message, error) {
		calls.Add(1)
		time.Sleep(2 * time.Millisecond)
		return core.NewBinary("binary/x", req.Content), nil
	})
	svc := serve(t, connect(t, s), natsbridge.Config{MaxInFlight: 8, Endpoints: []natsbridge.Endpoint{{Subject: "t.co", Handler: slowEcho}}})
	h := natsbridge.NewHandler(connect(t, s), "t.co")
	h.MaxOutstanding = 2
	t.Cleanup(func() { h.Close() })
	const n = 200
	echoConcurrently(t, n, func(int) core.Handler { return h })
	info := svc.Micro().Stats()
	msgs := 0
	for _, e := range info.Endpoints {
		msgs += e.NumRequests
	}
	if int(calls.Load()) != n || msgs >= n {
		t.Errorf("%d handler calls from %d NATS messages; want %d calls from fewer messages", calls.Load(), msgs, n)
	}
	t.Logf("%d requests in %d NATS messages", n, msgs)
}
