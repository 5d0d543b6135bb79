package binary_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins/binary"
)

func TestHandle(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		content     string
		want        string // after Prefix
	}{
		{"empty", "binary/custom-client-binary-type", "", ""},
		{"one byte", "binary/custom-client-binary-type", "x", "x"},
		{"nine bytes", "binary/custom-client-binary-type", "123456789", "123456789"},
		{"ten bytes", "binary/custom-client-binary-type", "0123456789", "0123456789"},
		{"eleven bytes", "binary/custom-client-binary-type", "0123456789A", "0123456789"},
		{"long", "binary/custom-client-binary-type", "binaryhello world", "binaryhell"},
		{"tutorial example", "binary/custom-client-binary-type", "binary😃", "binary😃"},
		{"cut inside UTF-8", "binary/custom-client-binary-type", "binaryab😃", "binaryab\xf0\x9f"},
		{"not UTF-8", "binary/custom-client-binary-type", "\x00\xff\xfe\x01\x80", "\x00\xff\xfe\x01\x80"},
		{"any content-type", "image/png", "\x89PNG\r\n\x1a\n\x00\x00\x00\x0d", "\x89PNG\r\n\x1a\n\x00\x00"},
		{"JSON request", "text/json", `{"action": "search"}`, `{"action":`},
		{"no content-type", "", "abc", "abc"},
	}
	h := binary.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &core.Message{ByteOrder: "big", ContentType: tt.contentType, ContentEncoding: "binary", Content: []byte(tt.content)}
			ans, err := h.Handle(context.Background(), req)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if ans.ContentType != binary.ContentType || ans.ContentEncoding != "binary" || ans.ByteOrder != "" || ans.Headers != nil {
				t.Errorf("answer header = %q %q %q %v", ans.ByteOrder, ans.ContentType, ans.ContentEncoding, ans.Headers)
			}
			if got, want := string(ans.Content), binary.Prefix+tt.want; got != want {
				t.Errorf("content = %q, want %q", got, want)
			}
		})
	}
}

func TestConstants(t *testing.T) {
	if binary.ContentType != "binary/custom-server-binary-type" {
		t.Errorf("ContentType = %q", binary.ContentType)
	}
	if binary.Prefix != "First 10 bytes of request: " {
		t.Errorf("Prefix = %q", binary.Prefix)
	}
}

func TestNilContent(t *testing.T) {
	var h binary.Handler // the zero Handler works
	ans, err := h.Handle(context.Background(), &core.Message{})
	if err != nil {
		t.Fatal(err)
	}
	if string(ans.Content) != binary.Prefix {
		t.Errorf("content = %q", ans.Content)
	}
}

// The answer is a copy: the server may reuse the request's buffer, and
// appending to the answer must not write into anything else.
func TestAnswerIsIndependent(t *testing.T) {
	req := core.NewBinary("binary/custom-client-binary-type", []byte("0123456789abc"))
	ans, err := binary.New().Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for i := range req.Content {
		req.Content[i] = 'X'
	}
	if want := binary.Prefix + "0123456789"; string(ans.Content) != want {
		t.Fatalf("content after overwriting the request = %q, want %q", ans.Content, want)
	}
	short, err := binary.New().Handle(context.Background(), core.NewBinary("x", []byte("ab")))
	if err != nil {
		t.Fatal(err)
	}
	if cap(short.Content) != len(short.Content) {
		t.Errorf("content has spare capacity %d: an append would write into the answer's storage", cap(short.Content)-len(short.Content))
	}
}

// Run with -race.
func TestConcurrent(t *testing.T) {
	h := binary.New()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 500 {
				content := strings.Repeat(string(rune('a'+g)), i%15)
				ans, err := h.Handle(context.Background(), core.NewBinary("binary/x", []byte(content)))
				if err != nil {
					errs <- err
					return
				}
				want := binary.Prefix + content[:min(len(content), 10)]
				if string(ans.Content) != want {
					errs <- fmt.Errorf("got %q, want %q", ans.Content, want)
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

// The message and its content share one allocation.
func TestAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	h := binary.New()
	req := core.NewBinary("binary/custom-client-binary-type", []byte("binaryhello world"))
	n := testing.AllocsPerRun(100, func() {
		if _, err := h.Handle(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	})
	if n > 1 {
		t.Errorf("%v allocations per Handle, want 1", n)
	}
}

func BenchmarkHandle(b *testing.B) {
	h := binary.New()
	req := core.NewBinary("binary/custom-client-binary-type", []byte("binaryhello world"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Handle(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
