"""The serial ports of the emulated instances: what ``instances.getSerialPortOutput`` reads.

Compute Engine keeps the last megabyte written to each of an instance's ports 1 to 4 and
numbers bytes from the first ever written; a ``start`` before the kept window answers
from the window's start (and says so in ``start``), a negative ``start`` counts back from
the end. The simulated agent writes container output to port 2, as the real agent does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .errors import invalid
from .model import Key

WINDOW = 1024 * 1024
PORTS = range(1, 5)


@dataclass
class SerialPort:
    """One port's kept bytes and the count of every byte ever written."""

    written: int = 0
    kept: bytearray = field(default_factory=bytearray)

    def write(self, data: bytes) -> None:
        self.written += len(data)
        self.kept += data
        if len(self.kept) > WINDOW:
            del self.kept[: len(self.kept) - WINDOW]

    def read(self, start: int) -> tuple[bytes, int, int]:
        """The bytes from ``start`` on, the start actually used, and the next start."""
        first = self.written - len(self.kept)
        if start < 0:
            start = self.written + start
        start = max(start, first)
        data = bytes(self.kept[start - first:]) if start < self.written else b""
        return data, start, start + len(data)


def check_port(value: object) -> int:
    try:
        port = int(str(value))
    except ValueError:
        port = 0
    if port not in PORTS:
        raise invalid(f"Invalid value for field 'port': '{value}'. Must be between 1 and 4.")
    return port


def check_start(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise invalid(f"Invalid value for field 'start': '{value}'. Must be an integer.") from None


class SerialConsoles:
    """Every instance's ports, behind their own lock (writers never take the state's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ports: dict[tuple[Key, str], dict[int, SerialPort]] = {}

    def write(self, key: Key, instance_id: str, port: int, text: str) -> None:
        with self._lock:
            self._ports.setdefault((key, instance_id), {}).setdefault(port, SerialPort()).write(text.encode())

    def read(self, key: Key, instance_id: str, port: int, start: int) -> tuple[str, int, int]:
        with self._lock:
            found = self._ports.get((key, instance_id), {}).get(port) or SerialPort()
            data, first, after = found.read(start)
        return data.decode(errors="replace"), first, after

    def forget(self, key: Key) -> None:
        with self._lock:
            for pair in [p for p in self._ports if p[0] == key]:
                del self._ports[pair]

    def clear(self) -> None:
        with self._lock:
            self._ports.clear()
