"""Logs in the form the router re-emits: one hclog JSON object a line on
standard error, which go-plugin parses ("@level", "@message",
"@timestamp", then the fields) and logs again under the plugin's name.
"""

import datetime
import json
import logging
import os
import threading

_LEVELS = (
    (logging.ERROR, "error"),
    (logging.WARNING, "warn"),
    (logging.INFO, "info"),
    (logging.DEBUG, "debug"),
)

# The attributes every logging.LogRecord has: the others were passed in
# `extra` and become fields of the line.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _level(levelno):
    for floor, name in _LEVELS:
        if levelno >= floor:
            return name
    return "trace"


def _timestamp(created):
    t = datetime.datetime.fromtimestamp(created, datetime.timezone.utc).astimezone()
    # hclog's layout, which go-plugin parses: 2006-01-02T15:04:05.000000Z07:00
    s = t.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
    if s.endswith("+0000"):
        return s[:-5] + "Z"
    return s[:-2] + ":" + s[-2:]


class HclogHandler(logging.Handler):
    """A logging.Handler that writes hclog JSON lines to a descriptor
    (standard error's, as the process started)."""

    def __init__(self, fd=2, module=True):
        super().__init__(logging.NOTSET)
        self._fd = fd
        self._module = module
        self._lock = threading.Lock()

    def format(self, record):
        line = {
            "@level": _level(record.levelno),
            "@message": record.getMessage(),
            "@timestamp": _timestamp(record.created),
        }
        if self._module and record.name and record.name != "root":
            line["@module"] = record.name
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["error"] = logging.Formatter().formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)

    def emit(self, record):
        try:
            data = (self.format(record) + "\n").encode("utf-8", "replace")
            with self._lock:
                while data:
                    n = os.write(self._fd, data)
                    data = data[n:]
        except Exception:  # noqa: BLE001 - a log line must never break a request
            self.handleError(record)


def make_logger(name="routerplugin", fd=2, module=False):
    """A logger that writes hclog JSON to fd. Fields passed in `extra`
    (log.info("ready", extra={"port": 1})) become the line's fields. Its
    name is written as "@module" only if module is true: the router
    already logs a plugin's lines under the plugin's name."""
    log = logging.getLogger(name)
    if not any(isinstance(h, HclogHandler) for h in log.handlers):
        log.addHandler(HclogHandler(fd, module))
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return log
