"""The plugin side of the data path: requests in, answers out, over the
two pipes the router passes (ROUTER_PLUGIN_DATA_FDS), in the router's
framing with its headers router-id, router-handler, router-deadline,
router-error and router-cancel (see the plugins package's documentation).

One thread reads and decodes; each request runs on a thread of a pool;
answers are written by whichever thread finds no write under way, and
what others add meanwhile goes out in its next write, so that under load
one write carries many answers.
"""

import os
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from . import _wire
from ._wire import Answer, Request


class Handler:
    """A handler function and what it serves."""

    __slots__ = ("name", "func", "actions", "content_types", "_last_trace")

    def __init__(self, name, func, actions=None, content_types=None):
        if not callable(func):
            raise TypeError(f"handler {name!r} is a {type(func).__name__}, not a function")
        self.name = name
        self.func = func
        self.actions = [name] if actions is None else list(actions)
        self.content_types = list(content_types or [])
        self._last_trace = 0.0


def run_handler(h, req, log=None):
    """Runs h on req and returns its Answer, or raises HandlerError with
    the text of the error answer."""
    try:
        ans = h.func(req)
    except Exception as e:  # noqa: BLE001 - any exception is the request's error
        text = str(e) or type(e).__name__
        if log is not None:
            now = time.monotonic()
            if now - h._last_trace >= 1.0:  # a traceback a second per handler at most
                h._last_trace = now
                log.error("handler failed", extra={"handler": h.name, "error": text,
                                                   "traceback": traceback.format_exc()})
        raise HandlerError(text) from e
    if not isinstance(ans, Answer):
        raise HandlerError(
            f"handler {h.name!r} returned {type(ans).__name__}, not an answer: "
            "return reply_json(...), reply_text(...) or reply_binary(...)")
    return ans


class HandlerError(Exception):
    """A request's error: the text its error answer carries."""


class DataServer:
    """Serves the data path on descriptors rfd (requests) and wfd
    (answers)."""

    def __init__(self, handlers, rfd, wfd, log, workers=16, max_answer=0):
        self.handlers = handlers
        self.rfd, self.wfd = rfd, wfd
        self.log = log
        self.max_answer = max_answer
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="routerplugin")
        self._wlock = threading.Lock()
        self._out = []
        self._writing = False
        self._failed = False
        self._lock = threading.Lock()
        self._cancel = {}  # router-id -> threading.Event of the requests in flight

    def serve(self):
        """Reads and dispatches requests until the router closes the data
        path or it fails; then returns."""
        dec = _wire.Decoder()
        while True:
            try:
                data = os.read(self.rfd, 256 << 10)
            except InterruptedError:
                continue
            except OSError as e:
                self.log.error("data path read failed", extra={"error": str(e)})
                return
            if not data:
                return  # the router closed the data path, or died
            try:
                frames = dec.feed(data)
            except _wire.ProtocolError as e:
                self.log.error("bad frame from the router", extra={"error": str(e)})
                return
            for header, content in frames:
                self._dispatch(header, content)

    def _dispatch(self, header, content):
        rid = header.get(_wire.HDR_ID)
        if rid is None:
            cid = header.get(_wire.HDR_CANCEL)
            with self._lock:
                ev = self._cancel.get(cid)
            if ev is not None:
                ev.set()
            elif cid is None:
                self.log.error("frame from the router with neither router-id nor router-cancel")
            return
        ev = threading.Event()
        with self._lock:
            self._cancel[rid] = ev
        self.pool.submit(self._answer, rid, header, content, ev)

    def _answer(self, rid, header, content, ev):
        try:
            frame = self._handle(rid, header, content, ev)
        except Exception as e:  # noqa: BLE001 - the SDK's own failure: still answer
            self.log.error("cannot answer", extra={"error": repr(e)})
            frame = error_frame(rid, f"plugin: cannot answer: {e!r}")
        with self._lock:
            self._cancel.pop(rid, None)
        self._write(frame)

    def _handle(self, rid, header, content, ev):
        name = header.get(_wire.HDR_HANDLER)
        dl = header.get(_wire.HDR_DEADLINE)
        for key in _wire.ROUTER_HEADERS:
            header.pop(key, None)
        h = self.handlers.get(name)
        if h is None:
            return error_frame(rid, f"plugin: no handler {name!r}")
        if ev.is_set():
            return error_frame(rid, "plugin: the router gave up on the request before it ran")
        deadline = dl / 1e9 if isinstance(dl, int) else None
        try:
            ans = run_handler(h, Request(header, content, name, deadline, ev), self.log)
            frame = answer_frame(rid, ans)
        except HandlerError as e:
            return error_frame(rid, str(e))
        except (ValueError, TypeError) as e:  # an answer that cannot be encoded
            return error_frame(rid, f"handler {name!r}: cannot encode its answer: {e}")
        if self.max_answer and len(ans.content) > self.max_answer:
            return error_frame(rid, (
                f"plugins: answer above the router's limit: handler {name!r} answered "
                f"{len(ans.content)} bytes of content, above the router's limit of "
                f"{self.max_answer} (limits.max_content_length)"))
        return frame

    def _write(self, frame):
        """Writes frame, with whatever other threads add meanwhile."""
        with self._wlock:
            if self._failed:
                return
            self._out.append(frame)
            if self._writing:
                return  # the thread writing takes it along
            self._writing = True
        while True:
            with self._wlock:
                if not self._out or self._failed:
                    self._writing = False
                    return
                data = b"".join(self._out)
                self._out.clear()
            try:
                view = memoryview(data)
                while view:
                    n = os.write(self.wfd, view)
                    view = view[n:]
            except OSError as e:
                with self._wlock:
                    self._failed = True
                    self._writing = False
                    self._out.clear()
                self.log.error("data path write failed", extra={"error": str(e)})
                return

    def close(self):
        self.pool.shutdown(wait=False, cancel_futures=True)


def answer_frame(rid, ans):
    """The data-path frame of an answer to request rid."""
    items = ans._header_items()
    items.append((_wire.HDR_ID, rid))
    return _wire.encode_frame(ans.content_type, ans.content_encoding, ans.content, items)


def error_frame(rid, text):
    """The data-path frame of an error answer to request rid."""
    raw = text.encode("utf-8")
    if len(raw) > _wire.MAX_ERROR_TEXT:
        cut = raw[:_wire.MAX_ERROR_TEXT].decode("utf-8", "ignore")
        text = f"{cut}… ({len(raw) - len(cut.encode('utf-8'))} bytes cut)"
    return _wire.encode_frame("text/json", "utf-8", b"", [(_wire.HDR_ID, rid), (_wire.HDR_ERROR, text)])
