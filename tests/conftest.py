"""Shared fixtures: one real Firestore emulator for the session, a fresh project per test.

The emulator is started with trigger delivery to an in-process router, so any test
can register triggers for its own project and see (or replay) real events.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from emulator.firestore import FirestoreEmulator, free_port
from emulator.router import TriggerRouter
from functions.config import Settings
from functions.runtime import Runtime
from functions.store import Store

_counter = itertools.count()


@pytest.fixture(scope="session")
def router() -> Iterator[TriggerRouter]:
    router = TriggerRouter().start()
    yield router
    router.stop()


@pytest.fixture(scope="session")
def firestore_emulator(router: TriggerRouter) -> Iterator[FirestoreEmulator]:
    if os.environ.get("FIRESTORE_EMULATOR_HOST") and os.environ.get("FIRECONTROL_TEST_REUSE_EMULATOR"):
        host = os.environ["FIRESTORE_EMULATOR_HOST"]
        yield FirestoreEmulator(port=int(host.rsplit(":", 1)[1]))
        return
    emulator = FirestoreEmulator(port=free_port(), functions_emulator=router.address).start()
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
    yield emulator
    emulator.stop()


@pytest.fixture
def project(firestore_emulator: FirestoreEmulator) -> str:
    """A project id of its own: tests never see each other's documents."""
    return f"test-{next(_counter)}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def settings(project: str) -> Settings:
    return Settings(project=project)


@pytest.fixture
def store(project: str) -> Store:
    return Store.for_project(project)


@pytest.fixture
def rt(settings: Settings, store: Store) -> Runtime:
    return Runtime(settings=settings, store=store, clock=lambda: datetime.now(UTC))
