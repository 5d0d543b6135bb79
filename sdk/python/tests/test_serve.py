"""serve's checks, and the process started by hand (not by a router)."""

import json
import os
import subprocess
import sys
import unittest

from routerplugin._serve import EXIT_MISSING_PACKAGES, MAGIC_KEY, MAGIC_VALUE, Plugin

HERE = os.path.dirname(os.path.abspath(__file__))
SDK = os.path.dirname(HERE)
EXAMPLE = os.path.join(SDK, "..", "..", "examples", "python", "search.py")

# Runs the example with the grpc package hidden, as on a Python without
# python3-grpcio.
WITHOUT_GRPC = """
import runpy, sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "grpc" or name.startswith("grpc."):
            raise ModuleNotFoundError("No module named 'grpc'", name="grpc")
sys.meta_path.insert(0, Hide())
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run(args, env=None):
    e = dict(os.environ)
    e.pop(MAGIC_KEY, None)
    e.update(env or {})
    return subprocess.run([sys.executable] + args, env=e, capture_output=True, timeout=60, text=True)


class ServeTest(unittest.TestCase):
    def test_not_started_by_a_router(self):
        p = run([EXAMPLE])
        self.assertEqual(p.returncode, 1)
        self.assertIn("not meant to be run directly", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_missing_grpc(self):
        p = run(["-c", WITHOUT_GRPC, EXAMPLE], env={MAGIC_KEY: MAGIC_VALUE})
        self.assertEqual(p.returncode, EXIT_MISSING_PACKAGES, p.stderr)
        self.assertEqual(p.stdout, "")  # no handshake line
        line = json.loads(p.stderr.splitlines()[0])
        self.assertEqual(line["@level"], "error")
        for want in ("python3-grpcio", "python3-protobuf", "No module named 'grpc'", sys.executable):
            self.assertIn(want, line["@message"])

    def test_bad_plugins(self):
        def h(req):
            return None

        cases = [
            ({}, {}),
            ({"a": h}, {"routes": {"b": {}}}),
            ({"a": h}, {"routes": {"a": {"action": ["x"]}}}),
            ({"": h}, {}),
        ]
        for handlers, kw in cases:
            with self.subTest(handlers=handlers, kw=kw), self.assertRaises(ValueError):
                Plugin(handlers, **kw)
        with self.assertRaisesRegex(TypeError, "handler 'a' is a str, not a function"):
            Plugin({"a": "h"})

    def test_defaults(self):
        p = Plugin({"a": lambda r: None})
        self.assertEqual(p.version, "devel")
        self.assertEqual(p.handlers["a"].actions, ["a"])
        self.assertEqual(p.handlers["a"].content_types, [])


if __name__ == "__main__":
    unittest.main()
