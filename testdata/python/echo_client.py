#!/usr/bin/env python3
"""Reference echo-client: a re-creation of the sockets tutorial's
echo-client.py, which behaves as it does.

Usage: echo_client.py

Like the tutorial's, it takes no arguments: the echo server's address,
127.0.0.1:65432, is written into it. It connects, sends b"Hello, world"
unframed, reads once (up to 1024 bytes), prints "Received b'...'" and
closes. The router echoes like the tutorial's echo-server on a raw
listener: `router serve --raw 127.0.0.1:65432`.
"""

import socket

HOST = "127.0.0.1"  # the echo server's address, fixed as in the tutorial
PORT = 65432

with socket.create_connection((HOST, PORT)) as conn:
    conn.sendall(b"Hello, world")
    data = conn.recv(1024)

print(f"Received {data!r}")
