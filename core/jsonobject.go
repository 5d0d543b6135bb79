package core

import (
	"fmt"
	"unicode/utf8"
)

// jsonMember is one member of a JSON object, as its raw text.
type jsonMember struct {
	key      []byte // the key literal, quotes included
	keyEsc   bool   // the key holds escapes
	value    []byte // the raw value
	valueEsc bool   // the value is a string with escapes
}

// walkMembers walks the JSON object b (valid UTF-8), calling each for
// every member in order, and checks that nothing but space follows it;
// what names the object in the error that says where b is not one
// ("after the header object"). An error from each ends the walk and is
// returned. It is the one walk of an object: headers and JSON content
// are both read with it.
func walkMembers(b []byte, what string, each func(jsonMember) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return syntaxAt(b, i, "looking for the "+what)
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return syntaxAt(b, i, "looking for an object key")
			}
			kend, kesc, err := scanString(b, i)
			if err != nil {
				return err
			}
			j := skipSpace(b, kend)
			if j >= len(b) || b[j] != ':' {
				return syntaxAt(b, j, "after object key")
			}
			vstart := skipSpace(b, j+1)
			var vend int
			vesc := false
			if vstart < len(b) && b[vstart] == '"' {
				vend, vesc, err = scanString(b, vstart)
			} else {
				vend, err = scanValue(b, vstart, 1)
			}
			if err != nil {
				return err
			}
			if err := each(jsonMember{key: b[i:kend], keyEsc: kesc, value: b[vstart:vend], valueEsc: vesc}); err != nil {
				return err
			}
			i = skipSpace(b, vend)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				i++
				break
			}
			return syntaxAt(b, i, "after object value")
		}
	}
	if i = skipSpace(b, i); i != len(b) {
		return syntaxAt(b, i, "after the "+what)
	}
	return nil
}

// scanObject validates that b is one JSON object and lists its members.
func scanObject(dst []jsonField, b []byte) ([]jsonField, error) {
	if !utf8.Valid(b) {
		return dst, fmt.Errorf("%w: JSON content is not valid UTF-8", ErrBadContent)
	}
	// An object is walked once, validating as it goes; anything else, or
	// an object with an error in it, is read again below, so that the
	// error says what the validator says.
	if out, ok := walkObject(dst, b); ok {
		return out, nil
	}
	i, err := validJSON(b)
	if err != nil {
		return dst, fmt.Errorf("%w: %w", ErrBadContent, err)
	}
	if b[i] != '{' {
		return dst, fmt.Errorf("%w: JSON content is not an object", ErrBadContent)
	}
	// A valid object that walkObject refused: they disagree, which
	// FuzzWalkObject exists to rule out.
	return dst, fmt.Errorf("%w: JSON object not read (core: walkObject and validJSON disagree)", ErrBadContent)
}

// walkObject lists the members of b if b is one valid JSON object (b is
// valid UTF-8); ok is false otherwise, with dst's length unchanged.
func walkObject(dst []jsonField, b []byte) (out []jsonField, ok bool) {
	n := len(dst)
	err := walkMembers(b, "object", func(m jsonMember) error {
		dst = append(dst, jsonField{key: m.key, escaped: m.keyEsc, value: m.value})
		return nil
	})
	if err != nil {
		return dst[:n], false
	}
	return dst, true
}
