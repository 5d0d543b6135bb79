package plugins

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/core"
)

// dataServer is the plugin side of the data socket: it decodes requests,
// runs each in its own goroutine, and writes answers as they complete,
// coalescing the writes.
type dataServer struct {
	handlers map[string]core.Handler
	log      hclog.Logger
}

// serve accepts the router's connection. After the first connection the
// socket is unlinked (cleanup), so no other process can connect.
func (s *dataServer) serve(l net.Listener, cleanup func()) {
	nc, err := l.Accept()
	l.Close()
	cleanup()
	if err != nil {
		s.log.Error("data socket accept failed", "error", err)
		return
	}
	s.serveConn(nc)
}

func (s *dataServer) serveConn(nc net.Conn) {
	defer nc.Close()
	w := newFrameWriter(nc)
	defer w.close()
	var mu sync.Mutex
	inflight := make(map[uint64]context.CancelFunc)
	base, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()

	var dec core.Decoder
	dec.MaxContentLength = -1 // the router has applied its limits
	buf := make([]byte, 64<<10)
	for {
		n, err := nc.Read(buf)
		p := buf[:n]
		for len(p) > 0 {
			var m core.Message
			k, ok, derr := dec.DecodeTo(&m, p)
			p = p[k:]
			if derr != nil {
				s.log.Error("bad frame from the router", "error", derr)
				return
			}
			if !ok {
				break
			}
			id, hasID := uintHeader(&m, hdrID)
			if cid, ok := uintHeader(&m, hdrCancel); ok {
				mu.Lock()
				if cancel := inflight[cid]; cancel != nil {
					cancel()
				}
				mu.Unlock()
				continue
			}
			if !hasID {
				s.log.Error("request without router-id from the router")
				return
			}
			req := m.Clone() // handled after buf is reused
			h, herr := s.handlerFor(&m)
			var ctx context.Context
			var cancel context.CancelFunc
			if dl, ok := uintHeader(&m, hdrDeadline); ok {
				ctx, cancel = context.WithDeadline(base, time.Unix(0, int64(dl)))
			} else {
				ctx, cancel = context.WithCancel(base)
			}
			mu.Lock()
			inflight[id] = cancel
			mu.Unlock()
			stripRouterHeaders(req)
			go func() {
				var ans *core.Message
				if herr == nil {
					ans, herr = handle(ctx, h, req, s.log)
				}
				mu.Lock()
				delete(inflight, id)
				mu.Unlock()
				cancel()
				w.answer(id, ans, herr, s.log)
			}()
		}
		if err != nil {
			return // the router closed the connection or died
		}
	}
}

func (s *dataServer) handlerFor(m *core.Message) (core.Handler, error) {
	name, ok := m.Header(hdrHandler)
	if !ok {
		return nil, errors.New("plugin: request names no handler")
	}
	h, ok := s.handlers[name]
	if !ok {
		return nil, fmt.Errorf("plugin: no handler %q", name)
	}
	return h, nil
}

// handle calls h, turning a panic into an error: one bad request must not
// take the whole plugin down.
func handle(ctx context.Context, h core.Handler, req *core.Message, log hclog.Logger) (ans *core.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			ans, err = nil, fmt.Errorf("%w: %v", core.ErrHandlerPanic, r)
			log.Error("handler panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	ans, err = h.Handle(ctx, req)
	if ans == nil && err == nil {
		err = core.ErrNoAnswer
	}
	return ans, err
}

// frameWriter coalesces frames written by many goroutines into as few
// writes as the connection can take: a writer goroutine writes whatever
// has accumulated since its last write.
type frameWriter struct {
	nc     net.Conn
	mu     sync.Mutex
	buf    []byte
	failed bool
	wake   chan struct{}
	done   chan struct{}
}

func newFrameWriter(nc net.Conn) *frameWriter {
	w := &frameWriter{nc: nc, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.loop(w.wake)
	return w
}

// add appends a frame with encode and wakes the writer.
func (w *frameWriter) add(encode func([]byte) ([]byte, error)) error {
	w.mu.Lock()
	if w.failed {
		w.mu.Unlock()
		return net.ErrClosed
	}
	defer w.mu.Unlock()
	var err error
	w.buf, err = encode(w.buf)
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return err
}

// answer writes a plugin answer, or the error that replaced it.
func (w *frameWriter) answer(id uint64, ans *core.Message, err error, log hclog.Logger) {
	var idBuf [20]byte
	idHdr := core.Header{Key: hdrID, Value: strconv.AppendUint(idBuf[:0], id, 10)}
	if err == nil {
		err = w.add(func(dst []byte) ([]byte, error) {
			return appendWithHeaders(dst, ans, idHdr)
		})
		if err == nil || errors.Is(err, net.ErrClosed) {
			return
		}
		log.Error("cannot encode answer", "error", err)
		err = fmt.Errorf("plugin: cannot encode answer: %w", err)
	}
	w.add(func(dst []byte) ([]byte, error) {
		e := &core.Message{ContentType: core.ContentTypeJSON, ContentEncoding: core.EncodingUTF8}
		return appendWithHeaders(dst, e, idHdr, core.Header{Key: hdrError, Value: core.AppendString(nil, err.Error())})
	})
}

func (w *frameWriter) loop(wake <-chan struct{}) {
	defer close(w.done)
	var spare []byte
	for range wake {
		w.mu.Lock()
		spare, w.buf = w.buf, spare[:0]
		w.mu.Unlock()
		if len(spare) == 0 {
			continue
		}
		if _, err := w.nc.Write(spare); err != nil {
			w.mu.Lock()
			w.failed = true
			w.mu.Unlock()
			w.nc.Close()
		}
	}
}

// close stops the writer once it has written what is queued; later adds
// fail.
func (w *frameWriter) close() {
	w.mu.Lock()
	if !w.failed {
		w.failed = true
	}
	if w.wake != nil {
		close(w.wake)
		w.wake = nil
	}
	w.mu.Unlock()
	<-w.done
}
