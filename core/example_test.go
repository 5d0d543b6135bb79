package core_test

import (
	"context"
	"fmt"

	"github.com/msgrouter/router/core"
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
