package core_test

import (
	"bufio"
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/syncbuf"
)

// idRecorder answers every request with one shared, never-modified answer
// (or an error for action "fail") and records the request-id each request
// carried when the handler saw it.
type idRecorder struct {
	mu   sync.Mutex
	seen []string
}

var sharedAnswer = core.NewBinary("binary/ok", []byte("ok"))

func (r *idRecorder) Handle(_ context.Context, m *core.Message) (*core.Message, error) {
	id, _ := m.Header("request-id")
	r.mu.Lock()
	r.seen = append(r.seen, id)
	r.mu.Unlock()
	if m.IsJSON() {
		if a, _ := m.Action(); a == "fail" {
			return nil, errors.New("failed on purpose")
		}
		if a, _ := m.Action(); a == "own-id" {
			ans := core.NewBinary("binary/ok", []byte("own"))
			ans.SetHeader("request-id", "set-by-handler")
			return ans, nil
		}
	}
	return sharedAnswer, nil
}

func TestServerRequestID(t *testing.T) {
	withID := func(m *core.Message, raw string) *core.Message {
		m.Headers = append(m.Headers, core.Header{Key: "request-id", Value: []byte(raw)})
		return m
	}
	bin := func() *core.Message { return core.NewBinary("binary/x", []byte("x")) }
	generated := regexp.MustCompile(`^"[0-9a-f]{12}-[0-9]+"$`)
	tests := []struct {
		name     string
		generate bool
		req      *core.Message
		wantRaw  string         // the answer's request-id header, raw JSON; "" for none
		wantLike *regexp.Regexp // or a pattern it must match
		wantErr  bool
	}{
		{name: "echoed", req: withID(bin(), `"abc"`), wantRaw: `"abc"`},
		{name: "echoed raw number", req: withID(bin(), `42`), wantRaw: `42`},
		{name: "echoed on error answer", req: withID(jsonReq(t, "fail", ""), `"e1"`), wantRaw: `"e1"`, wantErr: true},
		{name: "absent stays absent", req: bin()},
		{name: "generated", generate: true, req: bin(), wantLike: generated},
		{name: "generated on error answer", generate: true, req: jsonReq(t, "fail", ""), wantLike: generated, wantErr: true},
		{name: "client's kept when generating", generate: true, req: withID(bin(), `"mine"`), wantRaw: `"mine"`},
		{name: "handler's own not doubled", req: withID(jsonReq(t, "own-id", ""), `"c"`), wantRaw: `"set-by-handler"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &idRecorder{}
			addr := startServer(t, &core.Server{Handler: rec, GenerateRequestIDs: tt.generate})
			c := dialT(t, addr)
			if _, err := c.Write(frame(t, tt.req)); err != nil {
				t.Fatal(err)
			}
			ans, err := (&frameReader{r: c}).next()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range ans.Headers {
				if h.Key == "request-id" {
					got = append(got, string(h.Value))
				}
			}
			if (core.AnswerError(ans) != nil) != tt.wantErr {
				t.Errorf("answer %s: error answer = %v, want %v", ans, !tt.wantErr, tt.wantErr)
			}
			switch {
			case tt.wantRaw == "" && tt.wantLike == nil:
				if len(got) != 0 {
					t.Errorf("answer carries request-id %q, want none", got)
				}
			case len(got) != 1:
				t.Fatalf("answer carries request-id %q, want exactly one", got)
			case tt.wantLike != nil:
				if !tt.wantLike.MatchString(got[0]) {
					t.Errorf("generated request-id %s does not look like %s", got[0], tt.wantLike)
				}
				// The handler saw the id that the answer carries.
				if want := strings.Trim(got[0], `"`); len(rec.seen) != 1 || rec.seen[0] != want {
					t.Errorf("handler saw request-id %q, answer carries %s", rec.seen, got[0])
				}
			default:
				if got[0] != tt.wantRaw {
					t.Errorf("answer's request-id = %s, want %s", got[0], tt.wantRaw)
				}
			}
		})
	}
	if len(sharedAnswer.Headers) != 0 {
		t.Errorf("the handler's shared answer was modified: %s", sharedAnswer)
	}
}

func TestServerRequestIDsUnique(t *testing.T) {
	rec := &idRecorder{}
	addr := startServer(t, &core.Server{Handler: rec, GenerateRequestIDs: true})
	var batch []byte
	const n = 200
	for range n {
		batch = append(batch, frame(t, core.NewBinary("binary/x", []byte("x")))...)
	}
	c := dialT(t, addr)
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	fr := &frameReader{r: bufio.NewReader(c)}
	ids := make(map[string]bool)
	for range n {
		ans, err := fr.next()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := ans.Header("request-id")
		if ids[id] {
			t.Fatalf("request-id %q given twice", id)
		}
		ids[id] = true
	}
}

// A request-id so long that the answer's header, written with the
// spaces of the reference layout, would pass the 65,535-byte limit: the
// request gets an error answer without it instead of none, so the
// answers that follow stay paired with their requests.
func TestServerRequestIDTooLongToEcho(t *testing.T) {
	addr := startServer(t, &core.Server{Handler: &idRecorder{}})
	compact := `{"byteorder":"little","content-type":"binary/x","content-encoding":"binary","content-length":1,"request-id":"`
	id := strings.Repeat("i", 0xffff-len(compact)-2)
	header := compact + id + `"}`
	c := dialT(t, addr)
	batch := append(rawFrame(header, []byte("x")), frame(t, core.NewBinary("binary/x", []byte("y")))...)
	c.SetDeadline(time.Now().Add(hostileWait))
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	fr := &frameReader{r: bufio.NewReader(c)}
	first, err := fr.next()
	if err != nil {
		t.Fatal(err)
	}
	if err := core.AnswerError(first); err == nil || !strings.Contains(err.Error(), "cannot encode answer") {
		t.Errorf("first answer %v, want an error answer saying it cannot be encoded", first)
	}
	second, err := fr.next()
	if err != nil {
		t.Fatal(err)
	}
	if string(second.Content) != "ok" {
		t.Errorf("second answer %v, want the second request's", second)
	}
}

func TestServerRequestIDInLogs(t *testing.T) {
	var logs syncbuf.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})
	addr := startServer(t, &core.Server{Handler: &idRecorder{}, Logger: log})
	c := dialT(t, addr)
	req := jsonReq(t, "fail", "")
	req.SetHeader("request-id", "trace-me-7")
	if _, err := c.Write(frame(t, req)); err != nil {
		t.Fatal(err)
	}
	if _, err := (&frameReader{r: c}).next(); err != nil {
		t.Fatal(err)
	}
	var failed, request bool
	for _, line := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(line, "request_id=trace-me-7") {
			continue
		}
		failed = failed || strings.Contains(line, "handler failed")
		request = request || strings.Contains(line, "server: request:")
	}
	if !failed || !request {
		t.Errorf("want the handler-failed and request log lines to name request_id=trace-me-7; logs:\n%s", logs.String())
	}
}

func TestServerStats(t *testing.T) {
	s := &core.Server{MaxConnections: 1}
	addr := startServer(t, s)
	c := dialT(t, addr)
	req := frame(t, core.NewBinary("binary/x", []byte("abc")))
	for range 3 {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
	}
	fr := &frameReader{r: c}
	var answered int
	for range 3 {
		ans, err := fr.next()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := core.Marshal(ans)
		answered += len(b)
	}
	// A second connection is over the limit and refused.
	refused := dialT(t, addr)
	expectClosed(t, refused)
	// Once the first is gone, a third one breaks the protocol.
	c.Close()
	waitNoConnections(t, s)
	bad := dialT(t, addr)
	bad.Write([]byte{0, 0})
	expectClosed(t, bad)
	bad.Close()
	waitNoConnections(t, s)

	st := s.Stats()
	want := core.Stats{
		ConnectionsTotal:    2,
		ConnectionsRejected: 1,
		BytesRead:           uint64(3*len(req) + 2),
		Requests:            3,
		InvalidFrames:       1,
	}
	if st.BytesWritten < uint64(answered) {
		t.Errorf("BytesWritten = %d, want at least the %d bytes of the three answers", st.BytesWritten, answered)
	}
	st.BytesWritten = 0
	if st != want {
		t.Errorf("Stats() = %+v\nwant        %+v", st, want)
	}
}

// waitNoConnections waits until s serves no connection.
func waitNoConnections(t *testing.T, s *core.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Connections() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open", s.Connections())
		}
		time.Sleep(time.Millisecond)
	}
}
