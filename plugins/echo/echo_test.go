package echo_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins/echo"
)

func TestHandle(t *testing.T) {
	tests := []struct {
		name string
		req  *core.Message
	}{
		{"JSON", &core.Message{ByteOrder: "little", ContentType: "text/json", ContentEncoding: "utf-8",
			Content: []byte(`{"action": "echo", "value": "🐶"}`)}},
		{"invalid JSON", &core.Message{ByteOrder: "little", ContentType: "text/json", ContentEncoding: "utf-8",
			Content: []byte(`{not json`)}},
		{"reference binary", core.NewBinary("binary/custom-client-binary-type", []byte("binary😃"))},
		{"big-endian numbers", &core.Message{ByteOrder: "big", ContentType: "application/x-int32", ContentEncoding: "binary",
			Content: []byte{0, 0, 1, 0, 0xff, 0xff, 0xff, 0xfe}}},
		{"not UTF-8", &core.Message{ByteOrder: "little", ContentType: "text/plain", ContentEncoding: "latin-1",
			Content: []byte("caf\xe9")}},
		{"odd content-type", &core.Message{ByteOrder: "little", ContentType: "x/\"quoted\"\u2028", ContentEncoding: "gzip",
			Content: []byte{0x1f, 0x8b, 0x08, 0x00}}},
		{"empty content", &core.Message{ByteOrder: "little", ContentType: "text/plain", ContentEncoding: "utf-8", Content: []byte{}}},
		{"nil content", &core.Message{ByteOrder: "big", ContentType: "text/plain", ContentEncoding: "utf-8"}},
		{"empty fields", &core.Message{Content: []byte("x")}},
		{"large", core.NewBinary("application/octet-stream", bytes.Repeat([]byte{0, 1, 2, 0xff}, 1<<16))},
	}
	h := echo.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans, err := h.Handle(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if ans == tt.req {
				t.Fatal("answer is the request itself; want a new Message")
			}
			if ans.ByteOrder != tt.req.ByteOrder || ans.ContentType != tt.req.ContentType || ans.ContentEncoding != tt.req.ContentEncoding {
				t.Errorf("answer header = %q %q %q, want %q %q %q", ans.ByteOrder, ans.ContentType, ans.ContentEncoding,
					tt.req.ByteOrder, tt.req.ContentType, tt.req.ContentEncoding)
			}
			if !bytes.Equal(ans.Content, tt.req.Content) {
				t.Errorf("content = %q, want %q", ans.Content, tt.req.Content)
			}
			// On the wire the answer is the request's frame, byteorder
			// and all (the request's fields are all set explicitly here
			// or left for the same defaults).
			got, err := core.Marshal(ans)
			if err != nil {
				t.Fatal(err)
			}
			want, err := core.Marshal(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("answer frame %q, want the request frame %q", got, want)
			}
		})
	}
}

// The answer aliases the request's content instead of copying it.
func TestAliasesContent(t *testing.T) {
	req := core.NewBinary("binary/x", []byte("0123456789"))
	ans, err := echo.New().Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if &ans.Content[0] != &req.Content[0] {
		t.Error("answer content is a copy; want it to alias the request")
	}
}

// Extension headers describe the request and are not echoed.
func TestHeadersNotCopied(t *testing.T) {
	req := core.NewBinary("binary/x", []byte("abc"))
	req.SetHeader(core.HeaderConnection, core.ConnectionClose)
	req.SetHeader("x-trace", "42")
	ans, err := echo.New().Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(ans.Headers) != 0 || ans.WantsClose() {
		t.Errorf("answer headers = %v, want none", ans.Headers)
	}
}

func frame(header, content string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(header))), header+content...)
}

// A request decoded off the wire comes back byte for byte.
func TestWireRoundTrip(t *testing.T) {
	frames := [][]byte{
		[]byte("\x00g{\"byteorder\": \"little\", \"content-type\": \"text/json\", \"content-encoding\": \"utf-8\", \"content-length\": 41}{\"action\": \"search\", \"value\": \"morpheus\"}"),
		[]byte("\x00\x7f{\"byteorder\": \"little\", \"content-type\": \"binary/custom-client-binary-type\", \"content-encoding\": \"binary\", \"content-length\": 10}binary\xf0\x9f\x98\x83"),
		frame(`{"byteorder": "big", "content-type": "application/x", "content-encoding": "binary", "content-length": 0}`, ""),
		frame(`{"byteorder": "big", "content-type": "x/y", "content-encoding": "utf-16-be", "content-length": 4}`, "\x00a\x00b"),
	}
	h := echo.New()
	for _, frame := range frames {
		req, err := core.Unmarshal(frame)
		if err != nil {
			t.Fatalf("Unmarshal(%q): %v", frame, err)
		}
		ans, err := h.Handle(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := core.AppendFrame(nil, ans)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, frame) {
			t.Errorf("echo frame\n got %q\nwant %q", got, frame)
		}
	}
}

// Run with -race.
func TestConcurrent(t *testing.T) {
	var h echo.Handler // the zero Handler works
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 500 {
				content := fmt.Appendf(nil, "%d-%d", g, i)
				ans, err := h.Handle(context.Background(), core.NewBinary(fmt.Sprintf("t/%d", g), content))
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(ans.Content, content) || ans.ContentType != fmt.Sprintf("t/%d", g) {
					errs <- fmt.Errorf("got %s %q", ans.ContentType, ans.Content)
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

func TestAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	h := echo.New()
	req := core.NewBinary("binary/x", []byte("0123456789"))
	n := testing.AllocsPerRun(100, func() {
		if _, err := h.Handle(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	})
	if n > 1 {
		t.Errorf("%v allocations per Handle, want 1", n)
	}
}
