package plugins

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"time"
)

// dataWriteTimeout bounds one write on the data path: a peer that is
// frozen or stops reading fails the connection (and, seen from the router,
// the plugin is restarted) instead of blocking writers and growing the
// buffer without end.
const dataWriteTimeout = 5 * time.Second

// frameWriter lets many goroutines write frames to one connection. It
// combines writes instead of handing them to a writer goroutine: the
// first writer writes, and whatever others append meanwhile goes out in its
// next write. Under load that is one write for many frames; alone, a frame
// is written at once by its own goroutine.
//
// A writer whose context ends while the peer is not reading hands what is
// left to a goroutine of its own, which writes it within timeout, and
// returns: a caller is held past its deadline by a write at most
// timeout/5 (deadlines closer to the connection's are not worth setting
// one more write deadline for).
type frameWriter struct {
	nc      net.Conn
	timeout time.Duration // per write; a peer that stops reading fails the connection
	mu      sync.Mutex
	buf     []byte
	spare   []byte
	writing bool
	failed  bool
	err     error // why the connection failed, once failed

	deadline time.Time // of the connection's writes; set by the writer only
}

// add appends a frame with encode and writes it, unless another goroutine
// is writing and will take it along. yield says other goroutines are
// likely to add frames at the same time. It returns encode's error, the
// write's, or ctx's if ctx ended first (the frame then goes out later).
func (w *frameWriter) add(ctx context.Context, yield bool, encode func([]byte) ([]byte, error)) error {
	w.mu.Lock()
	if w.failed {
		w.mu.Unlock()
		return net.ErrClosed
	}
	var err error
	w.buf, err = encode(w.buf)
	if w.writing || len(w.buf) == 0 {
		w.mu.Unlock()
		return err
	}
	w.writing = true
	w.mu.Unlock()
	// Let the goroutines that are ready to run add their frames first:
	// under load this makes one write of many frames, and one read of
	// them on the other side, instead of one each (measured: see
	// BENCHMARKS.md, "Figures that were in code comments"). Only a
	// writer that expects company yields: Gosched wakes an idle thread
	// to look for work, a delay a lone request pays for nothing.
	if yield {
		runtime.Gosched()
	}
	if werr := w.write(ctx); werr != nil && err == nil {
		err = werr
	}
	return err
}

// addLater appends a frame with encode, to be written by the writer at
// work or by a goroutine started for it: it never waits.
func (w *frameWriter) addLater(encode func([]byte) ([]byte, error)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed {
		return
	}
	w.buf, _ = encode(w.buf)
	if !w.writing && len(w.buf) > 0 {
		w.writing = true
		go w.write(context.Background())
	}
}

// write writes the buffer until it is empty, as the writer (w.writing
// set by the caller). If ctx ends first, it leaves the rest to a new
// writer goroutine and returns ctx's error.
func (w *frameWriter) write(ctx context.Context) error {
	ctxDL, hasCtxDL := ctx.Deadline()
	var err error
	w.mu.Lock()
	for len(w.buf) > 0 && !w.failed {
		if ctx.Err() != nil {
			go w.write(context.Background())
			w.mu.Unlock()
			return ctx.Err()
		}
		out := w.buf
		w.buf, w.spare = w.spare[:0], nil
		w.mu.Unlock()
		now := time.Now()
		if w.timeout > 0 {
			// The deadline is moved on only once a fifth of it has
			// passed (a write gets 4/5 of timeout at least): setting it
			// costs more than a small write.
			if w.deadline.Sub(now) < w.timeout-w.timeout/5 {
				w.deadline = now.Add(w.timeout)
				w.nc.SetWriteDeadline(w.deadline)
			}
		}
		// A caller's deadline well before the connection's bounds this
		// write too; when it passes, the rest is another writer's. (One
		// about as far, as with the default timeouts, is left alone:
		// setting the deadline twice a write costs more than the write.)
		mine := hasCtxDL && ctxDL.Before(w.deadline.Add(-w.timeout/5))
		if mine {
			w.deadline = ctxDL
			w.nc.SetWriteDeadline(ctxDL)
		}
		n, werr := w.nc.Write(out)
		w.mu.Lock()
		if werr != nil && mine && errors.Is(werr, os.ErrDeadlineExceeded) && !time.Now().Before(ctxDL) {
			// Not the connection's fault: what is left goes before
			// whatever was added meanwhile, to the next writer.
			w.buf = append(out[n:len(out):len(out)], w.buf...)
			go w.write(context.Background())
			w.mu.Unlock()
			return context.DeadlineExceeded
		}
		w.spare = out[:0]
		if werr != nil {
			w.failed = true
			if !errors.Is(werr, net.ErrClosed) { // not closed by its owner
				w.err = werr
			}
			w.nc.Close()
			err = werr
		}
	}
	w.writing = false
	w.mu.Unlock()
	return err
}

// failure returns why the connection failed, or nil.
func (w *frameWriter) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
