"""One in-process Compute Engine emulator for the session, reset before each test.

Delays are a few milliseconds so operations and instance states really are
asynchronous but the suite stays fast; retry delays are tiny for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import pytest

from emulator.compute import ComputeEmulator, Timing
from functions.cloudprovider.config import GceConfig
from tests.compute.support import FAST_RETRIES, PROJECT, REGION, TIMING, ZONE


@pytest.fixture(scope="session")
def _emulator() -> Iterator[ComputeEmulator]:
    emulator = ComputeEmulator(timing=Timing(**asdict(TIMING))).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(_emulator: ComputeEmulator) -> ComputeEmulator:
    _emulator.reset()
    _emulator.configure({**asdict(TIMING), "seed": 0})
    return _emulator


@pytest.fixture
def client_kwargs(emulator: ComputeEmulator) -> dict[str, Any]:
    from google.auth.credentials import AnonymousCredentials

    return {"credentials": AnonymousCredentials(), "client_options": {"api_endpoint": emulator.url}, "transport": "rest"}


@pytest.fixture
def config(emulator: ComputeEmulator) -> GceConfig:
    return GceConfig(project=PROJECT, region=REGION, zone=ZONE, cluster="fc", endpoint=emulator.url,
                     retry_delays=FAST_RETRIES, operation_timeout=10.0, request_timeout=10.0)


@pytest.fixture
def make_cloud(config: GceConfig) -> Callable[..., Any]:
    from functions.cloudprovider.gce import GceCloud

    def make(**kwargs: Any) -> GceCloud:
        return GceCloud(config, **kwargs)

    return make


@pytest.fixture
def cloud(make_cloud: Callable[..., Any]) -> Any:
    return make_cloud()
