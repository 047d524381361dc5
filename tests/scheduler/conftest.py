"""One in-process Scheduler emulator for the folder, with its clock frozen; reset before each test.

Time moves only when a test calls ``advance`` (or ``set_time``), so "fires every
minute" is checked in milliseconds and exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulator.scheduler import SchedulerEmulator
from functions.scheduling import build_client
from tests.scheduler.support import START, Target


@pytest.fixture(scope="session")
def _emulator() -> Iterator[SchedulerEmulator]:
    emulator = SchedulerEmulator(time_scale=0, start_time=START).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(_emulator: SchedulerEmulator) -> SchedulerEmulator:
    _emulator.reset()
    _emulator.set_time_scale(0)
    _emulator.set_time(START)
    return _emulator


@pytest.fixture
def client(emulator: SchedulerEmulator) -> Any:
    """The real google-cloud-scheduler client, REST, anonymous, pointed at the emulator."""
    return build_client(emulator.url)


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target().start()
    yield server
    server.stop()
