"""The framing: answers byte for byte as the reference writes them."""

import json
import os
import sys
import unittest

from routerplugin import reply_binary, reply_json, reply_text
from routerplugin._wire import Decoder, ProtocolError, encode_frame

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..")

# PROTOCOL.md's example answer.
MORPHEUS_ANSWER = (b'\x00g{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", '
                   b'"content-length": 43}{"result": "Follow the white rabbit. \xf0\x9f\x90\xb0"}')


class FrameTest(unittest.TestCase):
    @unittest.skipUnless(sys.byteorder == "little", "the golden bytes say little")
    def test_protocol_example(self):
        ans = reply_json({"result": "Follow the white rabbit. \U0001f430"})
        self.assertEqual(ans.frame(), MORPHEUS_ANSWER)

    @unittest.skipUnless(sys.byteorder == "little", "the golden files say little")
    def test_golden_binary(self):
        golden = os.path.join(ROOT, "testdata", "golden")
        with open(os.path.join(golden, "binary_request.bin"), "rb") as f:
            (header, content), = Decoder().feed(f.read())
        ans = reply_binary(b"First 10 bytes of request: " + content[:10],
                           content_type="binary/custom-server-binary-type")
        with open(os.path.join(golden, "binary.bin"), "rb") as f:
            self.assertEqual(ans.frame(), f.read())

    def test_escapes_as_python_json(self):
        s = 'a"b\\c\n\x01\u2028<>&\U0001f436'
        ans = reply_json({"k": s})
        self.assertEqual(ans.content, json.dumps({"k": s}, ensure_ascii=False).encode("utf-8"))
        self.assertIn(b"\\u0001", ans.content)
        self.assertIn("\u2028".encode("utf-8"), ans.content)

    def test_headers_in_order_after_the_required_ones(self):
        frame = encode_frame("text/plain", "utf-8", b"hi", [("x-b", 1), ("x-a", "v")], byteorder="big")
        n = int.from_bytes(frame[:2], "big")
        self.assertEqual(frame[2:2 + n], b'{"byteorder": "big", "content-type": "text/plain", '
                                         b'"content-encoding": "utf-8", "content-length": 2, "x-b": 1, "x-a": "v"}')
        self.assertEqual(frame[2 + n:], b"hi")

    def test_reply_text(self):
        ans = reply_text("h\u00e9", content_type="text/x")
        self.assertEqual((ans.content_type, ans.content_encoding, ans.content), ("text/x", "utf-8", "h\u00e9".encode()))
        self.assertEqual(ans.text(), "h\u00e9")

    def test_reply_binary_wants_bytes(self):
        with self.assertRaises(TypeError):
            reply_binary("text")

    def test_reserved_header(self):
        with self.assertRaises(ValueError):
            reply_json({}, headers={"router-id": 1}).frame()


class DecoderTest(unittest.TestCase):
    def frames(self):
        return (encode_frame("text/json", "utf-8", b'{"action": "search", "value": "ring"}', [("router-id", 1)])
                + encode_frame("binary/x", "binary", bytes(range(256)), [("router-id", 2)]))

    def test_split_at_every_point(self):
        data = self.frames()
        for cut in range(len(data) + 1):
            d = Decoder()
            got = d.feed(data[:cut]) + d.feed(data[cut:])
            self.assertEqual([h["router-id"] for h, _ in got], [1, 2], cut)
            self.assertEqual(got[1][1], bytes(range(256)))
            self.assertFalse(d.partial())

    def test_one_byte_at_a_time(self):
        d = Decoder()
        got = []
        for b in self.frames():
            got += d.feed(bytes([b]))
        self.assertEqual(len(got), 2)

    def test_bad_frames(self):
        heads = (b"[]", b"{x", b'{"content-length": -1}', b'{"content-length": "12"}', b'{"content-length": true}', b"{}")
        for bad in [b"\x00\x00"] + [len(h).to_bytes(2, "big") + h for h in heads]:
            with self.subTest(bad=bad), self.assertRaises(ProtocolError):
                Decoder().feed(bad)


if __name__ == "__main__":
    unittest.main()
