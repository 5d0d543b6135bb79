#!/usr/bin/env python3
"""Reference multiconn-client: a re-creation of the sockets tutorial's
multiconn-client.py, which behaves as it does.

Usage: multiconn_client.py HOST PORT NUM_CONNECTIONS

It opens NUM_CONNECTIONS non-blocking connections to an echo server and
serves them all from one selector loop: on each it sends, unframed,
b"Message 1 from client." then b"Message 2 from client.", prints every
chunk it sends and receives, and closes the connection once it has
received as many bytes as it sent (or the server closed). It prints the
tutorial's lines: "Starting connection N to (HOST, PORT)", "Sending b'...'
to connection N", "Received b'...' from connection N", "Closing
connection N", and exits when every connection is closed.
"""

import selectors
import socket
import sys
import types

MESSAGES = [b"Message 1 from client.", b"Message 2 from client."]

selector = selectors.DefaultSelector()


def open_connections(host, port, count):
    """Start count connections to (host, port), each with its own state."""
    address = (host, port)
    for connid in range(1, count + 1):
        print(f"Starting connection {connid} to {address}")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex(address)
        state = types.SimpleNamespace(
            connid=connid,
            to_send=list(MESSAGES),
            outb=b"",
            expected=sum(len(m) for m in MESSAGES),
            received=0,
        )
        selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, data=state)


def on_event(key, mask):
    """Read what the server echoed, and write the next message."""
    sock, state = key.fileobj, key.data
    if mask & selectors.EVENT_READ:
        chunk = sock.recv(1024)
        if chunk:
            print(f"Received {chunk!r} from connection {state.connid}")
            state.received += len(chunk)
        if not chunk or state.received == state.expected:
            print(f"Closing connection {state.connid}")
            selector.unregister(sock)
            sock.close()
            return
    if mask & selectors.EVENT_WRITE:
        if not state.outb and state.to_send:
            state.outb = state.to_send.pop(0)
        if state.outb:
            print(f"Sending {state.outb!r} to connection {state.connid}")
            sent = sock.send(state.outb)
            state.outb = state.outb[sent:]


def main():
    if len(sys.argv) != 4:
        print(f"Usage: {sys.argv[0]} <host> <port> <num_connections>")
        sys.exit(1)
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    open_connections(host, port, count)
    try:
        while selector.get_map():
            for key, mask in selector.select(timeout=1):
                on_event(key, mask)
    except KeyboardInterrupt:
        print("Caught keyboard interrupt, exiting")
    finally:
        selector.close()


if __name__ == "__main__":
    main()
