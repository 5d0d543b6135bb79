#!/usr/bin/env python3
"""A plugin that misbehaves on request, for examples/python's fault tests.

Each handler serves the JSON action of its name; value is its argument.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "sdk", "python"))

from routerplugin import logger, reply_json, serve  # noqa: E402

SETTINGS = {}
log = logger()


def init(settings):
    SETTINGS.update(settings)
    log.info("init", extra={"settings": settings})


def echo(req):
    return reply_json({"result": req.value})


def pid(req):
    return reply_json({"result": str(os.getpid())})


def fail(req):
    raise ValueError(f"the handler broke on {req.value!r}")


def wrong(req):
    return {"result": "a dict is not an answer"}


def hang(req):
    # Sleeps value seconds, whatever the deadline.
    time.sleep(float(req.value))
    return reply_json({"result": "woke up"})


def deadline(req):
    left = req.time_left()
    return reply_json({"result": "none" if left is None else f"{left:.3f}"})


def noisy(req):
    # Everything a careless handler could write to standard output,
    # a line that looks like go-plugin's handshake included.
    print("1|1|tcp|127.0.0.1:1|grpc")
    print("x" * 100000)
    print('{"@level": "error", "@message": "not a log line"}', flush=True)
    os.write(1, b"straight to descriptor 1\n")
    sys.stdout.flush()
    return reply_json({"result": "printed"})


def settings(req):
    return reply_json({"result": SETTINGS.get(req.value)})


if __name__ == "__main__":
    serve({"echo": echo, "pid": pid, "fail": fail, "wrong": wrong, "hang": hang,
           "deadline": deadline, "noisy": noisy, "settings": settings},
          name="faults", init=init)
