"""routerplugin.testing, and the example search handler through it."""

import importlib.util
import os
import unittest

from routerplugin import reply_json
from routerplugin.testing import HandlerError, call, cancel, json_request, request

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "python", "search.py")


def load_example():
    spec = importlib.util.spec_from_file_location("search_example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # serve() runs only as __main__
    return mod


class CallTest(unittest.TestCase):
    def test_answer(self):
        ans = call(lambda req: reply_json({"v": req.value, "a": req.action}), json_request({"action": "x", "value": 2}))
        self.assertEqual(ans.json(), {"v": 2, "a": "x"})

    def test_exception_text(self):
        def fails(req):
            raise RuntimeError("database down")

        with self.assertRaises(HandlerError) as cm:
            call(fails, request(b"x"))
        self.assertEqual(str(cm.exception), "database down")

    def test_exception_without_text_is_its_type(self):
        def fails(req):
            raise LookupError()

        with self.assertRaisesRegex(HandlerError, "^LookupError$"):
            call(fails, request(b"x"))

    def test_sys_exit_is_an_error(self):
        def leaves(req):
            raise SystemExit(3)

        with self.assertRaisesRegex(HandlerError, "^3$"):
            call(leaves, request(b"x"))

    def test_wrong_return_type_names_the_handler(self):
        def lookup(req):
            return "a string"

        with self.assertRaisesRegex(HandlerError, "handler 'lookup' returned str, not an answer"):
            call(lookup, request(b"x"))

    def test_request_fields(self):
        req = json_request('{"action": "a"}', headers={"request-id": "r1"}, timeout=5)
        self.assertEqual((req.content_type, req.content_encoding, req.action, req.value), ("text/json", "utf-8", "a", None))
        self.assertEqual(req.header["request-id"], "r1")
        self.assertTrue(4 < req.time_left() <= 5)
        self.assertFalse(req.cancelled())
        cancel(req)
        self.assertTrue(req.cancelled())
        self.assertIsNone(request(b"").time_left())

    def test_action_of_binary_is_none(self):
        self.assertIsNone(request(b'{"action": "a"}').action)

    def test_bad_json(self):
        for content, encoding in ((b"{", "utf-8"), (b"\xff", "utf-8"), (b"{}", "no-such-codec")):
            req = request(content, content_type="text/json", content_encoding=encoding)
            with self.subTest(content=content), self.assertRaises(ValueError):
                req.json()


class SearchExampleTest(unittest.TestCase):
    """The example's answers, as the reference's texts."""

    @classmethod
    def setUpClass(cls):
        cls.search = staticmethod(load_example().search)

    def result(self, content):
        return call(self.search, json_request(content)).json()["result"]

    def test_answers(self):
        cases = [
            ('{"action": "search", "value": "morpheus"}', "Follow the white rabbit. \U0001f430"),
            ('{"action": "search", "value": "ring"}', "In the caves beneath the Misty Mountains. \U0001f48d"),
            ('{"action": "search", "value": "\U0001f436"}', "\U0001f43e Playing ball! \U0001f3d0"),
            ('{"action": "search", "value": "neo"}', "No match for 'neo'."),
            ('{"action": "search"}', "No match for 'None'."),
            ('{"action": "search", "value": 1e16}', "No match for '1e+16'."),
            ('{"action": "search", "value": [true, null]}', "No match for '[True, None]'."),
            ('{"action": "find", "value": "ring"}', "Error: invalid action 'find'."),
            ('{}', "Error: invalid action 'None'."),
        ]
        for content, want in cases:
            with self.subTest(content=content):
                self.assertEqual(self.result(content), want)

    def test_not_an_object(self):
        with self.assertRaisesRegex(HandlerError, "not a JSON object"):
            call(self.search, json_request("[1]"))


if __name__ == "__main__":
    unittest.main()
