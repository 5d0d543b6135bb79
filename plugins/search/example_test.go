package search_test

import (
	"context"
	"fmt"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins/binary"
	"github.com/msgrouter/router/plugins/search"
)

func Example() {
	h := search.Default()
	for _, content := range []string{
		`{"action": "search", "value": "morpheus"}`,
		`{"action": "search", "value": "neo"}`,
		`{"action": "search"}`,
		`{"action": "find", "value": "ring"}`,
	} {
		req := &core.Message{ContentType: "text/json", ContentEncoding: "utf-8", Content: []byte(content)}
		ans, err := h.Handle(context.Background(), req)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(ans.ContentType, string(ans.Content))
	}
	// Output:
	// text/json {"result": "Follow the white rabbit. 🐰"}
	// text/json {"result": "No match for 'neo'."}
	// text/json {"result": "No match for 'None'."}
	// text/json {"result": "Error: invalid action 'find'."}
}

func ExampleNew() {
	table := search.DefaultTable()
	table["neo"] = "The One."
	h := search.New(table)

	req := &core.Message{ContentType: "text/json", ContentEncoding: "utf-8",
		Content: []byte(`{"action": "search", "value": "neo"}`)}
	ans, err := h.Handle(context.Background(), req)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(ans.Content))
	// Output: {"result": "The One."}
}

// The reference server's routing: JSON requests to search, anything else
// to binary.
func Example_referenceServer() {
	mux, err := core.NewMux(
		core.Route{ContentType: core.ContentTypeJSON, Handler: search.Default()},
		core.Route{Handler: binary.New()},
	)
	if err != nil {
		panic(err)
	}
	for _, req := range []*core.Message{
		{ContentType: "text/json", ContentEncoding: "utf-8", Content: []byte(`{"action": "search", "value": "ring"}`)},
		core.NewBinary("binary/custom-client-binary-type", []byte("binaryhello world")),
	} {
		ans, err := mux.Handle(context.Background(), req)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %s\n", ans.ContentType, ans.Content)
	}
	// Output:
	// text/json {"result": "In the caves beneath the Misty Mountains. 💍"}
	// binary/custom-server-binary-type First 10 bytes of request: binaryhell
}
