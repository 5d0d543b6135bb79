"""serve: run handlers as a plugin process of the router."""

import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

from ._data import DataServer, Handler
from ._log import HclogHandler, make_logger

MAGIC_KEY = "ROUTER_PLUGIN"
MAGIC_VALUE = "f3c1a8e2-message-router-plugin"

# The exit status of a plugin that cannot import grpc or protobuf.
EXIT_MISSING_PACKAGES = 3

NOT_A_PLUGIN = """This program is a plugin of the message router (github.com/msgrouter/router).
It is not meant to be run directly: name it in the router's config, e.g.

  plugins:
    search: { cmd: python3, args: [%s] }

and the router starts it.
"""

DEFAULT_WORKERS = 32


class Plugin:
    """What a plugin process serves: its name, version, handlers (a dict
    of name to Handler) and init function."""

    def __init__(self, handlers, name=None, version=None, routes=None, init=None):
        if not handlers:
            raise ValueError("serve: the plugin has no handlers")
        routes = dict(routes or {})
        for key in routes:
            if key not in handlers:
                raise ValueError(f"serve: routes name {key!r}, which is not a handler")
        self.handlers = {}
        for hname, func in handlers.items():
            if not isinstance(hname, str) or not hname:
                raise ValueError(f"serve: handler name {hname!r} is not a non-empty string")
            r = routes.get(hname) or {}
            unknown = set(r) - {"actions", "content_types"}
            if unknown:
                raise ValueError(f"serve: routes[{hname!r}] has unknown keys {sorted(unknown)}; "
                                 "want actions and content_types")
            self.handlers[hname] = Handler(hname, func, r.get("actions"), r.get("content_types"))
        self.name = name or _default_name()
        self.version = version or "devel"
        self.init = init


def _default_name():
    base = os.path.basename(sys.argv[0] or "plugin")
    return base[:-3] if base.endswith(".py") else base


def missing_packages(err):
    """The text of the error a plugin prints when grpc or protobuf cannot be
    imported under this Python."""
    return (f"routerplugin: cannot import the gRPC packages under {sys.executable} "
            f"(Python {sys.version.split()[0]}): {err}. Install Debian's python3-grpcio and "
            "python3-protobuf (apt-get install python3-grpcio python3-protobuf) and run the "
            "plugin with that Python (/usr/bin/python3)")


def serve(handlers, *, name=None, version=None, routes=None, init=None, workers=None):
    """Serves handlers as a plugin process for the router that started it,
    and exits when the router asks it to or goes away. It does not return.

    handlers maps a handler's name to a function that takes a Request and
    returns an answer (reply_json, reply_text or reply_binary). By
    default a handler serves the JSON action of its name; routes gives,
    per handler name, the "actions" and "content_types" it serves
    instead, which the router checks its routes against. init, if set, is
    called with the plugin's settings (a dict) before any request.
    Quick requests are answered by the thread that reads them; those of a
    handler that takes 10 ms or more run on a pool of workers threads
    (default 32, or the ROUTER_PLUGIN_WORKERS variable).
    """
    plugin = Plugin(handlers, name, version, routes, init)
    if os.environ.get(MAGIC_KEY) != MAGIC_VALUE:
        sys.stderr.write(NOT_A_PLUGIN % (sys.argv[0] or "plugin.py"))
        sys.exit(1)
    log = make_logger(plugin.name)
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(HclogHandler(2))
        root.setLevel(logging.INFO)
    try:
        from ._control import ControlServer
    except Exception as e:  # noqa: BLE001 - ImportError, or a protobuf too old for the code
        log.error(missing_packages(e))
        sys.exit(EXIT_MISSING_PACKAGES)
    _run(plugin, ControlServer, log, workers)


def _data_fds():
    v = os.environ.pop("ROUTER_PLUGIN_DATA_FDS", "")
    try:
        r, w = (int(x) for x in v.split(","))
    except ValueError:
        raise RuntimeError(f"ROUTER_PLUGIN_DATA_FDS={v!r} does not name two descriptors: "
                           "the Python SDK needs a router that passes its data pipes") from None
    for fd in (r, w):
        os.set_blocking(fd, True)
        os.set_inheritable(fd, False)  # the plugin's children must not hold them
    return r, w


def _int_env(key, default):
    try:
        return int(os.environ.get(key, "") or default)
    except ValueError:
        return default


def _run(plugin, control_cls, log, workers):
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the router's reload signal
    stop = threading.Event()
    status = [0]

    def finish(code, why):
        if not stop.is_set():
            status[0] = code
            log.debug(why)
            stop.set()

    try:
        rfd, wfd = _data_fds()
        workers = workers or _int_env("ROUTER_PLUGIN_WORKERS", DEFAULT_WORKERS)
        data = DataServer(plugin.handlers, rfd, wfd, log, workers=workers,
                          max_answer=_int_env("ROUTER_PLUGIN_MAX_ANSWER", 0))
        sockdir = tempfile.mkdtemp(prefix="router-plugin-")
        control = control_cls(plugin, lambda: finish(0, "stopping: the router asked"), log)
        line = control.start(sockdir)
    except Exception as e:  # noqa: BLE001 - say why, and exit
        log.error("plugin cannot start", extra={"error": str(e)}, exc_info=True)
        sys.exit(1)

    def read():
        try:
            data.serve()
        except Exception:  # noqa: BLE001 - the SDK's own failure: the process must still end
            log.error("the data path failed", exc_info=True)
        finally:
            finish(0, "stopping: the router closed the data path")

    threading.Thread(target=read, name="routerplugin-data", daemon=True).start()
    parent = os.getppid()

    def watch_parent():
        while not stop.wait(0.25):
            if os.getppid() != parent:
                log.warning("router process is gone; exiting")
                finish(2, "the router is gone")

    threading.Thread(target=watch_parent, name="routerplugin-parent", daemon=True).start()
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    # Stdout carried the handshake; from now on it is standard error, so
    # that a print() in a handler, or a library writing to descriptor 1,
    # lands in the router's log instead of go-plugin's channel.
    os.dup2(2, 1)
    stop.wait()
    control.stop()
    data.close()
    shutil.rmtree(sockdir, ignore_errors=True)
    logging.shutdown()
    time.sleep(0)  # let a Shutdown reply leave before the process does
    os._exit(status[0])
