"""The emulator's clock: real time, sped up or slowed down, or frozen and moved by hand.

``now = anchor + (monotonic() - anchor_monotonic) * scale``. A scale of 60 runs an
every-minute job each real second; a scale of 0 freezes time, so only ``set`` (and
the emulator's ``advance``) move it, which makes tests deterministic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(
        self, start: datetime | None = None, scale: float = 1.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if scale < 0:
            raise ValueError(f"time scale must be >= 0, not {scale}")
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._anchor = (start or datetime.now(UTC)).astimezone(UTC)
        self._anchor_real = monotonic()
        self._scale = float(scale)

    @property
    def scale(self) -> float:
        return self._scale

    def now(self) -> datetime:
        with self._lock:
            return self._now()

    def _now(self) -> datetime:
        elapsed = (self._monotonic() - self._anchor_real) * self._scale
        return self._anchor + timedelta(seconds=elapsed)

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (it then runs on at the current scale)."""
        with self._lock:
            self._anchor = when.astimezone(UTC)
            self._anchor_real = self._monotonic()

    def set_scale(self, scale: float) -> None:
        if scale < 0:
            raise ValueError(f"time scale must be >= 0, not {scale}")
        with self._lock:
            self._anchor = self._now()
            self._anchor_real = self._monotonic()
            self._scale = float(scale)

    def real_seconds(self, emulated: float) -> float:
        """How long, in real seconds, until ``emulated`` seconds have passed (inf when frozen)."""
        return emulated / self._scale if self._scale else float("inf")
