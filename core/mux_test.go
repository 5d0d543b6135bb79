package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// named returns a handler that answers with its name as binary content.
func named(name string) Handler {
	return HandlerFunc(func(ctx context.Context, req *Message) (*Message, error) {
		return NewBinary("text/plain", []byte(name)), nil
	})
}

func jsonReq(content string) *Message {
	return &Message{ContentType: ContentTypeJSON, ContentEncoding: EncodingUTF8, Content: []byte(content)}
}

func reqWith(ct, content string) *Message {
	return &Message{ContentType: ct, ContentEncoding: EncodingBinary, Content: []byte(content)}
}

// routeName finds which handler of routes r is, by calling it.
func routeName(t *testing.T, r Route) string {
	t.Helper()
	ans, err := r.Handler.Handle(context.Background(), &Message{})
	if err != nil {
		t.Fatal(err)
	}
	return string(ans.Content)
}

func TestMuxMatch(t *testing.T) {
	mux, err := NewMux(
		Route{Action: "search", Handler: named("search")},
		Route{Action: "echo", ContentType: "application/json", Handler: named("echo-app-json")},
		Route{Action: "echo", Handler: named("echo")},
		Route{ContentType: "binary/custom-client-binary-type", Handler: named("client-binary")},
		Route{ContentType: "binary/*", Handler: named("binary-glob")},
		Route{ContentType: "text/?lain", Handler: named("text-glob")},
		Route{ContentType: "image/*png", Handler: named("image-png")},
		Route{ContentType: "*+xml", Handler: named("any-xml")},
		Route{ContentType: "text/json", Handler: named("other-json")},
		Route{Handler: named("default")},
	)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  *Message
		want string
	}{
		{"action search", jsonReq(`{"action": "search", "value": "morpheus"}`), "search"},
		{"action search, escaped", jsonReq(`{"act\u0069on": "se\u0061rch"}`), "search"},
		{"action search, application/json", &Message{ContentType: "application/json", Content: []byte(`{"action": "search"}`)}, "search"},
		{"action search, +json", &Message{ContentType: "application/x+json", Content: []byte(`{"action": "search"}`)}, "search"},
		{"action echo, application/json", &Message{ContentType: "application/json", Content: []byte(`{"action": "echo"}`)}, "echo-app-json"},
		{"action echo, text/json", jsonReq(`{"action": "echo"}`), "echo"},
		{"unknown action", jsonReq(`{"action": "double"}`), "other-json"},
		{"no action", jsonReq(`{"value": 1}`), "other-json"},
		{"bad JSON content falls to content-type routes", jsonReq(`{"action": "search"`), "other-json"},
		{"JSON-looking binary never matches an action", reqWith("binary/custom-client-binary-type", `{"action": "search"}`), "client-binary"},
		{"binary glob", reqWith("binary/other", "x"), "binary-glob"},
		{"glob crosses /", reqWith("binary/a/b", "x"), "binary-glob"},
		{"glob needs the prefix", reqWith("notbinary/x", "x"), "default"},
		{"? glob", reqWith("text/plain", "x"), "text-glob"},
		{"? glob matches one char", reqWith("text/pplain", "x"), "default"},
		{"star matches nothing", reqWith("image/png", "x"), "image-png"},
		{"star matches a run", reqWith("image/x-apng", "x"), "image-png"},
		{"star glob no match", reqWith("image/gif", "x"), "default"},
		{"leading star", reqWith("application/atom+xml", "x"), "any-xml"},
		{"leading star needs the suffix", reqWith("application/atom+xmlx", "x"), "default"},
		{"exact content-type is case-sensitive", reqWith("Binary/custom-client-binary-type", "x"), "default"},
		{"empty content-type", reqWith("", ""), "default"},
		{"application/json without action", &Message{ContentType: "application/json", Content: []byte(`{}`)}, "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok, err := mux.Match(tt.req)
			if !ok || err != nil {
				t.Fatalf("Match = %v, %v, %v", r, ok, err)
			}
			if got := routeName(t, r); got != tt.want {
				t.Fatalf("matched %s (%s); want %s", got, r, tt.want)
			}
			ans, err := mux.Handle(context.Background(), tt.req)
			if err != nil || string(ans.Content) != tt.want {
				t.Fatalf("Handle = %v, %v; want %s", ans, err, tt.want)
			}
		})
	}
}

func TestMuxNoRoute(t *testing.T) {
	var zero Mux
	if r, ok, err := zero.Match(jsonReq(`{}`)); ok || err != nil || r.Handler != nil {
		t.Fatalf("zero Mux Match = %v, %v, %v", r, ok, err)
	}
	if routes := zero.Routes(); routes != nil {
		t.Fatalf("zero Mux Routes = %v", routes)
	}
	mux, err := NewMux(
		Route{Action: "search", Handler: named("search")},
		Route{ContentType: "binary/*", Handler: named("binary")},
	)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := NewMux()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mux  *Mux
		req  *Message
		want error
		text string
	}{
		{"zero mux", &zero, jsonReq(`{"action": "search"}`), ErrNoRoute, `core: no route for request: content-type "text/json", action "search"`},
		{"empty mux", empty, reqWith("binary/x", ""), ErrNoRoute, `core: no route for request: content-type "binary/x"`},
		{"unknown action", mux, jsonReq(`{"action": "nope"}`), ErrNoRoute, `core: no route for request: content-type "text/json", action "nope"`},
		{"no action", mux, jsonReq(`{"value": 1}`), ErrNoRoute, `core: no route for request: content-type "text/json"`},
		{"other content-type", mux, reqWith("text/plain", "x"), ErrNoRoute, `core: no route for request: content-type "text/plain"`},
		{"bad JSON content", mux, jsonReq(`[1]`), ErrBadContent, "core: invalid JSON content: JSON content is not an object"},
		{"JSON not valid", mux, jsonReq(`{`), ErrBadContent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans, err := tt.mux.Handle(context.Background(), tt.req)
			if ans != nil || !errors.Is(err, tt.want) {
				t.Fatalf("Handle = %v, %v; want %v", ans, err, tt.want)
			}
			if tt.text != "" && err.Error() != tt.text {
				t.Fatalf("error text\n got %s\nwant %s", err, tt.text)
			}
			if _, ok, _ := tt.mux.Match(tt.req); ok {
				t.Fatal("Match found a route")
			}
		})
	}
}

func TestMuxReplaceErrors(t *testing.T) {
	h := named("h")
	tests := []struct {
		name   string
		routes []Route
		text   string
	}{
		{"nil handler", []Route{{Action: "search"}},
			"core: route 0 (action=search content-type=*): no handler"},
		{"nil handler later", []Route{{Action: "a", Handler: h}, {ContentType: "binary/*"}},
			"core: route 1 (action=* content-type=binary/*): no handler"},
		{"route after a * catch-all", []Route{{ContentType: "*", Handler: h}, {Action: "x", Handler: h}},
			"core: route 1 (action=x content-type=*) can never match: it follows the catch-all route 0"},
		{"* duplicates no content-type", []Route{{Action: "x", Handler: h}, {Action: "x", ContentType: "**", Handler: h}},
			"core: route 1 (action=x content-type=**) can never match: it duplicates route 0"},
		{"route after catch-all", []Route{{Handler: h}, {Action: "x", Handler: h}},
			"core: route 1 (action=x content-type=*) can never match: it follows the catch-all route 0"},
		{"catch-all after catch-all", []Route{{Action: "a", Handler: h}, {Handler: h}, {Handler: h}},
			"core: route 2 (action=* content-type=*) can never match: it follows the catch-all route 1"},
		{"duplicate route", []Route{{Action: "search", ContentType: "text/json", Handler: h}, {Action: "echo", Handler: h}, {Action: "search", ContentType: "text/json", Handler: h}},
			"core: route 2 (action=search content-type=text/json) can never match: it duplicates route 0"},
		{"duplicate action", []Route{{Action: "a", Handler: h}, {Action: "a", Handler: h}},
			"core: route 1 (action=a content-type=*) can never match: it duplicates route 0"},
		{"duplicate glob", []Route{{ContentType: "binary/*", Handler: h}, {ContentType: "binary/*", Handler: h}},
			"core: route 1 (action=* content-type=binary/*) can never match: it duplicates route 0"},
		{"type covered by a glob", []Route{{ContentType: "binary/*", Handler: h}, {ContentType: "binary/x", Handler: h}},
			"core: route 1 (action=* content-type=binary/x) can never match: route 0 (action=* content-type=binary/*) matches every request it would"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := NewMux(tt.routes...); m != nil || err == nil || err.Error() != tt.text {
				t.Fatalf("NewMux = %v, %v\nwant error %s", m, err, tt.text)
			}
			// Replace keeps the old table on error.
			mux, err := NewMux(Route{Action: "old", Handler: named("old")}, Route{Handler: named("old-default")})
			if err != nil {
				t.Fatal(err)
			}
			if err := mux.Replace(tt.routes...); err == nil || err.Error() != tt.text {
				t.Fatalf("Replace = %v\nwant %s", err, tt.text)
			}
			routes := mux.Routes()
			if len(routes) != 2 || routes[0].Action != "old" || routes[1].Action != "" {
				t.Fatalf("table after failed Replace: %v", routes)
			}
			ans, err := mux.Handle(context.Background(), jsonReq(`{"action": "old"}`))
			if err != nil || string(ans.Content) != "old" {
				t.Fatalf("Handle after failed Replace: %v, %v", ans, err)
			}
		})
	}
}

func TestMuxReplaceAndRoutes(t *testing.T) {
	mux, err := NewMux(Route{Action: "a", Handler: named("a")})
	if err != nil {
		t.Fatal(err)
	}
	routes := []Route{
		{Action: "a", ContentType: "text/json", Handler: named("a2")},
		{Action: "a", Handler: named("a3")}, // differs from route 0 in content-type: allowed
		{ContentType: "binary/*", Handler: named("bin")},
		{Handler: named("default")},
	}
	if err := mux.Replace(routes...); err != nil {
		t.Fatal(err)
	}
	// The Mux keeps its own copy of the routes.
	routes[0].Action = "changed"
	got := mux.Routes()
	if len(got) != 4 || got[0].Action != "a" || got[0].ContentType != "text/json" || got[3].String() != "action=* content-type=*" {
		t.Fatalf("Routes() = %v", got)
	}
	got[1].Action = "changed too"
	if mux.Routes()[1].Action != "a" {
		t.Fatal("Routes() returned the table itself")
	}
	for content, want := range map[string]string{`{"action": "a"}`: "a2", `{"action": "b"}`: "default"} {
		if ans, err := mux.Handle(context.Background(), jsonReq(content)); err != nil || string(ans.Content) != want {
			t.Errorf("%s: %v, %v; want %s", content, ans, err, want)
		}
	}
	if err := mux.Replace(); err != nil {
		t.Fatal(err)
	}
	if _, err := mux.Handle(context.Background(), jsonReq(`{"action": "a"}`)); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("after Replace(): %v", err)
	}
}

// A handler's answer and error reach the caller unchanged, and a Mux can
// be a route of another Mux.
func TestMuxHandlerResults(t *testing.T) {
	boom := errors.New("boom")
	inner, err := NewMux(Route{Action: "fail", Handler: HandlerFunc(func(ctx context.Context, req *Message) (*Message, error) {
		return nil, boom
	})}, Route{Action: "echo", Handler: HandlerFunc(func(ctx context.Context, req *Message) (*Message, error) {
		if ctx.Value(ctxKey{}) != "v" {
			return nil, errors.New("context not passed")
		}
		return req, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	outer, err := NewMux(Route{ContentType: "text/json", Handler: inner}, Route{Handler: named("default")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), ctxKey{}, "v")
	if _, err := outer.Handle(ctx, jsonReq(`{"action": "fail"}`)); err != boom {
		t.Fatalf("error: %v", err)
	}
	req := jsonReq(`{"action": "echo"}`)
	if ans, err := outer.Handle(ctx, req); err != nil || ans != req {
		t.Fatalf("echo: %v, %v", ans, err)
	}
	if _, err := outer.Handle(ctx, jsonReq(`{"action": "other"}`)); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("inner no route: %v", err)
	}
}

type ctxKey struct{}

// Replace while requests are being handled: every request is answered by
// one whole table or the other. Run with -race.
func TestMuxConcurrentReplace(t *testing.T) {
	tableA := []Route{
		{Action: "search", Handler: named("A-search")},
		{ContentType: "binary/*", Handler: named("A-binary")},
	}
	tableB := []Route{
		{ContentType: "binary/*", Handler: named("B-binary")},
		{Action: "search", Handler: named("B-search")},
		{Handler: named("B-default")},
	}
	mux, err := NewMux(tableA...)
	if err != nil {
		t.Fatal(err)
	}
	const workers, iterations = 4, 2000
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			table := tableA
			if i%2 == 1 {
				table = tableB
			}
			if err := mux.Replace(table...); err != nil {
				errs <- err
				return
			}
			if err := mux.Replace(Route{Handler: nil}); err == nil { // rejected, table unchanged
				errs <- errors.New("Replace accepted a nil handler")
				return
			}
		}
	}()
	var hw sync.WaitGroup
	for w := range workers {
		hw.Add(1)
		go func() {
			defer hw.Done()
			for i := range iterations {
				var req *Message
				var ok map[string]bool
				switch (w + i) % 3 {
				case 0:
					req, ok = jsonReq(`{"action": "search"}`), map[string]bool{"A-search": true, "B-search": true}
				case 1:
					req, ok = reqWith("binary/x", "x"), map[string]bool{"A-binary": true, "B-binary": true}
				default:
					req, ok = jsonReq(`{"action": "other"}`), map[string]bool{"B-default": true, "": true}
				}
				ans, err := mux.Handle(context.Background(), req)
				got := ""
				if err == nil {
					got = string(ans.Content)
				} else if !errors.Is(err, ErrNoRoute) {
					errs <- err
					return
				}
				if !ok[got] {
					errs <- fmt.Errorf("request %d: answered by %q (err %v)", i, got, err)
					return
				}
				if len(mux.Routes()) == 1 {
					errs <- errors.New("a rejected table became visible")
					return
				}
			}
		}()
	}
	hw.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestMuxMatchAllocs(t *testing.T) {
	mux, err := NewMux(
		Route{ContentType: "binary/*", Handler: named("bin")},
		Route{Action: "search", Handler: named("search")},
	)
	if err != nil {
		t.Fatal(err)
	}
	req := golden(t, "search_request.bin")
	var d Decoder
	allocs := testing.AllocsPerRun(1000, func() {
		_, m, err := d.Decode(req)
		if err != nil {
			panic(err)
		}
		if r, ok, err := mux.Match(m); !ok || err != nil || r.Action != "search" {
			panic(fmt.Sprint(r, ok, err))
		}
	})
	if allocs != 0 {
		t.Errorf("decoding and routing the search request: %v allocations; want 0", allocs)
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "text/json", true},
		{"*/*", "text/json", true},
		{"*/*", "textjson", false},
		{"text/*", "text/", true},
		{"text/*", "text", false},
		{"*json", "text/json", true},
		{"*json*", "application/json-seq", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a*b", "abab", true},
		{"?", "", false},
		{"??", "ab", true},
		{"a?c", "abc", true},
		{"", "", true},
		{"", "x", false},
		{"**", "anything", true},
	}
	for _, tc := range tests {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// batcher is a BatchHandler that records the batches it is given.
type batcher struct {
	name    string
	batches [][]string
	panics  bool
}

func (b *batcher) Handle(ctx context.Context, req *Message) (*Message, error) {
	ans := make([]*Message, 1)
	errs := make([]error, 1)
	b.HandleBatch(ctx, []*Message{req}, ans, errs)
	return ans[0], errs[0]
}

func (b *batcher) HandleBatch(_ context.Context, reqs, answers []*Message, errs []error) {
	var got []string
	for i, r := range reqs {
		got = append(got, string(r.Content))
		if i == 1 && b.panics {
			panic("batch panic")
		}
		answers[i] = NewBinary("x/"+b.name, r.Content)
	}
	b.batches = append(b.batches, got)
}

func TestMuxHandleBatch(t *testing.T) {
	a, b := &batcher{name: "a"}, &batcher{name: "b"}
	mux, err := NewMux(
		Route{ContentType: "x/a", Handler: a},
		Route{ContentType: "x/b", Handler: b},
		Route{ContentType: "x/plain", Handler: named("plain")},
	)
	if err != nil {
		t.Fatal(err)
	}
	var reqs []*Message
	for i, ct := range []string{"x/a", "x/plain", "x/b", "x/a", "x/none", "x/b", "x/a"} {
		reqs = append(reqs, &Message{ContentType: ct, Content: []byte(fmt.Sprint(i))})
	}
	answers := make([]*Message, len(reqs))
	errs := make([]error, len(reqs))
	mux.HandleBatch(context.Background(), reqs, answers, errs)
	want := []string{"x/a 0", "plain", "x/b 2", "x/a 3", "error", "x/b 5", "x/a 6"}
	for i := range reqs {
		var got string
		switch {
		case errs[i] != nil:
			got = "error"
			if !errors.Is(errs[i], ErrNoRoute) {
				t.Errorf("request %d: %v, want ErrNoRoute", i, errs[i])
			}
		case answers[i].ContentType == "x/a" || answers[i].ContentType == "x/b":
			got = answers[i].ContentType + " " + string(answers[i].Content)
		default:
			got = string(answers[i].Content)
		}
		if got != want[i] {
			t.Errorf("answer %d = %q, want %q", i, got, want[i])
		}
	}
	if got := fmt.Sprint(a.batches, b.batches); got != "[[0 3 6]] [[2 5]]" {
		t.Errorf("batches = %s, want each route's requests in one batch", got)
	}

	// A panic in a batch fails only the requests left unanswered.
	p := &batcher{name: "p", panics: true}
	mux, _ = NewMux(Route{Handler: p})
	reqs = reqs[:3]
	answers, errs = make([]*Message, 3), make([]error, 3)
	mux.HandleBatch(context.Background(), reqs, answers, errs)
	if answers[0] == nil || errs[0] != nil {
		t.Errorf("request 0: %v, %v; want its answer", answers[0], errs[0])
	}
	for i := 1; i < 3; i++ {
		if !errors.Is(errs[i], ErrHandlerPanic) || !strings.Contains(errs[i].Error(), "batch panic") {
			t.Errorf("request %d: %v, want ErrHandlerPanic", i, errs[i])
		}
	}
}

func TestMatchContentType(t *testing.T) {
	for _, tc := range []struct {
		pattern, ct string
		want        bool
	}{
		{"", "anything", true},
		{"text/json", "text/json", true},
		{"text/json", "text/jsonx", false},
		{"text/*", "text/json", true},
		{"*", "a/b", true},
		{"te?t/json", "text/json", true},
	} {
		if got := MatchContentType(tc.pattern, tc.ct); got != tc.want {
			t.Errorf("MatchContentType(%q, %q) = %v, want %v", tc.pattern, tc.ct, got, tc.want)
		}
	}
}
