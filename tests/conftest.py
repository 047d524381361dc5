"""Shared fixtures: one real Firestore emulator for the session, a fresh project per test.

The emulator is started with trigger delivery to an in-process router, so any test
can register triggers for its own project and see (or replay) real events.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.compute import ComputeEmulator, Timing
from emulator.firestore import FirestoreEmulator, free_port
from emulator.router import Delivery, TriggerRouter
from functions.cloudprovider import CloudProvider, GceConfig
from functions.config import Settings
from functions.runtime import Runtime
from functions.store import Store
from tests.helpers import required_tool

_counter = itertools.count()


@pytest.fixture(scope="session")
def router() -> Iterator[TriggerRouter]:
    router = TriggerRouter(retry_delays=(0.05, 0.1, 0.2, 0.4, 0.8)).start()
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
    """Settings for the replication manager alone: no pod runtime gives these pods VMs,
    so slow start (which waits for VMs) is off; the pod runtime's tests turn it on."""
    return Settings(project=project, slow_start=False)


@pytest.fixture
def store(project: str) -> Store:
    return Store.for_project(project)


@pytest.fixture
def rt(settings: Settings, store: Store) -> Runtime:
    return Runtime(settings=settings, store=store, clock=lambda: datetime.now(UTC))


# -- the Compute Engine emulator and the GCE provider, for controllers that use them --

COMPUTE_TIMING = {"operation_delay": 0.01, "provisioning_delay": 0.03, "staging_delay": 0.03, "wait_timeout": 1.0}
FAST_RETRIES = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.1)


@pytest.fixture(scope="session")
def _compute() -> Iterator[ComputeEmulator]:
    emulator = ComputeEmulator(timing=Timing(**COMPUTE_TIMING)).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def compute(_compute: ComputeEmulator) -> ComputeEmulator:
    """The Compute emulator, emptied, with no faults and fresh request counts."""
    _compute.reset()
    _compute.configure({**COMPUTE_TIMING, "seed": 0})
    return _compute


@pytest.fixture
def cloud_settings(project: str, compute: ComputeEmulator) -> Settings:
    return Settings(project=project, cluster="fc", compute_api_endpoint=compute.url, pod_start_timeout=5.0)


@pytest.fixture
def cloud(cloud_settings: Settings) -> CloudProvider:
    """The real GCE provider (google-cloud-compute) against the emulator, with fast retries."""
    from functions.cloudprovider.gce import GceCloud

    config = replace(
        GceConfig.from_settings(cloud_settings),
        retry_delays=FAST_RETRIES, operation_timeout=10.0, request_timeout=10.0,
    )
    return GceCloud(config)


@pytest.fixture
def crt(cloud_settings: Settings, store: Store, cloud: CloudProvider) -> Runtime:
    """A runtime with a cloud provider."""
    return Runtime(settings=cloud_settings, store=store, clock=lambda: datetime.now(UTC), cloud=cloud)


TRIGGERS = {
    "sync_controller": "namespaces/{namespace}/replicationControllers/{name}",
    "sync_replicaset": "namespaces/{namespace}/replicaSets/{name}",
    "sync_deployment": "namespaces/{namespace}/deployments/{name}",
    "sync_pod": "namespaces/{namespace}/pods/{name}",
    "sync_service": "namespaces/{namespace}/services/{name}",
}


@pytest.fixture
def cluster(
    crt: Runtime, router: TriggerRouter, firestore_emulator: FirestoreEmulator, project: str
) -> Iterator[Runtime]:
    """The whole control plane in-process: the emulator's real trigger deliveries call the
    handlers (through the router, which retries a failure as Eventarc would)."""
    from functions.handlers import HANDLERS, decode_event

    for trigger, pattern in TRIGGERS.items():
        def deliver(delivery: Delivery, handler: Any = HANDLERS[trigger][1]) -> None:
            change = decode_event({"subject": delivery.headers.get("ce-subject")}, delivery.body)
            if change is not None:
                handler(change, crt)  # a RETRYABLE error raises: the router retries

        router.route(project, trigger, deliver)
        firestore_emulator.register_trigger(project, trigger, pattern)
    yield crt
    for trigger in TRIGGERS:
        router.route(project, trigger, None)
    router.wait_idle()
    assert not [f for f in router.failures if f.startswith(f"{project}/")], router.failures


@pytest.fixture(scope="session")
def kubectl_installed() -> str:
    """The real kubectl (v1.32 comes with the Google Cloud CLI); missing, the test fails."""
    return required_tool("kubectl")
