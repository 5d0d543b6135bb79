package core

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the small hand-written JSON reader and writer the codec
// needs. encoding/json cannot write the reference layout (see PROTOCOL.md,
// "Byte-exact encoding") and allocates on every call, so both directions
// are done here: the writer mirrors Python's json.dumps(ensure_ascii=False)
// and the reader validates RFC 8259 JSON while returning spans of the input.

// Field is one key and value of an Object.
type Field struct {
	Key   string
	Value any
}

// Object is a JSON object whose keys are written in order, the way Python
// writes a dict. Use it to build JSON content in the reference layout:
//
//	core.Object{{"action", "search"}, {"value", "morpheus"}}
type Object []Field

// RawJSON is JSON text that AppendJSON copies as it is.
type RawJSON []byte

// errUnsupported is returned by AppendJSON for values it cannot write.
var errUnsupported = errors.New("core: unsupported type for JSON")

// AppendJSON appends v in the reference's JSON layout: separators ", " and
// ": ", non-ASCII written raw, and Python's escaping rules. It accepts nil,
// bool, string, the integer and float kinds, Object (keys in order),
// map[string]any (keys sorted), []any, []string and RawJSON.
func AppendJSON(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		if v {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case string:
		return AppendString(dst, v), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case float64:
		return appendFloat(dst, v)
	case float32:
		return appendFloat(dst, float64(v))
	case RawJSON:
		if _, err := validJSON(v); err != nil {
			return dst, err
		}
		return append(dst, v...), nil
	case Object:
		dst = append(dst, '{')
		for i, f := range v {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = AppendString(dst, f.Key)
			dst = append(dst, ": "...)
			var err error
			if dst, err = AppendJSON(dst, f.Value); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		obj := make(Object, len(keys))
		for i, k := range keys {
			obj[i] = Field{k, v[k]}
		}
		return AppendJSON(dst, obj)
	case []string:
		dst = append(dst, '[')
		for i, s := range v {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = AppendString(dst, s)
		}
		return append(dst, ']'), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			var err error
			if dst, err = AppendJSON(dst, e); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}
	return dst, fmt.Errorf("%w: %T", errUnsupported, v)
}

// appendFloat writes f the way Python's repr does: "1.0", "1e-05", "1e+16".
func appendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, fmt.Errorf("%w: %v", errUnsupported, f)
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(dst, "-0.0"...), nil
		}
		return append(dst, "0.0"...), nil
	}
	// The shortest 'e' form gives the decimal exponent exactly. Python
	// switches to it below 1e-4 and from 1e16 on.
	e := strconv.AppendFloat(nil, f, 'e', -1, 64)
	exp := 0
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] == 'e' {
			exp, _ = strconv.Atoi(string(e[i+1:]))
			break
		}
	}
	if exp < -4 || exp >= 16 {
		return append(dst, e...), nil
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' {
			return dst, nil
		}
	}
	return append(dst, ".0"...), nil
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string the way Python's
// json.dumps(ensure_ascii=False) writes it: only '"' and '\\' are escaped
// with a backslash, \b \f \n \r \t use their short forms, other control
// characters become \u00XX, and everything else (non-ASCII, U+2028, '<')
// is written raw. Invalid UTF-8 is written as U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\ufffd"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Reading.

var errSyntax = errors.New("invalid JSON")

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// validJSON reports whether b holds exactly one JSON value, surrounded by
// optional white space, and returns the offset where the value starts.
func validJSON(b []byte) (int, error) {
	start := skipSpace(b, 0)
	end, err := scanValue(b, start, 0)
	if err != nil {
		return 0, err
	}
	if skipSpace(b, end) != len(b) {
		return 0, syntaxAt(b, skipSpace(b, end), "after top-level value")
	}
	return start, nil
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 1000

func syntaxAt(b []byte, i int, what string) error {
	if i >= len(b) {
		return fmt.Errorf("%w: unexpected end of input %s", errSyntax, what)
	}
	return fmt.Errorf("%w: unexpected %s at offset %d %s", errSyntax, quoteByte(b[i]), i, what)
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// scanValue returns the offset just past the JSON value that starts at b[i].
func scanValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, syntaxAt(b, i, "looking for a value")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{':
		if depth >= maxDepth {
			return i, fmt.Errorf("%w: nested deeper than %d", errSyntax, maxDepth)
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, nil
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return i, syntaxAt(b, i, "looking for an object key")
			}
			end, _, err := scanString(b, i)
			if err != nil {
				return end, err
			}
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return i, syntaxAt(b, i, "after object key")
			}
			if i, err = scanValue(b, skipSpace(b, i+1), depth+1); err != nil {
				return i, err
			}
			i = skipSpace(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				return i + 1, nil
			}
			return i, syntaxAt(b, i, "after object value")
		}
	case c == '[':
		if depth >= maxDepth {
			return i, fmt.Errorf("%w: nested deeper than %d", errSyntax, maxDepth)
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i, err = scanValue(b, i, depth+1); err != nil {
				return i, err
			}
			i = skipSpace(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == ']' {
				return i + 1, nil
			}
			return i, syntaxAt(b, i, "after array element")
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(b, i)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	}
	return i, syntaxAt(b, i, "looking for a value")
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), nil
	}
	return i, syntaxAt(b, i, "in literal "+lit)
}

// scanNumber checks the RFC 8259 number grammar.
func scanNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return i, syntaxAt(b, i, "in number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, syntaxAt(b, i, "in number fraction")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, syntaxAt(b, i, "in number exponent")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i, nil
}

// scanString returns the offset just past the string that starts at b[i]
// (b[i] == '"') and whether it holds escapes.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	i++
	for i < len(b) {
		// Most bytes need no decision: skip them with one table load.
		for i < len(b) && plainStringByte[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return i, escaped, syntaxAt(b, i+1, "in string escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return i, escaped, syntaxAt(b, len(b), "in \\u escape")
				}
				for _, h := range b[i+2 : i+6] {
					if unhex(h) < 0 {
						return i, escaped, fmt.Errorf("%w: bad \\u escape at offset %d", errSyntax, i)
					}
				}
				i += 6
			default:
				return i, escaped, syntaxAt(b, i+1, "in string escape")
			}
		case c < 0x20:
			return i, escaped, syntaxAt(b, i, "in string (control characters must be escaped)")
		default:
			i++
		}
	}
	return i, escaped, syntaxAt(b, i, "in string")
}

// plainStringByte marks the bytes that stand for themselves inside a JSON
// string: all but '"', '\\' and the control characters.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func unhex(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// unquote decodes a JSON string literal (with its quotes) that scanString
// has accepted. Lone surrogates become U+FFFD.
func unquote(q []byte) string {
	q = q[1 : len(q)-1]
	out := make([]byte, 0, len(q))
	for i := 0; i < len(q); {
		c := q[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch q[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(q[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(q) && q[i] == '\\' && q[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, hex4(q[i+2:])); r2 != utf8.RuneError {
						out = utf8.AppendRune(out, r2)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, q[i+1])
		}
		i += 2
	}
	return string(out)
}

func hex4(b []byte) rune {
	return unhex(b[0])<<12 | unhex(b[1])<<8 | unhex(b[2])<<4 | unhex(b[3])
}

// stringValue returns the Go string for the JSON string literal q, without
// allocating for the common header values.
func stringValue(q []byte, escaped bool) string {
	if escaped {
		return unquote(q)
	}
	s := q[1 : len(q)-1]
	if c := internString(s); c != "" {
		return c
	}
	return string(s)
}

// internString returns the constant equal to s for the values the
// reference messages carry, so that decoding them does not allocate; ""
// for any other s. A switch compiles to a search by length and value.
func internString(s []byte) string {
	switch string(s) {
	case "little":
		return "little"
	case "big":
		return "big"
	case "text/json":
		return "text/json"
	case "utf-8":
		return "utf-8"
	case "binary":
		return "binary"
	case "binary/custom-client-binary-type":
		return "binary/custom-client-binary-type"
	case "binary/custom-server-binary-type":
		return "binary/custom-server-binary-type"
	case "application/json":
		return "application/json"
	case "application/octet-stream":
		return "application/octet-stream"
	case "text/plain":
		return "text/plain"
	case "close":
		return "close"
	case "keep-alive":
		return "keep-alive"
	case "connection":
		return "connection"
	case "search":
		return "search"
	case "echo":
		return "echo"
	}
	return ""
}
