"""Child processes of the local stack: each in a session of its own, stopped as a group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Callable


class EmulatorError(RuntimeError):
    """A part of the local stack cannot start: the message says what to do."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_free(port: int, what: str) -> None:
    """Refuse a port another process listens on, before starting a server there (a client
    connecting to it would otherwise take the other process for ours)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise EmulatorError(f"{what}: port {port} is in use by another process") from None


def start_on_a_free_port(chosen: int, start_on: Callable[[int], None], attempts: int = 3) -> int:
    """Start on ``chosen``, or on a free port; if another process took that one first,
    try again on a new one. The port it started on."""
    for attempt in range(attempts):
        port = chosen or free_port()
        try:
            start_on(port)
            return port
        except EmulatorError:
            if chosen or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def stop_group(process: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """SIGTERM the process and everything it started (e.g. the emulator's JVM), then SIGKILL."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)
