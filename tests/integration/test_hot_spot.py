"""No write hot spot: a 100-replica controller converging through the real trigger path
(Firestore emulator -> router -> functions-framework servers -> Compute emulator) makes
no failed pass, and its document is written about twice a second at most."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from emulator.compute import ComputeEmulator
from emulator.firestore import FirestoreEmulator
from emulator.functions import FunctionServer
from emulator.router import TriggerRouter
from functions.events import decode
from functions.store import Store
from tests.helpers import pods, rc_data, rc_doc, wait_for, write_rc

pytestmark = pytest.mark.serial  # measures time and memory: alone, after the rest

TRIGGERS = {
    "sync_controller": "namespaces/{namespace}/replicationControllers/{name}",
    "sync_pod": "namespaces/{namespace}/pods/{name}",
}
REPLICAS = 100


@pytest.fixture
def servers(
    firestore_emulator: FirestoreEmulator, compute: ComputeEmulator, router: TriggerRouter, project: str,
    tmp_path: Path,
) -> Iterator[dict[str, FunctionServer]]:
    env = {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host, "GOOGLE_CLOUD_PROJECT": project,
           "COMPUTE_API_ENDPOINT": compute.url, "FIRECONTROL_CLUSTER": "fc", "FIRECONTROL_POD_START_TIMEOUT": "10"}
    started = {name: FunctionServer(name, "cloudevent", env, log_path=tmp_path / f"{name}.log").start()
               for name in TRIGGERS}
    for name, pattern in TRIGGERS.items():
        router.route(project, name, started[name].url)
        firestore_emulator.register_trigger(project, name, pattern)
    yield started
    for name in TRIGGERS:
        router.route(project, name, None)
    router.wait_idle(60)
    for server in started.values():
        server.stop()


def write_times(router: TriggerRouter, project: str, path: str) -> list[datetime]:
    """When the document was written: every write is one event, its new update time."""
    times = set()
    for delivery in router.recorded(project, "sync_controller"):
        change = decode({"subject": delivery.headers.get("ce-subject")}, delivery.body)
        if change.path == path and change.new is not None:
            times.add(change.new.update_time)
    return sorted(times)


def busiest_second(times: list[datetime]) -> int:
    """The most writes within any one second."""
    return max((sum(0 <= (u - t).total_seconds() < 1.0 for u in times) for t in times), default=0)


def test_a_100_replica_controller_converges_with_no_failed_pass_and_no_hot_spot(
    servers: dict[str, FunctionServer], router: TriggerRouter, compute: ComputeEmulator, store: Store, project: str,
) -> None:
    def converged() -> bool:
        status = rc_data(store, "web").get("status", {})
        running = [p for p in pods(store) if p.phase == "Running" and p.ready]
        return len(running) == REPLICAS and status.get("readyReplicas") == REPLICAS

    # VMs come up over a spread of times, and events come late, some twice, as on Google
    # Cloud: pods turn Running one by one, each asking for the controller's pass.
    for latency in (0.2, 0.4, 0.8):
        compute.inject(method="POST", path="/instances$", status=None, latency=latency, rate=0.5)
    router.duplicate, router.delay = 0.5, (0.0, 0.3)
    try:
        path = write_rc(store, rc_doc("web", REPLICAS))
        wait_for(converged, timeout=240, interval=0.5)
        assert router.wait_idle(60)
    finally:
        router.duplicate, router.delay = 0.0, (0.0, 0.0)
    logs = "".join(server.log_path.read_text() for server in servers.values() if server.log_path)
    assert "Contention" not in logs and "no pass committed" not in logs
    assert [f for f in router.failures if f.startswith(f"{project}/")] == []
    times = write_times(router, project, path)
    span = (times[-1] - times[0]).total_seconds()
    print(f"{len(times)} writes to the controller in {span:.1f} s; at most {busiest_second(times)} in one second")
    # Pod-driven passes: one a half-second slot (functions/coalesce.py), so at most three
    # in any sliding second (seen: 3, every run); the controller's own changes run a pass
    # too, and may fall in the same second.
    assert busiest_second(times) <= 4, times
    assert len(times) <= 2.5 * span, times  # about two writes a second over the whole rise, not a storm
