package core

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// frames returns the encoded frames of n echo requests.
func scanTestFrames(t *testing.T, n int) ([]byte, []string) {
	t.Helper()
	var b []byte
	var want []string
	for i := range n {
		m := NewBinary("text/plain", []byte(strings.Repeat("x", i*1000)+"!"))
		var err error
		if b, err = AppendFrame(b, m); err != nil {
			t.Fatal(err)
		}
		want = append(want, string(m.Content))
	}
	return b, want
}

// Messages yields every message of the bytes fed to it, whatever the
// split, and keeps a message cut between two calls.
func TestDecoderMessages(t *testing.T) {
	b, want := scanTestFrames(t, 20)
	for _, chunk := range []int{1, 7, 100, 4096, len(b)} {
		var d Decoder
		var got []string
		for p := b; len(p) > 0; {
			n := min(chunk, len(p))
			for m, err := range d.Messages(p[:n]) {
				if err != nil {
					t.Fatalf("chunk %d: %v", chunk, err)
				}
				got = append(got, string(m.Content))
			}
			p = p[n:]
		}
		if strings.Join(got, "|") != strings.Join(want, "|") || d.Partial() {
			t.Errorf("chunk %d: %d messages, want %d (partial %v)", chunk, len(got), len(want), d.Partial())
		}
	}
	// A frame error is yielded once, and ends the loop.
	var d Decoder
	n := 0
	for m, err := range d.Messages(append(b[:len(b):len(b)], 0, 0, 'x')) {
		if err != nil {
			if m != nil || !errors.Is(err, ErrHeaderLength) {
				t.Errorf("error %v with message %v", err, m)
			}
			n = -n
			continue
		}
		n++
	}
	if n != -20 {
		t.Errorf("%d messages before the error (negative once it came); want -20", n)
	}
}

// MessagesInto's messages stay valid after the loop, and breaking early
// stops the decoding there.
func TestDecoderMessagesInto(t *testing.T) {
	b, want := scanTestFrames(t, 5)
	var d Decoder
	var batch []*Message
	for m, err := range d.MessagesInto(b, func() *Message { return new(Message) }) {
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, m)
		if len(batch) == 3 {
			break
		}
	}
	for i, m := range batch {
		if string(m.Content) != want[i] {
			t.Errorf("message %d: %q, want %q", i, m.Content, want[i])
		}
	}
	if len(batch) != 3 {
		t.Errorf("%d messages; want the loop to stop at 3", len(batch))
	}
}

func TestScanner(t *testing.T) {
	b, want := scanTestFrames(t, 20)
	for name, r := range map[string]io.Reader{
		"whole":    bytes.NewReader(b),
		"one byte": iotest.OneByteReader(bytes.NewReader(b)),
		"half":     iotest.HalfReader(bytes.NewReader(b)),
		"data+EOF": iotest.DataErrReader(bytes.NewReader(b)),
	} {
		sc := NewScanner(r)
		var got []string
		for sc.Scan() {
			got = append(got, string(sc.Message().Content))
		}
		if sc.Err() != nil || strings.Join(got, "|") != strings.Join(want, "|") || sc.Consumed() != int64(len(b)) {
			t.Errorf("%s: %d messages, %v, %d bytes consumed; want %d, nil, %d", name, len(got), sc.Err(), sc.Consumed(), len(want), len(b))
		}
	}
	// Cut inside a message: ErrTruncated, after the whole ones.
	sc := NewScanner(bytes.NewReader(b[:len(b)-1]))
	n := 0
	for sc.Scan() {
		n++
	}
	if n != 19 || !errors.Is(sc.Err(), ErrTruncated) {
		t.Errorf("cut stream: %d messages, %v; want 19, ErrTruncated", n, sc.Err())
	}
	// A frame error, with the Decoder's limit.
	sc = NewScanner(bytes.NewReader(b))
	sc.Decoder.MaxContentLength = 10
	for sc.Scan() {
	}
	if !errors.Is(sc.Err(), ErrContentTooLarge) {
		t.Errorf("over the limit: %v; want ErrContentTooLarge", sc.Err())
	}
	// A read error.
	sc = NewScanner(iotest.ErrReader(io.ErrUnexpectedEOF))
	if sc.Scan() || sc.Err() != io.ErrUnexpectedEOF {
		t.Errorf("read error: %v", sc.Err())
	}
}

func TestScanFrames(t *testing.T) {
	b, want := scanTestFrames(t, 20)
	sc := bufio.NewScanner(iotest.HalfReader(bytes.NewReader(b)))
	sc.Buffer(make([]byte, 64), 1<<20)
	sc.Split(ScanFrames)
	var got []string
	for sc.Scan() {
		m, err := Unmarshal(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(m.Content))
	}
	if sc.Err() != nil || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%d frames, %v; want %d", len(got), sc.Err(), len(want))
	}
	sc = bufio.NewScanner(bytes.NewReader(b[:len(b)-1]))
	sc.Split(ScanFrames)
	for sc.Scan() {
	}
	if !errors.Is(sc.Err(), ErrTruncated) {
		t.Errorf("cut stream: %v; want ErrTruncated", sc.Err())
	}
}
