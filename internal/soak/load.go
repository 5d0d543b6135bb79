package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/loadgen"
)

// requestFrames returns the load generator's requests, one per kind, as
// `router bench --mix` sends them.
func requestFrames() (map[string][]byte, error) {
	search, err := core.NewJSON(core.Object{{Key: "action", Value: "search"}, {Key: "value", Value: "morpheus"}})
	if err != nil {
		return nil, err
	}
	echo, err := core.NewJSON(core.Object{{Key: "action", Value: "echo"}, {Key: "value", Value: "hello"}})
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for name, m := range map[string]*core.Message{
		"search": search, "echo": echo,
		"binary": core.NewBinary("binary/custom-client-binary-type", []byte("binaryhello")),
	} {
		if out[name], err = core.Marshal(m); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// load runs the load generator with frame, the request of kind name, for
// o.Duration, and counts its requests into t.
func load(ctx context.Context, o Options, name string, frame []byte, t *tally) {
	res, _ := loadgen.Run(ctx, loadgen.Options{
		Addr: o.Addr, Request: frame, Conns: o.Conns, Depth: o.Depth, Duration: o.Duration,
	})
	// The run sends one frame over and over: what it wrote says how many
	// requests it sent, whether or not they were answered.
	sent := res.BytesSent / int64(len(frame))
	t.sent.Add(sent)
	t.answered.Add(res.Requests)
	t.errAnswers.Add(res.Errors[loadgen.KindAnswer])
	if lost := sent - res.Requests; lost > 0 {
		t.unanswered.Add(lost)
	} else if lost < 0 {
		t.duplicated.Add(-lost)
	}
	for k, n := range res.Errors {
		if k == loadgen.KindAnswer {
			// loadgen counts the error answers together, with the first
			// as sample; the checkers' are by kind.
			t.addError("answer: "+name+" load, every kind (the first: "+strings.TrimPrefix(ErrorKind(res.ErrorSamples[k]), "answer: ")+")", res.ErrorSamples[k], n)
			continue
		}
		t.addError("load "+name+": connection "+k, res.ErrorSamples[k], n)
	}
}

// echoRequest returns the encoded echo request that carries tag.
func echoRequest(tag string) []byte {
	m, err := core.NewJSON(core.Object{{Key: "action", Value: "echo"}, {Key: "value", Value: tag}})
	if err != nil {
		panic(err) // a string always encodes
	}
	b, err := core.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// check is one checking connection: it writes depth echo requests, each
// tagged with its own number, reads depth answers and checks that each is
// its request's (or an error answer), until stop; then it half-closes the
// connection and reads to the end, where no answer may be left.
func check(ctx context.Context, stop <-chan struct{}, network, address string, id, depth int, t *tally) {
	var d net.Dialer
	seq := 0
	for {
		select {
		case <-stop:
			return
		default:
		}
		nc, err := d.DialContext(ctx, network, address)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			t.addError("checker: connect", err.Error(), 1)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		// Abort the reads when the grace period is over.
		stopWatch := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
		broken := checkConn(nc, stop, id, &seq, depth, t)
		stopWatch()
		nc.Close()
		if !broken {
			return
		}
	}
}

// checkConn runs checks on one connection; it reports whether the
// connection broke (and another should be opened).
func checkConn(nc net.Conn, stop <-chan struct{}, id int, seq *int, depth int, t *tally) bool {
	var dec core.Decoder
	dec.MaxContentLength = -1
	buf := make([]byte, 64<<10)
	var pending [][]byte // the contents awaited, in order
	var batch []byte
	for {
		select {
		case <-stop:
			// Nothing in flight: half-close and read to the end.
			if cw, ok := nc.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			rest, err := io.ReadAll(nc)
			if len(rest) > 0 {
				n := countFrames(rest)
				t.duplicated.Add(int64(max(n, 1)))
				t.addError("checker: answer after the last request", fmt.Sprintf("%d bytes", len(rest)), 1)
			}
			if err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.addError("checker: end of stream", err.Error(), 1)
			}
			return false
		default:
		}
		batch = batch[:0]
		pending = pending[:0]
		for range depth {
			*seq++
			tag := "checker-" + strconv.Itoa(id) + "-" + strconv.Itoa(*seq)
			req := echoRequest(tag)
			batch = append(batch, req...)
			pending = append(pending, req)
		}
		if _, err := nc.Write(batch); err != nil {
			// What was written cannot be known: the whole batch is
			// counted as sent and unanswered.
			t.sent.Add(int64(depth))
			t.unanswered.Add(int64(depth))
			t.addError("checker: write", err.Error(), 1)
			return true
		}
		t.sent.Add(int64(depth))
		got := 0
		for got < depth {
			n, err := nc.Read(buf)
			for m, derr := range dec.Messages(buf[:n]) {
				if derr != nil {
					t.unanswered.Add(int64(depth - got))
					t.addError("checker: invalid answer", derr.Error(), 1)
					return true
				}
				if got == depth {
					t.duplicated.Add(1)
					continue
				}
				t.answered.Add(1)
				if aerr := core.AnswerError(m); aerr != nil {
					t.errorAnswer(aerr)
				} else if !bytes.Equal(m.Content, contentOf(pending[got])) {
					t.mismatched.Add(1)
					t.addError("checker: wrong answer", fmt.Sprintf("%.80q, want %.80q", m.Content, contentOf(pending[got])), 1)
				}
				got++
			}
			if err != nil && got < depth {
				t.unanswered.Add(int64(depth - got))
				t.addError("checker: connection lost", err.Error(), 1)
				return true
			}
		}
	}
}

// contentOf returns the content of an encoded frame.
func contentOf(frame []byte) []byte {
	m, err := core.Unmarshal(frame)
	if err != nil {
		return nil
	}
	return m.Content
}

// countFrames counts the whole frames in b.
func countFrames(b []byte) int {
	var dec core.Decoder
	dec.MaxContentLength = -1
	n := 0
	for _, err := range dec.Messages(b) {
		if err != nil {
			break
		}
		n++
	}
	return n
}
