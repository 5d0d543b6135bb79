"""Helpers for unit tests of handler functions, with no router and no
gRPC: build a Request as the router would hand it over, and call a handler
as the SDK does.

    import unittest
    from routerplugin.testing import call, json_request
    from search import search

    class SearchTest(unittest.TestCase):
        def test_ring(self):
            ans = call(search, json_request({"action": "search", "value": "ring"}))
            self.assertEqual(ans.json(), {"result": "In the caves beneath the Misty Mountains. \\U0001f48d"})

call returns the handler's Answer, or raises HandlerError with the text
the client's error answer would carry (an exception's text, or the
wrong-return-type message). For an end-to-end test of the plugin process
itself, see plugins/plugintest in the Go module.
"""

import sys
import threading
import time

from ._data import Handler, HandlerError, run_handler
from ._wire import Request, dumps

__all__ = ["call", "cancel", "request", "json_request", "HandlerError"]


def request(content=b"", *, content_type="binary/custom-client-binary-type", content_encoding="binary",
            headers=None, timeout=None):
    """A Request of raw content (bytes, or str written in utf-8), with
    extension headers (a dict) and a deadline timeout seconds from now
    (None: no deadline)."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    header = {
        "byteorder": sys.byteorder,
        "content-type": content_type,
        "content-encoding": content_encoding,
        "content-length": len(content),
    }
    header.update(headers or {})
    deadline = None if timeout is None else time.time() + timeout
    return Request(header, bytes(content), "", deadline, threading.Event())


def json_request(obj, **kw):
    """A "text/json", "utf-8" Request whose content is obj written as the
    tutorial's client writes it; obj may also be JSON text (str)."""
    content = obj if isinstance(obj, str) else dumps(obj)
    return request(content.encode("utf-8"), content_type="text/json", content_encoding="utf-8", **kw)


def call(func, req, name=None):
    """Calls handler func with req as the plugin would, and returns its
    Answer; raises HandlerError with the error answer's text if it fails
    or returns something else than an answer."""
    name = name or getattr(func, "__name__", "handler")
    req.handler = name
    ans = run_handler(Handler(name, func), req)
    ans._header_items()  # reserved header names fail here as in the plugin
    return ans


def cancel(req):
    """Marks req as given up on by the router (req.cancelled() is then
    True), for a test of a handler that checks it."""
    req._cancelled.set()




