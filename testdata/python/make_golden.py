#!/usr/bin/env python3
"""Regenerate testdata/golden/*.bin from the Python reference.

Usage: python3 testdata/python/make_golden.py   (from anywhere)

It starts reference_server.py on 127.0.0.1 with a free port, sends each
request below over a raw socket, reads until the server closes (the
reference answers once, then closes) and writes

    testdata/golden/NAME_request.bin   the exact request frame sent
    testdata/golden/NAME.bin           the exact answer frame received

Request frames are built by the reference client's own code
(app_client.create_request + Message.queue_request) where the reference
client can send them. The client can only send {"action": "search",
"value": <string>} as JSON, so the other JSON cases build the frame with the
client's _create_message around a content the case supplies, either a dict
(encoded with the client's _json_encode) or raw bytes (to reach layouts
json.dumps never writes: compact, escaped, duplicate keys, -0, 1e16).

Nothing here is computed by the router's code: the answers are whatever
the Python reference sent. Finally it runs app_client.py against the server
once per client case as a smoke test of the client itself.
"""

import os
import socket
import struct
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(os.path.dirname(HERE), "golden")
sys.path.insert(0, HERE)

import app_client  # noqa: E402


def client_frame(action, value):
    """The exact bytes app_client.py sends for ACTION VALUE."""
    msg = app_client.Message(None, None, None, app_client.create_request(action, value))
    msg.queue_request()
    return msg._send_buffer


def json_frame(content):
    """A text/json frame in the reference client's layout. content is a
    dict (encoded as the client encodes JSON) or raw bytes."""
    msg = app_client.Message(None, None, None, None)
    if not isinstance(content, bytes):
        content = msg._json_encode(content, "utf-8")
    return msg._create_message(
        content_bytes=content, content_type="text/json", content_encoding="utf-8"
    )


# (name, request frame, what it shows). app_client cases come first.
CLIENT_CASES = [
    ("search_morpheus", ("search", "morpheus"), "table hit"),
    ("search_ring", ("search", "ring"), "table hit"),
    ("search_dog", ("search", "\U0001f436"), "non-ASCII key and answer"),
    ("search_miss", ("search", "neo"), "miss: No match for 'V'."),
    (
        "search_escapes",
        ("search", 'q" b\\ n\n t\t c\x01 ls\u2028 <&> \u00e9'),
        "miss whose echo of V needs json.dumps escaping",
    ),
    ("binary", ("binary", "\U0001f603"), "tutorial example: 10-byte content"),
    ("binary_long", ("binary", "hello world"), "content cut to 10 bytes"),
    ("binary_short", ("x", "y"), "content shorter than 10 bytes"),
    ("binary_split", ("binary", "ab\U0001f603"), "cut inside a UTF-8 sequence"),
]

JSON_CASES = [
    ("search_invalid_action", {"action": "find", "value": "ring"}, "other action"),
    ("search_missing_value", {"action": "search"}, "value missing: None"),
    ("search_missing_action", {"value": "ring"}, "action missing: None"),
    ("search_action_int", {"action": 7, "value": "ring"}, "non-string action"),
    ("search_value_true", {"action": "search", "value": True}, "True"),
    ("search_value_false", {"action": "search", "value": False}, "False"),
    ("search_value_null", {"action": "search", "value": None}, "None"),
    ("search_value_int", {"action": "search", "value": -42}, "integer"),
    ("search_value_negzero", b'{"action": "search", "value": -0}', "int -0 is 0"),
    ("search_value_float", {"action": "search", "value": 1.5}, "float repr"),
    ("search_value_exp", b'{"action": "search", "value": 1E16}', "float repr 1e+16"),
    ("search_value_small", b'{"action": "search", "value": 0.00001}', "float repr 1e-05"),
    (
        "search_compact_escaped",
        b'{"value":"\\ud83d\\udc36","action":"se\\u0061rch"}',
        "compact, \\u escapes, keys reordered",
    ),
    (
        "search_duplicate_keys",
        b'{"action": "search", "value": "ring", "value": "morpheus"}',
        "last duplicate wins",
    ),
    (
        "search_action_list",
        b'{"action": ["a", 1, true, false, null, 1.5, 1E16, -0, 123456789012345678901234567890, [], {}], "value": "x"}',
        "list action: Python repr",
    ),
    (
        "search_action_object",
        b'{"action": {"q": "it\'s", "d": "say \\"hi\\"", "both": "\'\\"", "b": "back\\\\slash", "c": "\\t\\n\\r\\u0001\\u007f\\u0085\\u00a0\\u00e9\\u2028\\ud83d\\ude00\\udb40\\udc01", "n": {"x": [1, {"y": null}]}}, "value": "x"}',
        "dict action: repr quotes, escapes, nesting",
    ),
    (
        "search_action_object_dup",
        b'{"action": {"a": 1, "b": 2, "a": 3}, "value": "x"}',
        "dict action with a duplicate key: first place, last value",
    ),
]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-u", os.path.join(HERE, "reference_server.py"), "127.0.0.1", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("Listening on"):
        proc.kill()
        raise SystemExit(f"reference server did not start: {line!r}{proc.stdout.read()}")
    log = []
    threading.Thread(target=lambda: log.extend(proc.stdout), daemon=True).start()
    return proc, port, log


def exchange(port, request):
    """Send one request, return every byte until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        chunks = []
        while True:
            data = s.recv(4096)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def check_frame(name, frame):
    """The answer must be exactly one well-formed frame."""
    import json

    if len(frame) < 2:
        raise SystemExit(f"{name}: no answer (the reference closed without answering)")
    (hlen,) = struct.unpack(">H", frame[:2])
    header = json.loads(frame[2 : 2 + hlen].decode("utf-8"))
    if 2 + hlen + header["content-length"] != len(frame):
        raise SystemExit(f"{name}: answer is not exactly one frame: {frame!r}")


def write(name, data):
    with open(os.path.join(GOLDEN, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(GOLDEN, exist_ok=True)
    cases = [(n, client_frame(*av), d) for n, av, d in CLIENT_CASES]
    cases += [(n, json_frame(c), d) for n, c, d in JSON_CASES]
    proc, port, log = start_server()
    try:
        for name, request, what in cases:
            answer = exchange(port, request)
            check_frame(name, answer)
            write(f"{name}_request.bin", request)
            write(f"{name}.bin", answer)
            print(f"{name:24} {what}\n  -> {answer!r}")
        for _, (action, value), _ in CLIENT_CASES[:1] + CLIENT_CASES[5:6]:
            out = subprocess.run(
                [sys.executable, os.path.join(HERE, "app_client.py"), "127.0.0.1", str(port), action, value],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout
            got = [l for l in out.splitlines() if l.startswith("got ")]
            print(f"app_client.py {action} {value!r}: {got}")
            if len(got) != 1:
                raise SystemExit(f"app_client.py printed no answer:\n{out}")
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    print(f"wrote {2 * len(cases)} files to {GOLDEN} (sys.byteorder={sys.byteorder})")


if __name__ == "__main__":
    main()
