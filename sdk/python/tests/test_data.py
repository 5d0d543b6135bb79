"""The data path, over real pipes, without a router: what the router
writes in, what the plugin writes back."""

import logging
import os
import threading
import time
import unittest

from routerplugin import reply_binary, reply_json
from routerplugin._data import DataServer, Handler
from routerplugin._wire import Decoder, encode_frame


def request_frame(rid, handler, content=b'{"action": "search", "value": "ring"}', deadline=None,
                  content_type="text/json"):
    headers = [("x-client", "kept"), ("router-id", rid), ("router-handler", handler)]
    if deadline is not None:
        headers.append(("router-deadline", int(deadline * 1e9)))
    return encode_frame(content_type, "utf-8", content, headers)


class Plugin:
    """A DataServer on two pipes, and the router's ends of them."""

    def __init__(self, handlers, **kw):
        req_r, self.req_w = os.pipe()
        self.ans_r, ans_w = os.pipe()
        log = logging.getLogger("test-data")
        log.addHandler(logging.NullHandler())
        log.propagate = False
        hs = {name: Handler(name, f) for name, f in handlers.items()}
        self.server = DataServer(hs, req_r, ans_w, log, **kw)
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()
        self.dec = Decoder()
        self.fds = (req_r, ans_w)

    def send(self, data):
        os.write(self.req_w, data)

    def answers(self, n, timeout=10):
        """Reads until n answers came; returns them by router-id."""
        got = {}
        end = time.monotonic() + timeout
        while len(got) < n:
            if time.monotonic() > end:
                raise AssertionError(f"{len(got)} of {n} answers within {timeout}s: {got}")
            for header, content in self.dec.feed(os.read(self.ans_r, 65536)):
                self.assert_one(got, header)
                got[header["router-id"]] = (header, content)
        return got

    @staticmethod
    def assert_one(got, header):
        if header["router-id"] in got:
            raise AssertionError(f"two answers for router-id {header['router-id']}")

    def close(self):
        os.close(self.req_w)
        self.thread.join(10)
        self.server.close()
        for fd in self.fds + (self.ans_r,):
            os.close(fd)


def search(req):
    return reply_json({"result": f"found {req.value}", "header": req.header.get("x-client")})


class DataServerTest(unittest.TestCase):
    def plugin(self, handlers, **kw):
        p = Plugin(handlers, **kw)
        self.addCleanup(p.close)
        return p

    def test_answer(self):
        p = self.plugin({"search": search})
        p.send(request_frame(7, "search"))
        header, content = p.answers(1)[7]
        self.assertEqual(content, b'{"result": "found ring", "header": "kept"}')
        self.assertEqual(list(header), ["byteorder", "content-type", "content-encoding", "content-length", "router-id"])

    def test_router_headers_are_not_the_handlers(self):
        seen = []
        p = self.plugin({"h": lambda req: seen.append(dict(req.header)) or reply_binary(b"")})
        p.send(request_frame(1, "h", deadline=time.time() + 5))
        p.answers(1)
        self.assertEqual(sorted(seen[0]), ["byteorder", "content-encoding", "content-length", "content-type", "x-client"])

    def test_deadline(self):
        left = []
        p = self.plugin({"h": lambda req: left.append(req.time_left()) or reply_binary(b"")})
        p.send(request_frame(1, "h", deadline=time.time() + 5) + request_frame(2, "h"))
        p.answers(2)
        self.assertTrue(any(v is not None and 4 < v <= 5 for v in left), left)
        self.assertIn(None, left)

    def test_errors(self):
        def boom(req):
            raise KeyError("no such thing")

        p = self.plugin({"boom": boom, "wrong": lambda req: {"result": 1}, "empty": lambda req: 1 / 0})
        p.send(request_frame(1, "boom") + request_frame(2, "wrong") + request_frame(3, "nobody")
               + request_frame(4, "empty"))
        got = p.answers(4)
        self.assertEqual(got[1][0]["router-error"], "'no such thing'")
        self.assertEqual(got[2][0]["router-error"],
                         "handler 'wrong' returned dict, not an answer: return reply_json(...), "
                         "reply_text(...) or reply_binary(...)")
        self.assertEqual(got[3][0]["router-error"], "plugin: no handler 'nobody'")
        self.assertEqual(got[4][0]["router-error"], "division by zero")
        for header, content in got.values():
            self.assertEqual((header["content-length"], content), (0, b""))

    def test_long_error_is_cut(self):
        def long(req):
            raise ValueError("\u00e9" * 10000)

        p = self.plugin({"h": long})
        p.send(request_frame(1, "h"))
        text = p.answers(1)[1][0]["router-error"]
        self.assertLessEqual(len(text.encode()), (8 << 10) + 40)
        self.assertTrue(text.endswith("bytes cut)"), text[-40:])

    def test_answer_limit(self):
        p = self.plugin({"big": lambda req: reply_binary(b"x" * 100)}, max_answer=10)
        p.send(request_frame(1, "big"))
        self.assertIn("above the router's limit of 10", p.answers(1)[1][0]["router-error"])

    def test_concurrent(self):
        """Slow requests run at once on the pool, and each gets one answer."""
        def slow(req):
            time.sleep(0.2)
            return reply_binary(req.content)

        p = self.plugin({"slow": slow}, workers=32)
        start = time.monotonic()
        p.send(b"".join(request_frame(i, "slow", content=str(i).encode()) for i in range(1, 33)))
        got = p.answers(32)
        self.assertLess(time.monotonic() - start, 2.0)  # not 32 * 0.2 s
        self.assertEqual({k: v[1] for k, v in got.items()}, {i: str(i).encode() for i in range(1, 33)})

    def test_cancel(self):
        """A request the router gave up on is marked cancelled; one given up
        on before it ran is answered at once without running."""
        started, release = threading.Semaphore(0), threading.Event()
        ran = []

        def wait(req):
            ran.append(req.content)
            started.release()
            release.wait(10)
            return reply_binary(b"cancelled" if req.cancelled() else b"not cancelled")

        p = self.plugin({"wait": wait}, workers=1)
        p.send(request_frame(1, "wait", content=b"1"))  # runs on the reader, then taken over
        self.assertTrue(started.acquire(timeout=10))
        time.sleep(0.1)  # the watchdog marks "wait" slow
        p.send(request_frame(3, "wait", content=b"3"))  # on the pool's one thread
        self.assertTrue(started.acquire(timeout=10))
        p.send(request_frame(2, "wait", content=b"2") + encode_frame("text/json", "utf-8", b"", [("router-cancel", 1)])
               + encode_frame("text/json", "utf-8", b"", [("router-cancel", 2)]))
        time.sleep(0.1)  # the cancel frames are read
        release.set()
        got = p.answers(3)
        self.assertEqual(got[1][1], b"cancelled")
        self.assertEqual(got[3][1], b"not cancelled")
        self.assertIn("gave up", got[2][0]["router-error"])
        self.assertEqual(sorted(ran), [b"1", b"3"])

    def test_slow_handler_holds_up_nothing(self):
        """A hung handler holds up the others of its batch, and those read
        after it, by about SLOW_RUN only: the watchdog hands them to a new
        reading thread."""
        release = threading.Event()
        self.addCleanup(release.set)

        def hang(req):
            release.wait(10)
            return reply_binary(b"late")

        p = self.plugin({"hang": hang, "search": search})
        start = time.monotonic()
        p.send(request_frame(1, "hang") + request_frame(2, "search"))
        got = p.answers(1)
        self.assertIn(2, got)
        p.send(request_frame(3, "hang") + request_frame(4, "search"))  # "hang" is slow now: on the pool
        got = p.answers(1)
        self.assertIn(4, got)
        self.assertLess(time.monotonic() - start, 2)
        release.set()
        self.assertEqual(sorted(p.answers(2)), [1, 3])

    def test_slow_handler_runs_inline_again(self):
        """A handler marked slow runs on the reading thread again after
        QUICK_RUNS quick requests."""
        from routerplugin import _data

        calls = []

        def sometimes_slow(req):
            calls.append(threading.current_thread().name)
            if req.content == b"slow":
                time.sleep(0.1)
            return reply_binary(b"")

        p = self.plugin({"h": sometimes_slow})
        p.send(request_frame(1, "h", content=b"slow"))
        p.answers(1)
        n = _data.QUICK_RUNS + 5
        for i in range(n):
            p.send(request_frame(10 + i, "h", content=b"quick"))
            p.answers(1)
        self.assertTrue(calls[1].startswith("routerplugin_"), calls[1])  # the pool's
        self.assertFalse(calls[-1].startswith("routerplugin_"), calls[-1])  # a reader's

    def test_eof_ends_serve(self):
        p = Plugin({"h": search})
        os.close(p.req_w)
        p.thread.join(10)
        self.assertFalse(p.thread.is_alive())
        p.server.close()
        for fd in p.fds + (p.ans_r,):
            os.close(fd)


if __name__ == "__main__":
    unittest.main()
