package search

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// appendPyRepr appends Python's repr of the JSON array or object raw, as
// json.loads makes it and str() prints it: strings quoted as repr quotes
// them, True, False and None, numbers as appendPyNumber writes them, and
// an object's duplicate key in its first place with its last value (as a
// dict built by json.loads keeps it). raw is valid JSON (the core has
// validated the content).
func appendPyRepr(dst, raw []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	out, err := appendPyReprValue(dst, dec)
	if err != nil { // not reached for validated JSON: say so plainly
		return append(dst, fmt.Sprintf("<%v>", err)...)
	}
	return out
}

func appendPyReprValue(dst []byte, dec *json.Decoder) ([]byte, error) {
	tok, err := dec.Token()
	if err != nil {
		return dst, err
	}
	switch v := tok.(type) {
	case string:
		return appendPyReprString(dst, v), nil
	case json.Number:
		return appendPyNumber(dst, []byte(v)), nil
	case bool:
		if v {
			return append(dst, "True"...), nil
		}
		return append(dst, "False"...), nil
	case nil:
		return append(dst, "None"...), nil
	case json.Delim:
		if v == '[' {
			dst = append(dst, '[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					dst = append(dst, ", "...)
				}
				if dst, err = appendPyReprValue(dst, dec); err != nil {
					return dst, err
				}
			}
			_, err = dec.Token() // ]
			return append(dst, ']'), err
		}
		// An object: the keys in the order of their first appearance,
		// each with its last value.
		var keys []string
		vals := map[string][]byte{}
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return dst, err
			}
			k, _ := t.(string)
			val, err := appendPyReprValue(nil, dec)
			if err != nil {
				return dst, err
			}
			if _, seen := vals[k]; !seen {
				keys = append(keys, k)
			}
			vals[k] = val
		}
		if _, err = dec.Token(); err != nil { // }
			return dst, err
		}
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendPyReprString(dst, k)
			dst = append(dst, ": "...)
			dst = append(dst, vals[k]...)
		}
		return append(dst, '}'), nil
	}
	return dst, fmt.Errorf("unexpected JSON token %v", tok)
}

// appendPyReprString appends Python's repr of s: in single quotes, or in
// double quotes if s has a single quote and no double one; backslash, the
// quote, \t, \n and \r escaped; other characters that Python does not
// print (str.isprintable, which Go's unicode.IsPrint matches) as \xhh,
// \uhhhh or \Uhhhhhhhh.
func appendPyReprString(dst []byte, s string) []byte {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	const hex = "0123456789abcdef"
	dst = append(dst, quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\t':
			dst = append(dst, `\t`...)
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r < ' ' || r == 0x7f:
			dst = append(dst, '\\', 'x', hex[r>>4], hex[r&0xf])
		case r < 0x7f || unicode.IsPrint(r):
			dst = utf8.AppendRune(dst, r)
		case r <= 0xff:
			dst = append(dst, '\\', 'x', hex[r>>4], hex[r&0xf])
		case r <= 0xffff:
			dst = append(dst, '\\', 'u', hex[r>>12], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			dst = fmt.Appendf(dst, `\U%08x`, r)
		}
	}
	return append(dst, quote)
}
