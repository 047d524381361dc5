"""Fixtures for the agent's tests: a metadata server, a report receiver, and a way to
start the agent that always kills its process group (and stand-in containers) after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.agent.support import Agent, MetadataServer, Receiver, start_agent


@pytest.fixture
def metadata() -> Iterator[MetadataServer]:
    with MetadataServer().serving() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().serving() as server:
        yield server


@pytest.fixture
def agent(tmp_path: Path, metadata: MetadataServer) -> Iterator[Callable[[dict[str, str]], Agent]]:
    """``agent(items)``: the metadata becomes ``items`` and an agent starts on it."""
    started: list[Agent] = []

    def start(items: dict[str, str]) -> Agent:
        metadata.items = dict(items)
        started.append(start_agent(tmp_path, metadata))
        return started[-1]

    yield start
    for one in started:
        err = one.stop()
        print(f"--- agent stderr ---\n{err}")
