"""The router's framing, as the sockets tutorial writes it.

A frame is a 2-byte big-endian header length, a JSON header, then the
content. Headers are written as the tutorial's server writes them
(json.dumps with ensure_ascii=False: separators ", " and ": ", non-ASCII
raw), the four required keys first, so an answer is byte for byte what
the reference server sends. See PROTOCOL.md at the repository's root.
"""

import json
import struct
import sys
import time

# The headers the router adds on the data path (plugins/wire.go). A
# handler never sees them.
HDR_ID = "router-id"
HDR_HANDLER = "router-handler"
HDR_DEADLINE = "router-deadline"  # Unix nanoseconds
HDR_ERROR = "router-error"
HDR_CANCEL = "router-cancel"
ROUTER_HEADERS = frozenset((HDR_ID, HDR_HANDLER, HDR_DEADLINE, HDR_ERROR, HDR_CANCEL))

REQUIRED = ("byteorder", "content-type", "content-encoding", "content-length")

MAX_HEADER = 0xFFFF
# An error's text travels in a header: it is cut to this many bytes, as
# the Go SDK does (plugins/dataserver.go, maxErrorText).
MAX_ERROR_TEXT = 8 << 10


class ProtocolError(Exception):
    """A frame that cannot be read: the data path is out of step."""


# One encoder for all: json.dumps with an argument makes a new one at
# every call, which cost more than the encoding of a small answer.
_encoder = json.JSONEncoder(ensure_ascii=False)


def dumps(obj):
    """obj as JSON text in the reference's layout: what
    json.dumps(obj, ensure_ascii=False) writes."""
    return _encoder.encode(obj)


# Header values repeat (content-types, encodings, handler names): their
# JSON is kept, up to a bound.
_quoted = {}


def _header_value(v):
    if type(v) is int:
        return str(v)
    if type(v) is str:
        q = _quoted.get(v)
        if q is None:
            q = _encoder.encode(v)
            if len(_quoted) < 1024:
                _quoted[v] = q
        return q
    return _encoder.encode(v)


def encode_frame(content_type, content_encoding, content, headers=None, byteorder=None):
    """Returns one frame: the header (required keys, then headers, a
    sequence of (key, value) pairs whose values are written as JSON), then
    content (bytes)."""
    parts = [
        '{"byteorder": ', _header_value(byteorder or sys.byteorder),
        ', "content-type": ', _header_value(content_type),
        ', "content-encoding": ', _header_value(content_encoding),
        ', "content-length": ', str(len(content)),
    ]
    if headers:
        for key, value in headers:
            parts.append(", ")
            parts.append(_header_value(key))
            parts.append(": ")
            parts.append(_header_value(value))
    parts.append("}")
    head = "".join(parts).encode("utf-8")
    if len(head) > MAX_HEADER:
        raise ValueError(f"answer header of {len(head)} bytes, above the limit of {MAX_HEADER}")
    return struct.pack(">H", len(head)) + head + content


class Decoder:
    """An incremental frame decoder: feed it what a read returned, get the
    frames it completes as (header dict, content bytes) pairs."""

    def __init__(self):
        self._buf = bytearray()

    def feed(self, data):
        buf = self._buf
        buf += data
        frames = []
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            hlen = (buf[pos] << 8) | buf[pos + 1]
            if hlen == 0:
                raise ProtocolError("header length 0")
            if n - pos - 2 < hlen:
                break
            try:
                header = json.loads(bytes(buf[pos + 2:pos + 2 + hlen]).decode("utf-8"))
            except ValueError as e:
                raise ProtocolError(f"header is not JSON: {e}") from None
            if not isinstance(header, dict):
                raise ProtocolError("header is not a JSON object")
            clen = header.get("content-length")
            if not isinstance(clen, int) or isinstance(clen, bool) or clen < 0:
                raise ProtocolError(f"bad content-length {clen!r}")
            end = pos + 2 + hlen + clen
            if end > n:
                break
            frames.append((header, bytes(buf[pos + 2 + hlen:end])))
            pos = end
        if pos:
            del buf[:pos]
        return frames

    def partial(self):
        """Whether part of a frame is buffered."""
        return len(self._buf) > 0


class Answer:
    """A handler's answer: content (bytes) of a content-type and
    content-encoding, and extension headers (a dict of JSON values), if
    any. Make one with reply_json, reply_text or reply_binary."""

    __slots__ = ("content_type", "content_encoding", "content", "headers")

    def __init__(self, content_type, content_encoding, content, headers=None):
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise TypeError(f"Answer content must be bytes, not {type(content).__name__}")
        self.content_type = content_type
        self.content_encoding = content_encoding
        self.content = bytes(content)
        self.headers = dict(headers or {})

    def json(self):
        """The content decoded as JSON (for tests)."""
        return json.loads(self.content.decode(self.content_encoding or "utf-8"))

    def text(self):
        """The content decoded with its content-encoding (utf-8 for
        "binary")."""
        enc = self.content_encoding
        return self.content.decode("utf-8" if enc in ("", "binary") else enc)

    def frame(self):
        """The answer's frame as a client of the router receives it."""
        return encode_frame(self.content_type, self.content_encoding, self.content, self._header_items())

    def _header_items(self):
        for key in self.headers:
            if key in REQUIRED or key in ROUTER_HEADERS:
                raise ValueError(f"answer header {key!r} is reserved")
        return list(self.headers.items())

    def __repr__(self):
        return f"Answer({self.content_type!r}, {self.content_encoding!r}, {self.content!r})"

    def __eq__(self, other):
        return (isinstance(other, Answer) and self.content_type == other.content_type
                and self.content_encoding == other.content_encoding
                and self.content == other.content and self.headers == other.headers)


def reply_json(obj, *, content_type="text/json", headers=None):
    """An answer whose content is obj written as the reference writes JSON
    (json.dumps(obj, ensure_ascii=False), in utf-8)."""
    return Answer(content_type, "utf-8", dumps(obj).encode("utf-8"), headers)


def reply_text(text, *, content_type="text/plain", encoding="utf-8", headers=None):
    """An answer whose content is text in encoding."""
    return Answer(content_type, encoding, text.encode(encoding), headers)


def reply_binary(content, *, content_type="application/octet-stream", headers=None):
    """An answer of raw bytes, content-encoding "binary"."""
    return Answer(content_type, "binary", content, headers)


_MISSING = object()


class Request:
    """One request, as the client sent it.

    header is the whole JSON header (a dict: the required keys and the
    client's extension headers); content is the content's bytes.
    content_type, content_encoding and byteorder are the header's. For a
    JSON request, json() is the decoded content, and action and value its
    "action" and "value" members (None when absent). deadline is when the
    router gives up on the request (seconds since the epoch, as
    time.time()), or None; time_left() is what remains of it.
    """

    __slots__ = ("header", "content", "handler", "deadline", "_json", "_cancelled")

    def __init__(self, header, content, handler="", deadline=None, cancelled=None):
        self.header = header
        self.content = content
        self.handler = handler
        self.deadline = deadline
        self._json = _MISSING
        self._cancelled = cancelled

    @property
    def content_type(self):
        return self.header.get("content-type", "")

    @property
    def content_encoding(self):
        return self.header.get("content-encoding", "")

    @property
    def byteorder(self):
        return self.header.get("byteorder", "")

    def json(self):
        """The content decoded as JSON, in its content-encoding, as the
        reference server decodes it. Raises ValueError if it is not."""
        if self._json is _MISSING:
            enc = self.content_encoding or "utf-8"
            try:
                text = self.content.decode(enc)
            except LookupError:
                raise ValueError(f"unknown content-encoding {enc!r}") from None
            except UnicodeDecodeError as e:
                raise ValueError(f"content is not valid {enc}: {e}") from None
            try:
                self._json = json.loads(text)
            except ValueError as e:
                raise ValueError(f"content is not JSON: {e}") from None
        return self._json

    def _member(self, key):
        if self.content_type != "text/json":
            return None
        obj = self.json()
        return obj.get(key) if isinstance(obj, dict) else None

    @property
    def action(self):
        """The JSON content's "action", or None."""
        return self._member("action")

    @property
    def value(self):
        """The JSON content's "value", or None."""
        return self._member("value")

    def time_left(self):
        """Seconds left until the deadline (negative once past), or None
        without a deadline."""
        if self.deadline is None:
            return None
        return self.deadline - time.time()

    def cancelled(self):
        """Whether the router gave up on the request (its deadline passed
        or its client left): a long handler may check it and stop."""
        return self._cancelled is not None and self._cancelled.is_set()

    def __repr__(self):
        return f"Request({self.header!r}, {self.content!r})"
