"""The control channel: go-plugin's gRPC server, over mutual TLS.

The router (go-plugin's client) connects to the address of the handshake
line, checks the health service for "plugin", calls the router's own
service (router.plugin.v1.Plugin: Describe, Init), and at the end
go-plugin's GRPCController.Shutdown. go-plugin's broker and stdio
services are left unimplemented: go-plugin copes with that (the plugin's
output is its standard error, which go-plugin reads itself).

The stubs are bound by hand with grpc's generic handlers; the messages of
Describe and Init are protoc's (_pb/plugin_pb2.py, see generate.sh). The
health and controller messages are so small that they are encoded here.
"""

import base64
import json
import os
import re

import grpc

from ._pb import plugin_pb2

DATA_PROTOCOL = 1

# grpc.health.v1.HealthCheckResponse.ServingStatus
_SERVING = 1


def _varint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        if c < 0x80:
            return n, i
        shift += 7


def health_service(request):
    """The service name of a grpc.health.v1.HealthCheckRequest (field 1,
    a string); other fields are skipped."""
    i, name = 0, ""
    while i < len(request):
        key, i = _varint(request, i)
        wire = key & 7
        if wire == 2:
            n, i = _varint(request, i)
            if key >> 3 == 1:
                name = request[i:i + n].decode("utf-8")
            i += n
        elif wire == 0:
            _, i = _varint(request, i)
        elif wire == 5:
            i += 4
        elif wire == 1:
            i += 8
        else:
            raise ValueError("bad HealthCheckRequest")
    return name


def _identity():
    """Reads the TLS identity the router sent through the pipe that
    ROUTER_PLUGIN_TLS_FD names: the plugin's certificate and key, then the
    router's certificate, in PEM. Returns (cert, key, host_cert), or None
    without one."""
    v = os.environ.pop("ROUTER_PLUGIN_TLS_FD", "")
    if not v:
        return None
    fd = int(v)
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    pems = [(m.group(1), m.group(0)) for m in re.finditer(
        rb"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----\n?", b"".join(chunks), re.S)]
    certs = [pem for kind, pem in pems if kind == b"CERTIFICATE"]
    keys = [pem for kind, pem in pems if kind.endswith(b"PRIVATE KEY")]
    if len(certs) < 2 or not keys:
        raise RuntimeError("incomplete TLS identity from the router")
    return certs[0], keys[0], certs[1]


def _der_b64(cert_pem):
    """The certificate's DER in base64 without padding, as go-plugin reads
    the handshake line's sixth field (base64.RawStdEncoding)."""
    body = b"".join(line for line in cert_pem.splitlines() if not line.startswith(b"-----"))
    return base64.b64encode(base64.b64decode(body)).decode("ascii").rstrip("=")


class ControlServer:
    """The gRPC server of the control channel."""

    def __init__(self, plugin, on_shutdown, log):
        self.plugin = plugin
        self.on_shutdown = on_shutdown
        self.log = log
        self.server = None
        self.dir = None

    def start(self, socket_dir):
        """Starts the server on a Unix socket in socket_dir and returns the
        handshake line."""
        from concurrent.futures import ThreadPoolExecutor

        self.server = grpc.server(ThreadPoolExecutor(max_workers=4, thread_name_prefix="routerplugin-grpc"))
        self.server.add_generic_rpc_handlers((
            grpc.method_handlers_generic_handler("router.plugin.v1.Plugin", {
                "Describe": grpc.unary_unary_rpc_method_handler(
                    self._describe,
                    request_deserializer=plugin_pb2.DescribeRequest.FromString,
                    response_serializer=plugin_pb2.DescribeResponse.SerializeToString),
                "Init": grpc.unary_unary_rpc_method_handler(
                    self._init,
                    request_deserializer=plugin_pb2.InitRequest.FromString,
                    response_serializer=plugin_pb2.InitResponse.SerializeToString),
            }),
            grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
                "Check": grpc.unary_unary_rpc_method_handler(self._health),
            }),
            grpc.method_handlers_generic_handler("plugin.GRPCController", {
                "Shutdown": grpc.unary_unary_rpc_method_handler(self._shutdown),
            }),
        ))
        path = os.path.join(socket_dir, "control.sock")
        ident = _identity()
        cert_field = ""
        if ident is not None:
            cert, key, host = ident
            creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=host, require_client_auth=True)
            self.server.add_secure_port("unix:" + path, creds)
            cert_field = "|" + _der_b64(cert)
        else:
            # No identity (an older router): plain gRPC, which go-plugin
            # accepts when it was given no TLS config.
            self.server.add_insecure_port("unix:" + path)
        self.server.start()
        versions = os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "1").split(",")
        version = "1" if "1" in versions else versions[0]
        return f"1|{version}|unix|{path}|grpc{cert_field}"

    def _describe(self, request, context):
        p = self.plugin
        resp = plugin_pb2.DescribeResponse(name=p.name, version=p.version, data_protocol=DATA_PROTOCOL)
        for h in p.handlers.values():
            resp.handlers.add(name=h.name, actions=h.actions, content_types=h.content_types)
        return resp

    def _init(self, request, context):
        settings = json.loads(request.config.decode("utf-8")) if request.config else {}
        if not isinstance(settings, dict):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "plugin config is not a JSON object")
        if self.plugin.init is not None:
            try:
                self.plugin.init(settings)
            except Exception as e:  # noqa: BLE001 - the router shows the text
                self.log.error("init failed", exc_info=True)
                context.abort(grpc.StatusCode.UNKNOWN, f"init: {e}" if str(e) else f"init: {type(e).__name__}")
        return plugin_pb2.InitResponse()

    def _health(self, request, context):
        service = health_service(request)
        if service not in ("", "plugin"):
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {service!r}")
        return bytes((0x08, _SERVING))  # HealthCheckResponse{status: SERVING}

    def _shutdown(self, request, context):
        self.log.debug("the router asked the plugin to stop")
        self.on_shutdown()
        return b""  # plugin.Empty

    def stop(self):
        if self.server is not None:
            # A grace for the Shutdown call itself to be answered.
            self.server.stop(grace=0.5).wait(1)
