package core_test

import (
	"context"
	"fmt"
	"log"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins/binary"
	"github.com/msgrouter/router/plugins/search"
)

// Encoding the tutorial's search request gives the exact bytes the Python
// client sends.
func ExampleAppendFrame() {
	m, err := core.NewJSON(core.Object{{Key: "action", Value: "search"}, {Key: "value", Value: "morpheus"}})
	if err != nil {
		panic(err)
	}
	m.ByteOrder = core.ByteOrderLittle // the default is the host's order
	b, err := core.AppendFrame(nil, m)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", b)
	// Output:
	// "\x00g{\"byteorder\": \"little\", \"content-type\": \"text/json\", \"content-encoding\": \"utf-8\", \"content-length\": 41}{\"action\": \"search\", \"value\": \"morpheus\"}"
}

// The Decoder is fed whatever each read returned; messages come out when
// they are complete, however the stream was cut.
func ExampleDecoder() {
	var stream []byte
	for _, m := range []*core.Message{
		{ByteOrder: "little", ContentType: "text/json", ContentEncoding: "utf-8", Content: []byte(`{"action": "search", "value": "ring"}`)},
		core.NewBinary("binary/custom-client-binary-type", []byte("search🐶")),
	} {
		m.ByteOrder = "little"
		b, err := core.AppendFrame(nil, m)
		if err != nil {
			panic(err)
		}
		stream = append(stream, b...)
	}
	// Two reads that cut the second message in its header.
	reads := [][]byte{stream[:150], stream[150:]}

	var d core.Decoder
	for i, p := range reads {
		for len(p) > 0 {
			n, m, err := d.Decode(p)
			if err != nil {
				fmt.Println("frame error:", err)
				return
			}
			p = p[n:]
			if m == nil {
				fmt.Printf("read %d: need more input (partial: %v)\n", i, d.Partial())
				break
			}
			fmt.Printf("read %d: %s %s %q\n", i, m.ContentType, m.ContentEncoding, m.Content)
		}
	}
	// Output:
	// read 0: text/json utf-8 "{\"action\": \"search\", \"value\": \"ring\"}"
	// read 0: need more input (partial: true)
	// read 1: binary/custom-client-binary-type binary "search🐶"
}

// A Mux routes JSON requests by their "action" and others by content-type;
// the first matching route answers.
func ExampleMux() {
	search := core.HandlerFunc(func(ctx context.Context, req *core.Message) (*core.Message, error) {
		raw, _, err := req.Field("value")
		if err != nil {
			return nil, err
		}
		return core.NewJSON(core.Object{{Key: "result", Value: "searched for " + string(raw)}})
	})
	binary := core.HandlerFunc(func(ctx context.Context, req *core.Message) (*core.Message, error) {
		return core.NewBinary("binary/custom-server-binary-type", append([]byte("First 10 bytes of request: "), req.Content[:min(10, len(req.Content))]...)), nil
	})
	mux, err := core.NewMux(
		core.Route{Action: "search", Handler: search},
		core.Route{ContentType: "binary/*", Handler: binary},
	)
	if err != nil {
		panic(err)
	}
	for _, req := range []*core.Message{
		{ContentType: "text/json", ContentEncoding: "utf-8", Content: []byte(`{"action": "search", "value": "morpheus"}`)},
		core.NewBinary("binary/custom-client-binary-type", []byte("searchmorpheus")),
		{ContentType: "text/json", ContentEncoding: "utf-8", Content: []byte(`{"action": "double", "value": 2}`)},
	} {
		ans, err := mux.Handle(context.Background(), req)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Printf("%s: %s\n", ans.ContentType, ans.Content)
	}
	// Output:
	// text/json: {"result": "searched for \"morpheus\""}
	// binary/custom-server-binary-type: First 10 bytes of request: searchmorp
	// error: core: no route for request: content-type "text/json", action "double"
}

// A router in code: a route table with a handler of one's own and the
// built-ins, served on a loopback port, and a client asking it.
func ExampleServer() {
	ctx := context.Background()
	mux, err := core.NewMux(
		core.Route{Action: "hello", Handler: core.HandlerFunc(func(ctx context.Context, req *core.Message) (*core.Message, error) {
			return core.NewJSON(core.Object{{Key: "result", Value: "hello to you"}})
		})},
		core.Route{ContentType: core.ContentTypeJSON, Handler: search.Default()},
		core.Route{Handler: binary.New()}, // the default route
	)
	if err != nil {
		log.Fatal(err)
	}
	srv := &core.Server{Handler: mux}
	l, err := core.Listen(ctx, "tcp://127.0.0.1:0") // port 0: any free port
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(ctx) // answers what it has received, then closes

	c, err := core.Dial(ctx, l.Addr().String()) // a client that pipelines requests
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	hello, _ := core.NewJSON(core.Object{{Key: "action", Value: "hello"}})
	find, _ := core.NewJSON(core.Object{{Key: "action", Value: "search"}, {Key: "value", Value: "ring"}})
	for _, req := range []*core.Message{hello, find, core.NewBinary("binary/x", []byte("0123456789abcdef"))} {
		ans, err := c.Do(ctx, req)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s\n", ans.Content)
	}
	// Output:
	// {"result": "hello to you"}
	// {"result": "In the caves beneath the Misty Mountains. 💍"}
	// First 10 bytes of request: 0123456789
}

// A client may send a request id; the server hands it to the handler and
// puts it on the answer. With GenerateRequestIDs it makes one for the
// requests that come without.
func ExampleServer_requestIDs() {
	ctx := context.Background()
	srv := &core.Server{
		Handler: core.HandlerFunc(func(ctx context.Context, req *core.Message) (*core.Message, error) {
			id, _ := req.Header(core.DefaultRequestIDHeader)
			return core.NewBinary("text/plain", []byte("handled "+id)), nil
		}),
	}
	l, err := core.Listen(ctx, "tcp://127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(ctx)

	c, err := core.Dial(ctx, l.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	req := core.NewBinary("text/plain", []byte("hi"))
	req.SetHeader("request-id", "order-42")
	ans, err := c.Do(ctx, req)
	if err != nil {
		log.Fatal(err)
	}
	id, _ := ans.Header("request-id")
	fmt.Printf("%s; answer's request-id: %s\n", ans.Content, id)
	// Output:
	// handled order-42; answer's request-id: order-42
}

// answerPool lends its answers: the Server hands each one back once it
// has written it, and the next request reuses it.
type answerPool struct{ free []*core.Message }

func (p *answerPool) Release(m *core.Message) {
	*m = core.Message{}
	p.free = append(p.free, m)
}

func (p *answerPool) get() *core.Message {
	if n := len(p.free); n > 0 {
		m := p.free[n-1]
		p.free = p.free[:n-1]
		return m
	}
	return new(core.Message)
}

// A handler that answers from a pool lends each answer; whoever is done
// with it (the Server, once the answer is written) calls Release. A
// caller that never releases just leaves the answer to the garbage
// collector.
func ExampleMessage_Lend() {
	pool := &answerPool{}
	for range 3 {
		ans := pool.get()
		ans.ByteOrder, ans.ContentType, ans.Content = core.ByteOrderLittle, "text/plain", []byte("pong")
		ans.Lend(pool)
		frame, _ := core.AppendFrame(nil, ans) // what the Server writes
		ans.Release()                          // then it hands the answer back
		fmt.Println(len(frame), len(pool.free))
	}
	// Output:
	// 110 1
	// 110 1
	// 110 1
}
