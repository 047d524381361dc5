"""Whether the client of a streamed reply (watch, ``logs -f``) is still there.

A quiet watch writes nothing for minutes, so a client that went away (kubectl's Ctrl-C,
its ``--request-timeout``) is not revealed by a failed write: the stream would hold its
server thread until its deadline, and a few abandoned watches starve the server. Nor may
the stream write a keep-alive to find out: a blank line is an event to some clients (the
official Python client's watch yields None for it). So the streams ask the socket
instead, each time they wake: a closed peer makes its socket readable with nothing to
read (end of file). Reading one byte with ``MSG_PEEK`` takes nothing from it.

The WSGI servers put the client's socket in the environ: gunicorn (functions-framework
on Linux, and Cloud Run) as ``gunicorn.socket``, werkzeug's development server as
``werkzeug.socket``. Without one (a test client, TLS) the client is never seen gone and
the stream runs to its deadline, as before. A client that half-closes its side and still
reads is taken for gone; HTTP clients (client-go, urllib3) do not do that.
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any

ClientGone = Callable[[], bool]
SOCKET_KEYS = ("gunicorn.socket", "werkzeug.socket")


def never() -> bool:
    """The client of a stream with no socket to ask: there until the deadline."""
    return False


def client_gone(environ: Mapping[str, Any]) -> ClientGone:
    """The check for the client of this WSGI request."""
    for key in SOCKET_KEYS:
        sock = environ.get(key)
        if isinstance(sock, socket.socket) and not isinstance(sock, ssl.SSLSocket):
            return peer_gone(sock)
    return never


def peer_gone(sock: socket.socket) -> ClientGone:
    """True once the peer of ``sock`` closed (or reset) the connection; never blocks, and
    leaves the socket as it was (blocking, nothing read)."""

    def gone() -> bool:
        try:
            if not _readable(sock):
                return False
            return sock.recv(1, socket.MSG_PEEK | _DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:  # reset by the peer, or the server closed it already
            return True

    return gone


_DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)


def _readable(sock: socket.socket) -> bool:
    """Whether a read would not block: always asked by ``MSG_DONTWAIT`` where there is
    one; elsewhere (Windows) by a poll with no wait."""
    if _DONTWAIT:
        return True
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)
