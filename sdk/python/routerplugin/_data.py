"""The plugin side of the data path: requests in, answers out, over the
two pipes the router passes (ROUTER_PLUGIN_DATA_FDS), in the router's
framing with its headers router-id, router-handler, router-deadline,
router-error and router-cancel (see the plugins package's documentation).

As in the Go SDK (plugins/dataserver.go), one thread reads a batch of
requests and answers it itself, in turn, and writes its answers in one
write. A watchdog thread looks at it every few milliseconds: when a
request has run SLOW_RUN or more (a slow or hung handler), it marks the
handler slow and starts a new thread on the rest of the batch and the
reading, so other requests wait at most that long. A slow handler's
requests run on a thread pool, each as soon as it is read. Answers are
written by whichever thread finds no write under way; what others add
meanwhile goes out in its next write.
"""

import collections
import os
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from . import _wire
from ._wire import Answer, Request


class Handler:
    """A handler function and what it serves."""

    __slots__ = ("name", "func", "actions", "content_types", "_last_trace", "slow", "quick")

    def __init__(self, name, func, actions=None, content_types=None):
        if not callable(func):
            raise TypeError(f"handler {name!r} is a {type(func).__name__}, not a function")
        self.name = name
        self.func = func
        self.actions = [name] if actions is None else list(actions)
        self.content_types = list(content_types or [])
        self._last_trace = 0.0
        # slow is set once a request ran inline for SLOW_RUN: its requests
        # then run on the pool, until QUICK_RUNS of them in a row took
        # under QUICK_RUN each.
        self.slow = False
        self.quick = 0

    def ran(self, seconds):
        """Records that a request of the handler ran on the pool."""
        if seconds >= QUICK_RUN:
            self.quick = 0
        else:
            self.quick += 1
            if self.quick >= QUICK_RUNS:
                self.quick = 0
                self.slow = False


# How long a request may run on the reading thread before the watchdog
# hands the rest of its batch, and the reading, to a new thread; and when
# a slow handler runs inline again. Running a request on the reading
# thread saves the hand-off to the pool, which took about as much CPU as
# the request (see BENCHMARKS.md, "Python plugins").
SLOW_RUN = 0.01
QUICK_RUN = 0.001
QUICK_RUNS = 64


class _Loop:
    """The state of one reading thread: its batch's requests not yet
    taken, its answers not yet written, and the request it runs
    (monotonic start, handler), which the watchdog watches."""

    __slots__ = ("work", "out", "running")

    def __init__(self, work):
        self.work = work
        self.out = []
        self.running = None


def run_handler(h, req, log=None):
    """Runs h on req and returns its Answer, or raises HandlerError with
    the text of the error answer."""
    try:
        ans = h.func(req)
    except BaseException as e:  # noqa: BLE001 - even sys.exit() is the request's error, not the reader's end
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
        self._dec = _wire.Decoder()  # the reader's
        self._wlock = threading.Lock()
        self._out = []
        self._writing = False
        self._failed = False
        self._lock = threading.Lock()
        self._cancel = {}  # router-id -> threading.Event of the requests in flight
        self._reader = None  # the _Loop that reads now
        self._reads = 0  # reads so far, for the watchdog
        self._ended = threading.Event()
        self._wake = threading.Event()
        self._watch_idle = False

    def serve(self):
        """Reads and answers requests until the router closes the data
        path or it fails; then returns."""
        threading.Thread(target=self._watchdog, name="routerplugin-watchdog", daemon=True).start()
        self._run_loop(_Loop(collections.deque()))
        self._ended.wait()

    def _read(self):
        """Reads a batch of frames; None once the data path has ended."""
        while True:
            try:
                data = os.read(self.rfd, 256 << 10)
            except InterruptedError:
                continue
            except OSError as e:
                self.log.error("data path read failed", extra={"error": str(e)})
                return None
            if not data:
                return None  # the router closed the data path, or died
            self._reads += 1
            if self._watch_idle:
                self._wake.set()
            try:
                return self._dec.feed(data)
            except _wire.ProtocolError as e:
                self.log.error("bad frame from the router", extra={"error": str(e)})
                return None

    def _run_loop(self, loop):
        """Answers loop's work, then reads and answers batches, until the
        data path ends or a request runs long and the watchdog gives the
        rest to another thread. Fast handlers run here, in turn, and their
        answers go out in one write a batch; slow ones run on the pool."""
        self._reader = loop
        while True:
            if not loop.work:
                self._flush(loop)
                frames = self._read()
                if frames is None:
                    self._ended.set()
                    return
                loop.work.extend(frames)
            while loop.work:
                header, content = loop.work.popleft()
                req = self._admit(header)
                if req is None:
                    continue
                rid, ev, h = req
                if h is None or h.slow:
                    self.pool.submit(self._answer_alone, rid, header, content, ev, h)
                    continue
                with self._lock:
                    loop.running = (time.monotonic(), h)
                frame = self._answer(rid, header, content, ev)
                with self._lock:
                    loop.running = None
                    taken = self._reader is not loop
                    loop.out.append(frame)
                if taken:
                    self._flush(loop)  # another thread has the rest
                    return

    def _flush(self, loop):
        with self._lock:
            frames, loop.out = loop.out, []
        if frames:
            self._write(b"".join(frames))

    def _watchdog(self):
        """Every slow/2, looks for a request that has run inline for
        SLOW_RUN or more: marks its handler slow and starts a new reader
        on the rest of the batch. Asleep while no request comes."""
        quiet = 0
        reads = -1
        while not self._ended.is_set():
            time.sleep(SLOW_RUN / 2)
            with self._lock:
                loop = self._reader
                running = loop.running if loop is not None else None
                if running is not None and time.monotonic() - running[0] >= SLOW_RUN:
                    running[1].slow = True
                    running[1].quick = 0
                    rest = _Loop(loop.work)
                    loop.work = collections.deque()
                    self._reader = rest
                    frames, loop.out = loop.out, []
                else:
                    rest = None
            if rest is not None:
                if frames:
                    self._write(b"".join(frames))
                threading.Thread(target=self._run_loop, args=(rest,), name="routerplugin-data", daemon=True).start()
                continue
            quiet = quiet + 1 if running is None and self._reads == reads else 0
            reads = self._reads
            if quiet >= 100:  # idle: sleep until a read, or a second
                self._watch_idle = True
                self._wake.wait(1.0)
                self._wake.clear()
                self._watch_idle = False
                quiet = 0

    def _admit(self, header):
        """Registers a request and returns (router-id, its cancel event,
        its handler or None), or handles a cancel frame and returns None."""
        rid = header.get(_wire.HDR_ID)
        if rid is None:
            cid = header.get(_wire.HDR_CANCEL)
            with self._lock:
                ev = self._cancel.get(cid)
            if ev is not None:
                ev.set()
            elif cid is None:
                self.log.error("frame from the router with neither router-id nor router-cancel")
            return None
        ev = threading.Event()
        with self._lock:
            self._cancel[rid] = ev
        return rid, ev, self.handlers.get(header.get(_wire.HDR_HANDLER))

    def _answer_alone(self, rid, header, content, ev, h):
        """Answers a request on a thread of the pool, and writes it."""
        start = time.monotonic()
        frame = self._answer(rid, header, content, ev)
        if h is not None:
            h.ran(time.monotonic() - start)
        self._write(frame)

    def _answer(self, rid, header, content, ev):
        try:
            frame = self._handle(rid, header, content, ev)
        except Exception as e:  # noqa: BLE001 - the SDK's own failure: still answer
            self.log.error("cannot answer", extra={"error": repr(e)})
            frame = error_frame(rid, f"plugin: cannot answer: {e!r}")
        with self._lock:
            self._cancel.pop(rid, None)
        return frame

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
