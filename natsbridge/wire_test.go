package natsbridge

import (
	"bytes"
	"errors"
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/nats-io/nats.go"
)

func TestWireHeaderEncoding(t *testing.T) {
	ascii := core.NewBinary("binary/x", []byte("\x00content\xff"))
	ascii.SetHeader("x-id", "7")
	other := core.NewBinary("binary/x", []byte("c"))
	other.SetHeader("x-note", "\U0001f430")
	other.Headers = append(other.Headers, core.Header{Key: "x-raw", Value: []byte("[1,\r\n2]")})
	for _, tc := range []struct {
		m    *core.Message
		want string
	}{{ascii, HeaderFrame}, {other, HeaderFrameB64}} {
		h, data, err := encode(tc.m, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 || h.Get(tc.want) == "" {
			t.Errorf("headers %v, want only %s", h, tc.want)
		}
		got, err := decode(h, data)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := core.Marshal(tc.m)
		g, _ := core.Marshal(got)
		if !bytes.Equal(w, g) {
			t.Errorf("round trip %q, want %q", g, w)
		}
	}
}

func TestWireDecodeErrors(t *testing.T) {
	for _, h := range []nats.Header{
		{},
		{HeaderFrameB64: {"!!!"}},
		{HeaderFrame: {`{"byteorder": "little"}`}},
		{HeaderFrame: {`{"byteorder": "little", "content-type": "a", "content-encoding": "b", "content-length": 5}`}},
	} {
		if _, err := decode(h, []byte("abc")); !errors.Is(err, ErrBadMessage) {
			t.Errorf("decode(%v) = %v, want ErrBadMessage", h, err)
		}
	}
}
