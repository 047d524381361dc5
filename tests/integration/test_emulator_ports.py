"""A busy port: the local stack's processes move to another one, or say which port was taken."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

import emulator.process
from emulator.firestore import EmulatorError, FirestoreEmulator, free_port
from emulator.functions import FunctionServer


@pytest.fixture
def busy() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def first_busy_then_free(busy: int) -> object:
    ports = iter([busy])
    return lambda: next(ports, None) or free_port()


def test_function_server_moves_off_a_port_taken_under_it(busy: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulator.process, "free_port", first_busy_then_free(busy))
    server = FunctionServer("resync", "http").start()
    try:
        assert server.port != busy and server.process is not None and server.process.poll() is None
    finally:
        server.stop()


def test_function_server_on_a_chosen_busy_port_says_so(busy: int) -> None:
    with pytest.raises(EmulatorError, match=f"function resync: port {busy} is in use"):
        FunctionServer("resync", "http", port=busy).start()


def test_firestore_emulator_moves_off_a_port_taken_under_it(busy: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulator.process, "free_port", first_busy_then_free(busy))
    firestore = FirestoreEmulator().start()
    try:
        assert firestore.port != busy and firestore.process is not None and firestore.process.poll() is None
    finally:
        firestore.stop()


def test_firestore_emulator_on_a_chosen_busy_port_says_so(busy: int) -> None:
    with pytest.raises(EmulatorError, match=f"the Firestore emulator: port {busy} is in use"):
        FirestoreEmulator(port=busy).start()
