package core

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Well-known values of the protocol's required header fields.
const (
	ContentTypeJSON    = "text/json"
	EncodingUTF8       = "utf-8"
	EncodingBinary     = "binary"
	ByteOrderLittle    = "little"
	ByteOrderBig       = "big"
	HeaderConnection   = "connection" // extension header: "close" asks the server to close after the answer
	ConnectionClose    = "close"
	defaultContentType = "application/octet-stream"
)

// NativeByteOrder returns the host's byte order as the protocol writes it,
// "little" or "big". The encoder uses it when a Message's ByteOrder is empty.
func NativeByteOrder() string { return nativeByteOrder }

var nativeByteOrder = func() string {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], 1)
	if b[0] == 1 {
		return ByteOrderLittle
	}
	return ByteOrderBig
}()

// Header is one extension header: any key of the JSON header other than
// the four required ones. Value is the raw JSON text of its value, for
// example `"close"` or `42`.
type Header struct {
	Key   string
	Value []byte
}

// Message is one request or answer: the four required header fields, the
// extension headers in the order they arrived, and the content.
//
// content-length is not stored: it is len(Content) when encoding.
//
// A request handed to a Handler by the Server is owned by the Server. Its
// Content and header values may alias the connection's read buffer and are
// valid until the answer has been written; a handler that keeps any of it
// longer must Clone the message.
type Message struct {
	ByteOrder       string   // "little" or "big"; empty means NativeByteOrder() when encoding
	ContentType     string   // e.g. "text/json"; empty means "application/octet-stream" when encoding
	ContentEncoding string   // e.g. "utf-8" or "binary"; empty means "binary" when encoding
	Headers         []Header // extension headers, in order
	Content         []byte

	// fields caches the top-level members of JSON content, so that the
	// Mux and the handler it picks scan the content once between them.
	// scannedFor is the Content it was built from: assigning a different
	// slice to Content invalidates the cache.
	fields     []jsonField
	fieldsErr  error
	scanned    bool
	scannedFor []byte

	// wire is the frame m was decoded from, when it was in the
	// encoder's own layout (see Frame); wireFields are the byte order,
	// content-type and content-encoding it holds, and wireExt the index
	// in it of the extension headers.
	wire       []byte
	wireFields [3]string
	wireExt    int

	lender Releaser // see Lend
}

type jsonField struct {
	key     []byte // raw key literal, with quotes
	escaped bool
	value   []byte // raw JSON value
}

// NewBinary returns a message with the given content-type, content-encoding
// "binary" and content.
func NewBinary(contentType string, content []byte) *Message {
	return &Message{ContentType: contentType, ContentEncoding: EncodingBinary, Content: content}
}

// NewJSON returns a "text/json", "utf-8" message whose content is v written
// in the reference layout by AppendJSON. Use Object to keep keys in order.
func NewJSON(v any) (*Message, error) {
	content, err := AppendJSON(nil, v)
	if err != nil {
		return nil, err
	}
	return &Message{ContentType: ContentTypeJSON, ContentEncoding: EncodingUTF8, Content: content}, nil
}

// NewError returns the protocol's error answer, {"error": text}.
func NewError(text string) *Message {
	content := make([]byte, 0, len(text)+14)
	content = append(content, `{"error": `...)
	content = AppendString(content, text)
	content = append(content, '}')
	return &Message{ContentType: ContentTypeJSON, ContentEncoding: EncodingUTF8, Content: content}
}

// IsJSON reports whether the content is JSON: content-type "text/json",
// "application/json" or any "+json" type.
func (m *Message) IsJSON() bool {
	ct := m.ContentType
	return ct == ContentTypeJSON || ct == "application/json" ||
		(len(ct) > 5 && ct[len(ct)-5:] == "+json")
}

// Header returns the value of the extension header key. A JSON string is
// returned unquoted; any other JSON value is returned as its JSON text.
// The last occurrence wins, as in Python's json.loads.
func (m *Message) Header(key string) (string, bool) {
	raw, ok := m.RawHeader(key)
	if !ok {
		return "", false
	}
	return jsonText(raw), true
}

// RawHeader returns the raw JSON value of the extension header key, as
// it was on the wire: the last occurrence, as in Python's json.loads. It
// does not allocate.
func (m *Message) RawHeader(key string) ([]byte, bool) {
	for i := len(m.Headers) - 1; i >= 0; i-- {
		if m.Headers[i].Key == key {
			return m.Headers[i].Value, true
		}
	}
	return nil, false
}

// SetHeader sets the extension header key to the JSON string value,
// replacing every earlier occurrence.
func (m *Message) SetHeader(key, value string) {
	m.DelHeader(key)
	m.Headers = append(m.Headers, Header{Key: key, Value: AppendString(nil, value)})
}

// DelHeader removes every occurrence of the extension header key.
func (m *Message) DelHeader(key string) {
	out := m.Headers[:0]
	for _, h := range m.Headers {
		if h.Key != key {
			out = append(out, h)
		}
	}
	m.Headers = out
}

// WantsClose reports whether the message carries "connection": "close"
// (in any letter case, as HTTP/1.1 reads it).
func (m *Message) WantsClose() bool {
	v, ok := m.Header(HeaderConnection)
	return ok && strings.EqualFold(v, ConnectionClose)
}

// Clone returns a deep copy of m that shares no memory with it.
func (m *Message) Clone() *Message {
	c := &Message{
		ByteOrder:       m.ByteOrder,
		ContentType:     m.ContentType,
		ContentEncoding: m.ContentEncoding,
	}
	if m.Content != nil {
		c.Content = append([]byte(nil), m.Content...)
	}
	if len(m.Headers) > 0 {
		c.Headers = make([]Header, len(m.Headers))
		for i, h := range m.Headers {
			c.Headers[i] = Header{Key: h.Key, Value: append([]byte(nil), h.Value...)}
		}
	}
	return c
}

// Reset clears m for reuse, keeping allocated capacity.
func (m *Message) Reset() {
	*m = Message{Headers: m.Headers[:0], fields: m.fields[:0]}
}

// Action returns the "action" member of JSON content: the key the Mux
// routes on. It returns ErrNotJSON when the content-type is not JSON,
// ErrBadContent when the content is not a JSON object, and "" with no error
// when the object has no string "action".
func (m *Message) Action() (string, error) {
	raw, ok, err := m.Field("action")
	if err != nil || !ok || len(raw) == 0 || raw[0] != '"' {
		return "", err
	}
	_, escaped, _ := scanString(raw, 0)
	return stringValue(raw, escaped), nil
}

// Field returns the raw JSON text of the top-level member key of JSON
// content. The content is scanned once and the result cached, so the Mux
// and the handler it routes to do not parse it twice. Assigning a new
// slice to Content invalidates the cache; changing its bytes in place
// does not.
func (m *Message) Field(key string) (raw []byte, ok bool, err error) {
	if !m.IsJSON() {
		return nil, false, ErrNotJSON
	}
	if !m.scanned || !sameSlice(m.scannedFor, m.Content) {
		m.fields, m.fieldsErr = scanObject(m.fields[:0], m.Content)
		m.scanned, m.scannedFor = true, m.Content
	}
	if m.fieldsErr != nil {
		return nil, false, m.fieldsErr
	}
	for i := len(m.fields) - 1; i >= 0; i-- {
		f := &m.fields[i]
		if f.escaped {
			if unquote(f.key) == key {
				return f.value, true, nil
			}
		} else if string(f.key[1:len(f.key)-1]) == key {
			return f.value, true, nil
		}
	}
	return nil, false, nil
}

// sameSlice reports whether a and b are the same bytes of the same array.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// jsonText returns a JSON string's value, or any other value's JSON text.
func jsonText(raw []byte) string {
	if len(raw) > 0 && raw[0] == '"' {
		_, escaped, err := scanString(raw, 0)
		if err == nil {
			return stringValue(raw, escaped)
		}
	}
	return string(raw)
}

// String returns a short human description of m, for logs and tests.
func (m *Message) String() string {
	return fmt.Sprintf("%s %s %s len=%s", m.ByteOrder, m.ContentType, m.ContentEncoding, strconv.Itoa(len(m.Content)))
}
