package search_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins/search"
)

func jsonRequest(content string) *core.Message {
	return &core.Message{
		ByteOrder:       core.ByteOrderLittle,
		ContentType:     core.ContentTypeJSON,
		ContentEncoding: core.EncodingUTF8,
		Content:         []byte(content),
	}
}

// checkAnswer checks the fixed fields of an answer and that its content is
// the wanted bytes and valid JSON.
func checkAnswer(t *testing.T, ans *core.Message, want string) {
	t.Helper()
	if ans.ContentType != "text/json" || ans.ContentEncoding != "utf-8" || ans.ByteOrder != "" || ans.Headers != nil {
		t.Errorf("answer header = %q %q %q %v, want \"\" text/json utf-8 and no headers",
			ans.ByteOrder, ans.ContentType, ans.ContentEncoding, ans.Headers)
	}
	if string(ans.Content) != want {
		t.Errorf("content\n got %s\nwant %s", ans.Content, want)
	}
	if !json.Valid(ans.Content) {
		t.Errorf("content is not valid JSON: %q", ans.Content)
	}
}

func TestHandle(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		// Table hits.
		{"morpheus", `{"action": "search", "value": "morpheus"}`, `{"result": "Follow the white rabbit. 🐰"}`},
		{"ring", `{"action": "search", "value": "ring"}`, `{"result": "In the caves beneath the Misty Mountains. 💍"}`},
		{"dog", `{"action": "search", "value": "🐶"}`, `{"result": "🐾 Playing ball! 🏐"}`},
		{"escaped key", `{"action": "search", "value": "mor\u0070heus"}`, `{"result": "Follow the white rabbit. 🐰"}`},
		{"surrogate pair", `{"action": "search", "value": "\ud83d\udc36"}`, `{"result": "🐾 Playing ball! 🏐"}`},
		{"compact reordered", `{"value":"ring","action":"search"}`, `{"result": "In the caves beneath the Misty Mountains. 💍"}`},
		{"white space", " \r\n\t{ \"action\" :\n\"search\" , \"value\"\t: \"ring\" }\n", `{"result": "In the caves beneath the Misty Mountains. 💍"}`},
		{"duplicate keys", `{"action": "search", "value": "ring", "value": "morpheus"}`, `{"result": "Follow the white rabbit. 🐰"}`},
		{"escaped action", `{"action": "se\u0061rch", "value": "ring"}`, `{"result": "In the caves beneath the Misty Mountains. 💍"}`},
		{"extra members", `{"id": [1, {"x": null}], "action": "search", "value": "ring", "z": 1.5}`, `{"result": "In the caves beneath the Misty Mountains. 💍"}`},

		// Misses: the value as Python's str() prints it.
		{"miss", `{"action": "search", "value": "neo"}`, `{"result": "No match for 'neo'."}`},
		{"case matters", `{"action": "search", "value": "Morpheus"}`, `{"result": "No match for 'Morpheus'."}`},
		{"empty value", `{"action": "search", "value": ""}`, `{"result": "No match for ''."}`},
		{"missing value", `{"action": "search"}`, `{"result": "No match for 'None'."}`},
		{"null", `{"action": "search", "value": null}`, `{"result": "No match for 'None'."}`},
		{"true", `{"action": "search", "value": true}`, `{"result": "No match for 'True'."}`},
		{"false", `{"action": "search", "value": false}`, `{"result": "No match for 'False'."}`},
		{"int", `{"action": "search", "value": 42}`, `{"result": "No match for '42'."}`},
		{"negative int", `{"action": "search", "value": -7}`, `{"result": "No match for '-7'."}`},
		{"minus zero int", `{"action": "search", "value": -0}`, `{"result": "No match for '0'."}`},
		{"big int", `{"action": "search", "value": 123456789012345678901234567890}`, `{"result": "No match for '123456789012345678901234567890'."}`},
		{"float", `{"action": "search", "value": 1.5}`, `{"result": "No match for '1.5'."}`},
		{"float whole", `{"action": "search", "value": 100.0e0}`, `{"result": "No match for '100.0'."}`},
		{"float 1e15", `{"action": "search", "value": 1e15}`, `{"result": "No match for '1000000000000000.0'."}`},
		{"float 1E16", `{"action": "search", "value": 1E16}`, `{"result": "No match for '1e+16'."}`},
		{"float small", `{"action": "search", "value": 0.00001}`, `{"result": "No match for '1e-05'."}`},
		{"float 2.5e-5", `{"action": "search", "value": 2.5e-5}`, `{"result": "No match for '2.5e-05'."}`},
		{"float rounded", `{"action": "search", "value": 123456789.123456789}`, `{"result": "No match for '123456789.12345679'."}`},
		{"float minus zero", `{"action": "search", "value": -0.0}`, `{"result": "No match for '-0.0'."}`},
		{"float overflow", `{"action": "search", "value": 1e400}`, `{"result": "No match for 'inf'."}`},
		{"float negative overflow", `{"action": "search", "value": -1e400}`, `{"result": "No match for '-inf'."}`},
		{"float underflow", `{"action": "search", "value": 1e-400}`, `{"result": "No match for '0.0'."}`},
		// Approximation: JSON text, where Python would print its repr.
		// Python's repr of the list or dict (the reference cannot answer
		// these: a list or dict is no key of its table).
		{"array", `{"action": "search", "value": ["a", 1]}`, `{"result": "No match for '['a', 1]'."}`},
		{"object", "{\"action\": \"search\", \"value\": {\"k\":\n\"v\"}}", `{"result": "No match for '{'k': 'v'}'."}`},
		// The echo of V is escaped the way json.dumps escapes.
		{"escapes", `{"action": "search", "value": "a\"b\\c\nd\te\u0001f\u2028g<&>\/"}`, "{\"result\": \"No match for 'a\\\"b\\\\c\\nd\\te\\u0001f\u2028g<&>/'.\"}"},
		{"non-ASCII escaped", `{"action": "search", "value": "caf\u00e9"}`, `{"result": "No match for 'café'."}`},
		{"lone surrogate", `{"action": "search", "value": "\ud800"}`, `{"result": "No match for '` + "\ufffd" + `'."}`},

		// Other actions.
		{"other action", `{"action": "find", "value": "ring"}`, `{"result": "Error: invalid action 'find'."}`},
		{"action case", `{"action": "Search", "value": "ring"}`, `{"result": "Error: invalid action 'Search'."}`},
		{"missing action", `{"value": "ring"}`, `{"result": "Error: invalid action 'None'."}`},
		{"empty object", `{}`, `{"result": "Error: invalid action 'None'."}`},
		{"null action", `{"action": null}`, `{"result": "Error: invalid action 'None'."}`},
		{"int action", `{"action": 7}`, `{"result": "Error: invalid action '7'."}`},
		{"bool action", `{"action": false}`, `{"result": "Error: invalid action 'False'."}`},
		{"array action", `{"action": ["search"]}`, `{"result": "Error: invalid action '['search']'."}`},
		{"object action with quotes", `{"action": {"it's": "say \"hi\"", "both": "'\""}}`, `{"result": "Error: invalid action '{\"it's\": 'say \"hi\"', 'both': '\\'\"'}'."}`},
		{"quote in action", `{"action": "it's \"x\""}`, `{"result": "Error: invalid action 'it's \"x\"'."}`},
	}
	h := search.Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans, err := h.Handle(context.Background(), jsonRequest(tt.content))
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			checkAnswer(t, ans, tt.want)
		})
	}
}

func TestHandleErrors(t *testing.T) {
	tests := []struct {
		name    string
		req     *core.Message
		wantErr error
	}{
		{"array", jsonRequest(`["search", "ring"]`), core.ErrBadContent},
		{"string", jsonRequest(`"search"`), core.ErrBadContent},
		{"number", jsonRequest(`42`), core.ErrBadContent},
		{"invalid UTF-8", jsonRequest("{\"action\": \"search\", \"value\": \"a\xffb\"}"), core.ErrBadContent},
		{"null", jsonRequest(`null`), core.ErrBadContent},
		{"empty content", jsonRequest(``), core.ErrBadContent},
		{"spaces only", jsonRequest("  \n"), core.ErrBadContent},
		{"truncated", jsonRequest(`{"action": "search", "value": "ri`), core.ErrBadContent},
		{"trailing garbage", jsonRequest(`{"action": "search"} x`), core.ErrBadContent},
		{"two objects", jsonRequest(`{} {}`), core.ErrBadContent},
		{"NaN", jsonRequest(`{"action": "search", "value": NaN}`), core.ErrBadContent},
		{"single quotes", jsonRequest(`{'action': 'search'}`), core.ErrBadContent},
		{"not JSON", jsonRequest(`action=search&value=ring`), core.ErrBadContent},
		{"latin-1", &core.Message{ContentType: "text/json", ContentEncoding: "latin-1", Content: []byte(`{"action": "search", "value": "ring"}`)}, core.ErrBadContent},
		{"utf-16", &core.Message{ContentType: "text/json", ContentEncoding: "utf-16", Content: []byte(`{"action": "search", "value": "ring"}`)}, core.ErrBadContent},
		{"binary content-type", core.NewBinary("binary/custom-client-binary-type", []byte("searchring")), core.ErrNotJSON},
	}
	h := search.Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans, err := h.Handle(context.Background(), tt.req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Handle = %v, %v; want error %v", ans, err, tt.wantErr)
			}
			if ans != nil {
				t.Errorf("answer %v alongside error", ans)
			}
		})
	}
}

func TestContentEncodingNames(t *testing.T) {
	h := search.Default()
	for _, enc := range []string{"utf-8", "UTF-8", "utf8", "UTF8", "utf_8", "U8", "ascii", "US-ASCII", ""} {
		req := jsonRequest(`{"action": "search", "value": "ring"}`)
		req.ContentEncoding = enc
		ans, err := h.Handle(context.Background(), req)
		if err != nil {
			t.Errorf("content-encoding %q: %v", enc, err)
			continue
		}
		checkAnswer(t, ans, `{"result": "In the caves beneath the Misty Mountains. 💍"}`)
	}
}

func TestOtherJSONContentTypes(t *testing.T) {
	h := search.Default()
	for _, ct := range []string{"application/json", "application/vnd.x+json"} {
		req := jsonRequest(`{"action": "search", "value": "ring"}`)
		req.ContentType = ct
		ans, err := h.Handle(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", ct, err)
		}
		checkAnswer(t, ans, `{"result": "In the caves beneath the Misty Mountains. 💍"}`)
	}
}

func TestNewTable(t *testing.T) {
	table := map[string]string{
		"neo":   "The One \"chosen\"\n",
		"blank": "",
	}
	h := search.New(table)
	table["neo"] = "changed after New"
	table["late"] = "added after New"

	for _, tt := range []struct{ value, want string }{
		{"neo", `{"result": "The One \"chosen\"\n"}`},
		{"late", `{"result": "No match for 'late'."}`},
		// An empty result is falsy in Python: `get(query) or ...` misses.
		{"blank", `{"result": "No match for 'blank'."}`},
		{"morpheus", `{"result": "No match for 'morpheus'."}`},
	} {
		ans, err := h.Handle(context.Background(), jsonRequest(`{"action": "search", "value": "`+tt.value+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		checkAnswer(t, ans, tt.want)
	}
}

func TestNilAndZeroTable(t *testing.T) {
	for name, h := range map[string]*search.Handler{"New(nil)": search.New(nil), "zero": new(search.Handler)} {
		ans, err := h.Handle(context.Background(), jsonRequest(`{"action": "search", "value": "ring"}`))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkAnswer(t, ans, `{"result": "No match for 'ring'."}`)
	}
}

func TestDefaultTableIsACopy(t *testing.T) {
	want := map[string]string{
		"morpheus":   "Follow the white rabbit. \U0001f430",
		"ring":       "In the caves beneath the Misty Mountains. \U0001f48d",
		"\U0001f436": "\U0001f43e Playing ball! \U0001f3d0",
	}
	a := search.DefaultTable()
	if fmt.Sprint(a) != fmt.Sprint(want) {
		t.Fatalf("DefaultTable() = %v, want %v", a, want)
	}
	a["morpheus"] = "changed"
	delete(a, "ring")
	if b := search.DefaultTable(); fmt.Sprint(b) != fmt.Sprint(want) {
		t.Fatalf("DefaultTable() after changing an earlier copy = %v", b)
	}
	ans, err := search.Default().Handle(context.Background(), jsonRequest(`{"action": "search", "value": "morpheus"}`))
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, ans, `{"result": "Follow the white rabbit. 🐰"}`)
}

// The answer must not alias the request: the server may reuse the
// request's buffer once the answer is written, and a cached answer must
// stay intact.
func TestAnswerDoesNotAliasRequest(t *testing.T) {
	req := jsonRequest(`{"action": "search", "value": "neo"}`)
	ans, err := search.Default().Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for i := range req.Content {
		req.Content[i] = 'X'
	}
	checkAnswer(t, ans, `{"result": "No match for 'neo'."}`)
}

// Run with -race: one Handler, many goroutines, each with its own request.
func TestConcurrent(t *testing.T) {
	h := search.Default()
	values := []struct{ value, want string }{
		{`"morpheus"`, `{"result": "Follow the white rabbit. 🐰"}`},
		{`"ring"`, `{"result": "In the caves beneath the Misty Mountains. 💍"}`},
		{`"\ud83d\udc36"`, `{"result": "🐾 Playing ball! 🏐"}`},
		{`"neo"`, `{"result": "No match for 'neo'."}`},
		{`1.5`, `{"result": "No match for '1.5'."}`},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				v := values[(g+i)%len(values)]
				ans, err := h.Handle(context.Background(), jsonRequest(`{"action": "search", "value": `+v.value+`}`))
				if err != nil {
					errs <- err
					return
				}
				if string(ans.Content) != v.want {
					errs <- fmt.Errorf("value %s: got %s, want %s", v.value, ans.Content, v.want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A hit and a plain miss allocate only the answer: its Message and its
// content. The request has been scanned already, as the Mux leaves it.
func TestAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	h := search.Default()
	for _, content := range []string{
		`{"action": "search", "value": "morpheus"}`,
		`{"action": "search", "value": "neo"}`,
		`{"action": "search", "value": true}`,
		`{"action": "find"}`,
	} {
		req := jsonRequest(content)
		if _, err := req.Action(); err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(100, func() {
			if _, err := h.Handle(context.Background(), req); err != nil {
				t.Fatal(err)
			}
		})
		if n > 2 {
			t.Errorf("%s: %v allocations per Handle, want <= 2", content, n)
		}
	}
}

func BenchmarkHandleHit(b *testing.B) {
	h := search.Default()
	req := jsonRequest(`{"action": "search", "value": "morpheus"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Handle(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHandleMiss(b *testing.B) {
	h := search.Default()
	req := jsonRequest(`{"action": "search", "value": "neo"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Handle(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// The content of a hit is shared between answers: a caller that appends
// to one answer's content leaves the next answer as it was.
func TestHitContentShared(t *testing.T) {
	h := search.Default()
	req, err := core.NewJSON(core.Object{{Key: "action", Value: "search"}, {Key: "value", Value: "ring"}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := h.Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := string(first.Content)
	_ = append(first.Content, "tampered"...)
	first.ContentType = "x/changed"
	second, err := h.Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if string(second.Content) != want || second.ContentType != core.ContentTypeJSON {
		t.Errorf("second answer %s %q, want text/json %q", second.ContentType, second.Content, want)
	}
}

// Answers are lent: one released is cleared and answers a later request,
// with the content of that request's own answer; a hit then allocates
// nothing. (Under the race detector, the pool drops a quarter of what it
// is given, hence the bound below one.)
func TestAnswersLent(t *testing.T) {
	h := search.Default()
	ring := jsonRequest(`{"action": "search", "value": "ring"}`)
	neo := jsonRequest(`{"action": "search", "value": "neo"}`)
	first, err := h.Handle(context.Background(), ring)
	if err != nil {
		t.Fatal(err)
	}
	hit := string(first.Content)
	first.Release()
	if first.Content != nil || first.ContentType != "" {
		t.Errorf("a released answer keeps %s %q", first.ContentType, first.Content)
	}
	second, err := h.Handle(context.Background(), neo)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, second, `{"result": "No match for 'neo'."}`)
	second.Release()
	third, err := h.Handle(context.Background(), ring)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, third, hit)
	third.Release()

	n := testing.AllocsPerRun(200, func() {
		ans, err := h.Handle(context.Background(), ring)
		if err != nil {
			t.Fatal(err)
		}
		ans.Release()
	})
	if n >= 0.5 {
		t.Errorf("%v allocations per released hit, want 0", n)
	}
}
