"""Streamed replies in the real server: ``kube_api`` under functions-framework (gunicorn,
two threads) on the real Firestore emulator, spoken to over raw sockets as kubectl does.

A watch whose client went away (kubectl's Ctrl-C, its ``--request-timeout``) must give
its thread back at once, though nothing is written that would show the socket dead;
``timeout`` (a Go duration, what ``--request-timeout`` sends) bounds a watch."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
import uuid
from collections.abc import Iterator

import pytest

from emulator.firestore import FirestoreEmulator
from emulator.functions import FunctionServer
from functions.kubeapi import streams

PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture(scope="module")
def server(firestore_emulator: FirestoreEmulator) -> Iterator[FunctionServer]:
    env = {
        "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
        "GOOGLE_CLOUD_PROJECT": f"streams-{uuid.uuid4().hex[:8]}",
        "THREADS": "2",  # two abandoned watches would hold the whole server
        "FIRECONTROL_WATCH_SECONDS": "300",
    }
    started = FunctionServer("kube_api", "http", env=env).start()
    yield started
    started.stop()


def open_watch(server: FunctionServer, query: str = "watch=true") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(f"GET {PODS}?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n".encode())
    return sock


def get(server: FunctionServer, path: str, timeout: float) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        connection.request("GET", path)
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def test_abandoned_watches_give_their_threads_back(server: FunctionServer) -> None:
    watches = [open_watch(server) for _ in range(6)]
    # the two a thread serves answer their headers at once (the apiserver flushes them too)
    for sock in watches[:2]:
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    for sock in watches:
        sock.close()
    began = time.monotonic()
    code, body = get(server, "/version", timeout=8)
    assert code == 200 and json.loads(body)["major"]
    assert time.monotonic() - began < 8


def test_a_go_duration_timeout_ends_the_watch(server: FunctionServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    began = time.monotonic()
    connection.request("GET", f"{PODS}?watch=true&timeout=2s&timeoutSeconds=60")
    reply = connection.getresponse()
    assert reply.status == 200
    assert reply.read() == b""  # no pods, nothing written: not even a keep-alive line
    took = time.monotonic() - began
    connection.close()
    assert 1.5 <= took < 4.5


def test_a_malformed_timeout_is_400_before_streaming(server: FunctionServer) -> None:
    code, body = get(server, f"{PODS}?watch=true&timeout=4", timeout=10)
    status = json.loads(body)
    assert code == 400 and status["reason"] == "BadRequest"
    assert status["message"] == ('invalid timeout specified in the request URL - '
                                 'time: missing unit in duration "4"')


# -- the check itself, on a socket pair --


def test_a_socket_whose_peer_closed_is_gone_and_one_with_data_or_none_is_not() -> None:
    ours, theirs = socket.socketpair()
    with contextlib.closing(ours):
        gone = streams.peer_gone(ours)
        assert not gone()  # nothing to read: the client waits
        theirs.sendall(b"x")
        assert not gone()  # a pipelined request: still there
        assert ours.recv(1) == b"x"
        theirs.close()
        assert gone()  # end of file
        assert ours.getblocking()  # the server's socket is left as it was


def test_no_socket_in_the_environ_is_never_gone() -> None:
    assert not streams.client_gone({})()
    assert not streams.client_gone({"gunicorn.socket": "not a socket"})()
