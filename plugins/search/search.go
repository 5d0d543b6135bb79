package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/msgrouter/router/core"
)

// Handler answers search requests from a fixed table. It is safe for
// concurrent use: the table is copied by New and never written again.
//
// The content of the answer to a search the table has is built once, by
// New, and shared by the answers to every such request: a caller must not
// write into an answer's Content (appending to it is safe).
//
// The zero Handler has an empty table and answers every search with
// "No match for 'V'.".
//
// Its answers are lent (see core.Message.Lend): a Server takes them back
// once written, and they answer later requests. A Handler must not be
// copied after first use.
type Handler struct {
	table   map[string]string
	hits    map[string][]byte // the answer's content for each query with a result
	answers sync.Pool         // of *core.Message: answers released
}

var (
	_ core.Handler  = (*Handler)(nil)
	_ core.Releaser = (*Handler)(nil)
)

// referenceTable is the reference server's request_search table. It is
// never handed out: DefaultTable and Default copy it.
var referenceTable = map[string]string{
	"morpheus":   "Follow the white rabbit. \U0001f430",
	"ring":       "In the caves beneath the Misty Mountains. \U0001f48d",
	"\U0001f436": "\U0001f43e Playing ball! \U0001f3d0",
}

// New returns a Handler that answers from a copy of table, so the caller
// may go on changing its map. A nil or empty table misses every query.
func New(table map[string]string) *Handler {
	h := &Handler{table: maps.Clone(table), hits: make(map[string][]byte, len(table))}
	for q, result := range h.table {
		// `request_search.get(query) or ...`: "" is a miss.
		if result != "" {
			h.hits[q] = slices.Clip(resultContent(result)) // an append copies
		}
	}
	return h
}

// Default returns a Handler with the reference server's table.
func Default() *Handler { return New(referenceTable) }

// DefaultTable returns a fresh copy of the reference server's table, to be
// extended and passed to New.
func DefaultTable() map[string]string { return maps.Clone(referenceTable) }

// The fixed parts of the answers. None holds a character json.dumps would
// escape, so they are appended as they are.
const (
	prefixResult  = `{"result": `
	prefixMiss    = `{"result": "No match for '`
	prefixInvalid = `{"result": "Error: invalid action '`
	suffixQuoted  = `'."}`
)

// Handle answers req as the reference server does; see the package
// documentation. It returns an error wrapping core.ErrNotJSON when req is
// not JSON and core.ErrBadContent when its content is not a JSON object or
// not in a UTF-8 content-encoding. It never blocks, so it ignores ctx.
func (h *Handler) Handle(_ context.Context, req *core.Message) (*core.Message, error) {
	// Field scans the content once (the Mux may have done it already) and
	// caches the members; comparing the raw action avoids the string
	// Action would allocate for an action other than "search".
	action, hasAction, err := req.Field("action")
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if !isUTF8Name(req.ContentEncoding) {
		return nil, fmt.Errorf("search: %w: unsupported content-encoding %q, want utf-8",
			core.ErrBadContent, req.ContentEncoding)
	}
	if !isSearch(action) {
		content := make([]byte, 0, len(prefixInvalid)+len(action)+len(suffixQuoted)+8)
		content = append(content, prefixInvalid...)
		content = appendPyStr(content, action, hasAction)
		return h.answerJSON(append(content, suffixQuoted...)), nil
	}
	value, ok, _ := req.Field("value")
	if ok && len(value) > 0 && value[0] == '"' {
		var hit []byte
		if inner := value[1 : len(value)-1]; !hasBackslash(inner) {
			hit = h.hits[string(inner)] // no allocation for the lookup
		} else {
			hit = h.hits[unquote(value)]
		}
		if hit != nil {
			return h.answerJSON(hit), nil
		}
	}
	content := make([]byte, 0, len(prefixMiss)+len(value)+len(suffixQuoted)+8)
	content = append(content, prefixMiss...)
	content = appendPyStr(content, value, ok)
	return h.answerJSON(append(content, suffixQuoted...)), nil
}

// resultContent returns the content of the answer that carries result.
func resultContent(result string) []byte {
	content := make([]byte, 0, len(prefixResult)+len(result)+len(result)/16+3)
	content = append(content, prefixResult...)
	content = core.AppendString(content, result)
	return append(content, '}')
}

// answerJSON returns a "text/json", "utf-8" answer with content, lent.
func (h *Handler) answerJSON(content []byte) *core.Message {
	m, _ := h.answers.Get().(*core.Message)
	if m == nil {
		m = new(core.Message)
	}
	m.ContentType = core.ContentTypeJSON
	m.ContentEncoding = core.EncodingUTF8
	m.Content = content
	m.Lend(h)
	return m
}

// Release takes back an answer once it is written, for a later request.
func (h *Handler) Release(m *core.Message) {
	*m = core.Message{}
	h.answers.Put(m)
}

// isSearch reports whether the raw JSON value is the string "search",
// however it is escaped.
func isSearch(raw []byte) bool {
	if string(raw) == `"search"` {
		return true
	}
	return len(raw) > 0 && raw[0] == '"' && hasBackslash(raw) && unquote(raw) == "search"
}

// appendPyStr appends Python's str() of the JSON value raw, escaped for the
// inside of a JSON string. ok false means the member is missing (None).
func appendPyStr(dst, raw []byte, ok bool) []byte {
	if !ok || len(raw) == 0 {
		return append(dst, "None"...)
	}
	switch c := raw[0]; {
	case c == '"':
		inner := raw[1 : len(raw)-1]
		// Without escapes, the JSON grammar leaves no character that
		// json.dumps would escape; only invalid UTF-8 needs the slow path.
		if !hasBackslash(inner) && utf8.Valid(inner) {
			return append(dst, inner...)
		}
		return appendInner(dst, unquote(raw))
	case c == 't':
		return append(dst, "True"...)
	case c == 'f':
		return append(dst, "False"...)
	case c == 'n':
		return append(dst, "None"...)
	case c == '-' || c >= '0' && c <= '9':
		return appendPyNumber(dst, raw)
	}
	// Arrays and objects: str() of a list or dict is its repr.
	return appendInner(dst, string(appendPyRepr(nil, raw)))
}

// appendPyNumber appends str() of the number json.loads makes of raw: an int
// for integer literals, otherwise a float printed as repr prints it.
func appendPyNumber(dst, raw []byte) []byte {
	if !strings.ContainsAny(string(raw), ".eE") {
		if string(raw) == "-0" {
			return append(dst, '0')
		}
		return append(dst, raw...)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil { // out of range: Python's float() overflows to inf
		if f < 0 {
			return append(dst, "-inf"...)
		}
		return append(dst, "inf"...)
	}
	out, err := core.AppendJSON(dst, f) // Python's float repr
	if err != nil {
		return append(dst, raw...)
	}
	return out
}

// appendInner appends s as core.AppendString writes it, without the quotes.
func appendInner(dst []byte, s string) []byte {
	n := len(dst)
	dst = core.AppendString(dst, s)
	copy(dst[n:], dst[n+1:len(dst)-1])
	return dst[:len(dst)-2]
}

// unquote decodes a JSON string literal that the core scanner has already
// validated. Lone surrogates become U+FFFD.
func unquote(raw []byte) string {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return string(raw[1 : len(raw)-1])
	}
	return s
}

func hasBackslash(b []byte) bool { return bytes.IndexByte(b, '\\') >= 0 }

// isUTF8Name reports whether a content-encoding names UTF-8 or its subset
// ASCII, spelled any way Python's codec lookup accepts. Empty means the
// default, UTF-8.
func isUTF8Name(enc string) bool {
	if enc == core.EncodingUTF8 {
		return true // what nearly every request says; ToLower would scan it
	}
	switch strings.ReplaceAll(strings.ToLower(enc), "_", "-") {
	case "", "utf-8", "utf8", "u8", "utf", "ascii", "us-ascii":
		return true
	}
	return false
}
