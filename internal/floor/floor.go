package main

import (
	"bytes"
	"errors"
	"net"
)

// maxContentLength is the largest content-length the floor accepts, the
// router's default limit.
const maxContentLength = 16 << 20

// bufSize is a connection's first buffer size; a frame larger than it
// grows the buffer, which stays grown.
const bufSize = 64 << 10

// errFrame: a frame whose size cannot be found.
var errFrame = errors.New("floor: cannot size the frame")

// contentLengthKey is the header key that sizes a frame's content.
var contentLengthKey = []byte(`"content-length"`)

// serve accepts connections on l and echoes each in its own goroutine,
// until l is closed; it returns the error that ended the accept loop.
func serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		go echo(c)
	}
}

// echo answers every whole frame that c sends with the same bytes, the
// whole frames of one read in one write, until c fails or sends a frame
// that cannot be sized; then it closes c.
func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, bufSize)
	n := 0 // bytes buffered
	for {
		r, rerr := c.Read(buf[n:])
		n += r
		whole, need, err := wholeFrames(buf[:n])
		if err != nil {
			return
		}
		if whole > 0 {
			if _, err := c.Write(buf[:whole]); err != nil {
				return
			}
			n = copy(buf, buf[whole:n])
		}
		if need > len(buf) {
			grown := make([]byte, need)
			copy(grown, buf[:n])
			buf = grown
		}
		if rerr != nil {
			return
		}
	}
}

// wholeFrames returns the length of the longest prefix of p made of
// whole frames, and the size that the frame after it needs to be read in
// full (or at least to be sized, when its header is not all in p).
func wholeFrames(p []byte) (whole, need int, err error) {
	for {
		size, err := frameSize(p[whole:])
		if err != nil {
			return whole, 0, err
		}
		if whole+size > len(p) || size == 0 {
			return whole, size, nil
		}
		whole += size
	}
}

// frameSize returns the size of the frame at the start of p: 2 bytes,
// the header and the content. When p holds less than the header, it
// returns the size to read before the frame can be sized: 2 without the
// length, 2 plus the header length without the whole header; and 0 for
// an empty p.
func frameSize(p []byte) (int, error) {
	if len(p) < 2 {
		if len(p) == 0 {
			return 0, nil
		}
		return 2, nil
	}
	hlen := int(p[0])<<8 | int(p[1])
	if hlen == 0 {
		return 0, errFrame
	}
	if len(p) < 2+hlen {
		return 2 + hlen, nil
	}
	cl, err := contentLength(p[2 : 2+hlen])
	if err != nil {
		return 0, err
	}
	return 2 + hlen + cl, nil
}

// contentLength finds the value of the "content-length" key in a JSON
// header without parsing the JSON: the first occurrence of the key, then
// optional white space, a colon, optional white space and the digits.
func contentLength(h []byte) (int, error) {
	i := bytes.Index(h, contentLengthKey)
	if i < 0 {
		return 0, errFrame
	}
	h = skipSpace(h[i+len(contentLengthKey):])
	if len(h) == 0 || h[0] != ':' {
		return 0, errFrame
	}
	h = skipSpace(h[1:])
	n, digits := 0, 0
	for ; digits < len(h) && h[digits] >= '0' && h[digits] <= '9'; digits++ {
		n = n*10 + int(h[digits]-'0')
		if n > maxContentLength {
			return 0, errFrame
		}
	}
	if digits == 0 {
		return 0, errFrame
	}
	return n, nil
}

// skipSpace returns p without its leading JSON white space.
func skipSpace(p []byte) []byte {
	for len(p) > 0 && (p[0] == ' ' || p[0] == '\t' || p[0] == '\n' || p[0] == '\r') {
		p = p[1:]
	}
	return p
}
