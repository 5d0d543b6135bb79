"""routerplugin: write plugins of the message router in Python.

A plugin is a script that hands its handlers to serve::

    from routerplugin import serve, reply_json

    ANSWERS = {"morpheus": "Follow the white rabbit. \\U0001f430"}

    def search(request):
        return reply_json({"result": ANSWERS.get(request.value, f"No match for '{request.value}'.")})

    serve({"search": search})

and a router config that runs it::

    plugins:
      search: { cmd: python3, args: [search.py] }
    routes:
      - { action: search, plugin: search }

A handler takes a Request and returns an answer made by reply_json,
reply_text or reply_binary. An exception becomes that request's error
answer, with the exception's text; any other return value is an error
naming the handler. Quick requests are answered by the thread that
reads them; a handler that takes 10 ms or more runs on a thread pool, its
requests concurrently. Each request knows its deadline
(request.deadline, request.time_left()).

Logs: use routerplugin.logger() (or the logging module: serve sends the
root logger's lines the same way); they go to standard error as hclog
JSON, which the router re-emits under the plugin's name. Standard output
belongs to the handshake with the router: after it, the SDK points it at
standard error, so print() is harmless.

serve needs Debian's python3-grpcio and python3-protobuf; the rest of
the package (Request, the reply functions, routerplugin.testing) is pure
Python, so handler unit tests run without them.
"""

from ._log import make_logger as _make_logger
from ._serve import serve
from ._wire import Answer, Request, reply_binary, reply_json, reply_text

__all__ = ["serve", "Request", "Answer", "reply_json", "reply_text", "reply_binary", "logger"]

__version__ = "0.1.0"


def logger(name="plugin"):
    """A logging.Logger whose lines the router re-emits under the plugin's
    name (hclog JSON on standard error). Fields passed as `extra` become
    the line's fields: logger().info("loaded", extra={"entries": 3})."""
    return _make_logger(name)
