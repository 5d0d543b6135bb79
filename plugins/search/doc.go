// Package search is the router's built-in search handler: it answers the
// reference app-server's JSON requests byte for byte.
//
// A request {"action": "search", "value": V} is answered with
// {"result": R}, where R is the table's entry for V, or "No match for 'V'."
// when V has none. Any other action A is answered with
// {"result": "Error: invalid action 'A'."}. Answers are "text/json" in
// "utf-8", written in the reference's json.dumps layout; their byteorder is
// left empty, so the encoder writes the host's.
//
// # Matching the Python reference
//
// The reference formats V and A with Python's str(), so this package does
// too: a missing member or null prints as None, true and false as True and
// False, integers as written (-0 as 0), and floats as Python's repr
// (1e+16, 1e-05, 1.5, inf). Arrays and objects print as Python's repr of
// the list or dict json.loads makes of them (['a', True, None], {'k': 1},
// strings quoted and escaped as repr does, a duplicate key in its first
// place with its last value). The reference cannot answer a value array or
// object at all (dict.get raises TypeError on an unhashable key and the
// connection closes unanswered); this package answers it as a miss.
//
// Where the reference fails without an answer, this package answers or
// returns an error instead, so that the router can tell the client:
//
//   - content that is not a JSON object is an error wrapping
//     core.ErrBadContent (the reference raises AttributeError);
//   - NaN and Infinity, which Python's json accepts, are invalid JSON here;
//   - an empty object {} is answered "Error: invalid action 'None'." (the
//     reference never answers it, because it tests the request for truth);
//   - content that is not valid UTF-8 is an error wrapping
//     core.ErrBadContent (the reference raises UnicodeDecodeError).
//
// Content is always read as UTF-8, so a content-encoding other than a name
// of UTF-8 or ASCII (the reference would try any Python codec, such as
// latin-1 or utf-16) is an error wrapping core.ErrBadContent.
//
// A table entry whose result is "" counts as a miss, as Python's `or` makes
// it.
package search
