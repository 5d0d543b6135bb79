"""Pieces of the control channel and of the logs."""

import base64
import datetime
import io
import json
import logging
import os
import unittest

from routerplugin import _log


class LogTest(unittest.TestCase):
    count = 0

    def line(self, emit):
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        LogTest.count += 1
        log = logging.getLogger(f"test-log-{LogTest.count}")
        log.propagate = False
        h = _log.HclogHandler(w)
        log.addHandler(h)
        log.setLevel(1)
        emit(log)
        os.close(w)
        with io.open(r, "rb", closefd=False) as f:
            return json.loads(f.read().decode())

    def test_hclog_fields(self):
        line = self.line(lambda log: log.warning("slow: %d ms", 12, extra={"handler": "search"}))
        self.assertEqual(line["@level"], "warn")
        self.assertEqual(line["@message"], "slow: 12 ms")
        self.assertEqual(line["handler"], "search")
        # go-plugin parses this layout: 2006-01-02T15:04:05.000000Z07:00
        ts = line["@timestamp"]
        self.assertRegex(ts, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")
        datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))

    def test_levels(self):
        for emit, want in ((lambda log: log.debug("d"), "debug"), (lambda log: log.info("i"), "info"),
                           (lambda log: log.error("e"), "error"), (lambda log: log.log(5, "t"), "trace")):
            with self.subTest(want=want):
                self.assertEqual(self.line(emit)["@level"], want)

    def test_exception(self):
        def emit(log):
            try:
                raise ValueError("bad")
            except ValueError:
                log.exception("failed")
        self.assertIn("ValueError: bad", self.line(emit)["error"])


try:
    from routerplugin import _control
except ImportError:  # pragma: no cover - without grpc
    _control = None


@unittest.skipIf(_control is None, "needs python3-grpcio and python3-protobuf")
class ControlTest(unittest.TestCase):
    def test_health_service(self):
        self.assertEqual(_control.health_service(b""), "")
        self.assertEqual(_control.health_service(b"\x0a\x06plugin"), "plugin")
        self.assertEqual(_control.health_service(b"\x10\x01\x0a\x01x"), "x")  # an unknown field first

    def test_der_b64_is_unpadded(self):
        der = bytes(range(200))
        pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"
        got = _control._der_b64(pem)
        self.assertNotIn("=", got)
        self.assertEqual(base64.b64decode(got + "=" * (-len(got) % 4)), der)

    def test_describe(self):
        from routerplugin._serve import Plugin

        p = Plugin({"search": lambda r: None, "echo": lambda r: None}, name="n", version="v",
                   routes={"search": {"content_types": ["text/json"], "actions": ["search", "find"]}})
        resp = _control.ControlServer(p, None, None)._describe(None, None)
        self.assertEqual((resp.name, resp.version, resp.data_protocol), ("n", "v", 1))
        got = {h.name: (list(h.actions), list(h.content_types)) for h in resp.handlers}
        self.assertEqual(got, {"search": (["search", "find"], ["text/json"]), "echo": (["echo"], [])})


if __name__ == "__main__":
    unittest.main()
