package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/msgrouter/router/core"
)

// clientBinaryType is the content-type the tutorial's app-client gives a
// request whose action is not "search".
const clientBinaryType = "binary/custom-client-binary-type"

type sendFlags struct {
	addr      string
	action    actionFlags
	timeout   time.Duration
	raw       bool
	forceJSON bool
	close     bool
	verbose   bool
	headers   headerList
}

// headerList is the repeatable -H KEY=VALUE flag: extension headers with
// string values.
type headerList []core.Header

func (l *headerList) String() string {
	parts := make([]string, len(*l))
	for i, h := range *l {
		parts[i] = h.Key + "=" + jsonText(h.Value)
	}
	return strings.Join(parts, ", ")
}

func (l *headerList) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	switch {
	case !ok || k == "":
		return errors.New("want KEY=VALUE")
	case k == "byteorder" || k == "content-type" || k == "content-encoding" || k == "content-length":
		return fmt.Errorf("%s is a required header, set by send", k)
	}
	*l = append(*l, core.Header{Key: k, Value: core.AppendString(nil, v)})
	return nil
}

// actionFlags are the --action NAME and --value V flags of send and
// bench: one JSON request for any action.
type actionFlags struct {
	name, value string
	set         bool // --action was given
	valueSet    bool // --value was given
}

// declare declares --action and --value on fs.
func (a *actionFlags) declare(fs *flag.FlagSet) {
	fs.Func("action", "send {\"action\": `NAME`, \"value\": V} as text/json, for any action NAME; V is --value", func(s string) error {
		if s == "" {
			return errors.New("want an action NAME")
		}
		a.name, a.set = s, true
		return nil
	})
	fs.Func("value", "the `V` of --action NAME, a string (default empty)", func(s string) error {
		a.value, a.valueSet = s, true
		return nil
	})
}

// check reports --value without --action, for cmd's usage error.
func (a *actionFlags) check(cmd string) error {
	if a.valueSet && !a.set {
		return usagef(cmd, "--value goes with --action NAME")
	}
	return nil
}

// request returns the JSON request of --action and --value.
func (a *actionFlags) request() (*core.Message, error) {
	return newRequest(a.name, a.value, true)
}

var sendCmd = &command{
	name: "send",
	// The second usage line is the --action form.
	args:    "ACTION VALUE\n       router send [flags] --action NAME [--value V]",
	summary: "send one request and print the answer",
	desc: `Send sends one request to a router, or to the tutorial's app-server, and
prints the answer. It builds the request as the tutorial's app-client does:

	ACTION "search"   text/json, utf-8: {"action": "search", "value": VALUE}
	any other ACTION  binary/custom-client-binary-type, binary: the UTF-8
	                  bytes of ACTION followed by VALUE

--json sends any ACTION in the JSON form, e.g. to reach the "echo" route.
--action NAME --value V sends {"action": NAME, "value": V} as text/json,
for any action NAME, without ACTION VALUE arguments: it is the same
request as --json NAME V, the form for a plugin's custom action. The
request's byteorder is the host's. Flags go before ACTION.

The answer is printed on stdout:

	JSON with "result"   the result
	JSON {"error": ...}  "router: server answered error: ..." on stderr, exit 1
	other JSON           the content
	anything else        the content as text if it is printable UTF-8,
	                     else as a Go-quoted string

-H KEY=VALUE adds the extension header KEY with the string VALUE to the
request (repeatable), such as a request-id, which the router echoes.

-v prints the answer's header first, one field a line, then an empty line.
--raw writes the answer's exact bytes as they came off the wire instead
(with -v, the header goes to stderr).

Exit codes: 0 for an answer; 1 if it cannot connect, gets no answer or an
invalid one, or the answer is {"error": ...}; 2 for a usage error.
`,
	examples: []string{
		"router send search morpheus\n# Follow the white rabbit. 🐰",
		"router send binary hello\n# First 10 bytes of request: binaryhell",
		"router send --json echo hi\n# {\"action\": \"echo\", \"value\": \"hi\"}",
		"# A plugin's own action, here examples/upper's:\nrouter send --action upper --value hello\n# HELLO",
		"router send --addr [::1]:65432 --raw search ring > answer.bin",
		"router send -v -H request-id=order-42 search ring\n# ... request-id: order-42 ...",
	},
	setup: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		f := new(sendFlags)
		fs.StringVar(&f.addr, "addr", defaultAddr, "the router's `ADDR`: host:port, [ipv6]:port, tcp://..., unix:///path")
		fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "longest wait to connect and get the answer; 0 means none")
		fs.BoolVar(&f.raw, "raw", false, "write the answer's exact wire bytes to stdout")
		fs.BoolVar(&f.forceJSON, "json", false, "send {\"action\": ACTION, \"value\": VALUE} as text/json whatever ACTION is")
		fs.BoolVar(&f.close, "close", false, "add the header \"connection\": \"close\" to the request")
		fs.BoolVar(&f.verbose, "v", false, "print the answer's header fields first")
		fs.Var(&f.headers, "H", "add the extension header `KEY=VALUE` (a string) to the request (repeatable)")
		f.action.declare(fs)
		return f.run
	},
}

// newRequest builds the request the tutorial's app-client sends for
// action and value, in the JSON form when forceJSON is set.
func newRequest(action, value string, forceJSON bool) (*core.Message, error) {
	if action == "search" || forceJSON {
		return core.NewJSON(core.Object{{Key: "action", Value: action}, {Key: "value", Value: value}})
	}
	return core.NewBinary(clientBinaryType, []byte(action+value)), nil
}

// request returns the request of the command line: --action's, or that
// of the arguments ACTION VALUE.
func (f *sendFlags) request(args []string) (*core.Message, error) {
	if err := f.action.check("send"); err != nil {
		return nil, err
	}
	if f.action.set {
		if len(args) > 0 {
			return nil, usagef("send", "--action and the arguments ACTION VALUE cannot go together; got --action %q and arguments %q (to set the value: --value V)", f.action.name, args)
		}
		return f.action.request()
	}
	if len(args) != 2 {
		for _, a := range args[min(1, len(args)):] {
			if strings.HasPrefix(a, "-") && len(a) > 1 {
				return nil, usagef("send", "flags must come before ACTION; got %q after it", a)
			}
		}
		return nil, usagef("send", "want ACTION and VALUE, or --action NAME, got %d arguments", len(args))
	}
	return newRequest(args[0], args[1], f.forceJSON)
}

func (f *sendFlags) run(ctx context.Context, c *cli, args []string) error {
	req, err := f.request(args)
	if err != nil {
		return err
	}
	if _, _, err := core.ParseAddr(f.addr); err != nil {
		return usagef("send", "invalid value %q for flag -addr: %s", f.addr, strings.TrimPrefix(err.Error(), "core: "))
	}
	if f.timeout < 0 {
		return usagef("send", "invalid value %s for flag -timeout: want 0 (none) or more", f.timeout)
	}
	req.Headers = append(req.Headers, f.headers...)
	if f.close {
		req.SetHeader(core.HeaderConnection, core.ConnectionClose)
	}
	wire, err := core.Marshal(req)
	if err != nil {
		return fmt.Errorf("cannot encode request: %w", err)
	}
	frame, ans, err := exchange(ctx, f.addr, wire, f.timeout)
	if err != nil {
		return err
	}
	return f.print(c, frame, ans)
}

// exchange sends one request on a new connection and returns the first
// answer, both as the exact bytes read and decoded.
func exchange(ctx context.Context, addr string, req []byte, timeout time.Duration) ([]byte, *core.Message, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	network, address, err := core.ParseAddr(addr)
	if err != nil {
		return nil, nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot connect to %s: %s", addr, ioReason(ctx, err, timeout))
	}
	defer nc.Close()
	// Cancellation and the timeout interrupt a blocked read or write.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := nc.Write(req); err != nil {
		return nil, nil, fmt.Errorf("cannot send the request to %s: %s", addr, ioReason(ctx, err, timeout))
	}
	var raw bytes.Buffer // the answer's exact bytes, for --raw
	sc := core.NewScanner(io.TeeReader(nc, &raw))
	sc.Decoder.MaxContentLength = -1 // trust the server we chose, as core.Client does
	if sc.Scan() {
		return raw.Bytes()[:sc.Consumed()], sc.Message(), nil
	}
	switch err := sc.Err(); {
	case sc.Decoder.Err() != nil:
		return nil, nil, fmt.Errorf("invalid answer from %s: %w", addr, err)
	case err == nil:
		return nil, nil, fmt.Errorf("%s closed the connection without answering", addr)
	case errors.Is(err, core.ErrTruncated):
		return nil, nil, fmt.Errorf("%s closed the connection in the middle of the answer, after %d bytes", addr, raw.Len())
	default:
		return nil, nil, fmt.Errorf("no answer from %s: %s", addr, ioReason(ctx, err, timeout))
	}
}

// ioReason shortens a network error to its cause, e.g. "connection
// refused", and names the timeout or the interruption that ended it.
func ioReason(ctx context.Context, err error, timeout time.Duration) string {
	switch ctx.Err() {
	case context.DeadlineExceeded:
		return "timed out after " + timeout.String()
	case context.Canceled:
		return "interrupted"
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// print writes the answer in the form the flags ask for.
func (f *sendFlags) print(c *cli, frame []byte, ans *core.Message) error {
	if f.raw {
		if f.verbose {
			writeHeader(c.stderr, ans)
		}
		if _, err := c.stdout.Write(frame); err != nil {
			return fmt.Errorf("cannot write the answer: %w", err)
		}
		return core.AnswerError(ans)
	}
	if f.verbose {
		writeHeader(c.stdout, ans)
	}
	if err := core.AnswerError(ans); err != nil {
		return err
	}
	var out string
	if result, ok, err := ans.Field("result"); err == nil && ok {
		out = jsonText(result)
	} else {
		out = contentText(ans.Content)
	}
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	_, err := io.WriteString(c.stdout, out)
	return err
}

// writeHeader writes the answer's header fields, one a line, and an empty
// line.
func writeHeader(w io.Writer, m *core.Message) {
	var b strings.Builder
	fmt.Fprintf(&b, "byteorder: %s\n", m.ByteOrder)
	fmt.Fprintf(&b, "content-type: %s\n", m.ContentType)
	fmt.Fprintf(&b, "content-encoding: %s\n", m.ContentEncoding)
	fmt.Fprintf(&b, "content-length: %d\n", len(m.Content))
	for _, h := range m.Headers {
		fmt.Fprintf(&b, "%s: %s\n", h.Key, jsonText(h.Value))
	}
	b.WriteString("\n")
	io.WriteString(w, b.String())
}

// jsonText returns a JSON string's value, or any other JSON value's text.
func jsonText(raw []byte) string {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// contentText returns content as text when it is printable UTF-8, and
// Go-quoted otherwise.
func contentText(b []byte) string {
	if utf8.Valid(b) {
		printable := true
		for _, r := range string(b) {
			if !unicode.IsPrint(r) && r != '\n' && r != '\t' {
				printable = false
				break
			}
		}
		if printable {
			return string(b)
		}
	}
	return strconv.Quote(string(b))
}
