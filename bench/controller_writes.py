"""Writes to one controller document while 100 replicas come up: how many, and the most in a second.

The real Firestore emulator delivers every trigger to the handlers (in-process, through
the trigger router, as bench/pods.py does); the Compute emulator makes the VMs, each
insert held 0 to 1.4 s (random latency) so pods turn Running one by one as on Google
Cloud, and half the events come twice, each held up to 0.3 s. Run once with pod-driven
passes coalesced (``controller_write_interval`` 1 s, the default) and once without (0).
Run: ``.venv/bin/python bench/controller_writes.py``.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.compute import ComputeEmulator, Timing
from emulator.firestore import FirestoreEmulator
from emulator.router import Delivery, TriggerRouter

REPLICAS = 100
TRIGGERS = {
    "sync_controller": "namespaces/{namespace}/replicationControllers/{name}",
    "sync_pod": "namespaces/{namespace}/pods/{name}",
}


def rc_doc(replicas: int) -> dict[str, Any]:
    return {"metadata": {"name": "web"}, "spec": {
        "replicas": replicas, "selector": {"app": "web"},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}


def run(router: TriggerRouter, firestore: FirestoreEmulator, compute: ComputeEmulator, interval: float) -> None:
    from functions import handlers
    from functions.cloudprovider import GceConfig
    from functions.cloudprovider.gce import GceCloud
    from functions.config import Settings
    from functions.events import decode
    from functions.runtime import Runtime
    from functions.store import Store

    project = f"bench-writes-{int(interval * 1000)}"
    settings = Settings(project=project, cluster="fc", compute_api_endpoint=compute.url, pod_start_timeout=10,
                        controller_write_interval=interval)
    rt = Runtime(settings=settings, store=Store.for_project(project), clock=lambda: datetime.now(UTC),
                 cloud=GceCloud(GceConfig.from_settings(settings)))
    failed: list[str] = []
    table = {"sync_controller": handlers.on_controller_change, "sync_pod": handlers.on_pod_change}
    for trigger, pattern in TRIGGERS.items():
        def deliver(delivery: Delivery, handler: Any = table[trigger]) -> None:
            change = handlers.decode_event({"subject": delivery.headers.get("ce-subject")}, delivery.body)
            if change is None:
                return
            try:
                handler(change, rt)
            except handlers.RETRYABLE as error:  # the router retries, as Eventarc would
                failed.append(repr(error))
                raise

        router.route(project, trigger, deliver)
        firestore.register_trigger(project, trigger, pattern)
    compute.faults.clear()
    for latency in (0.2, 0.4, 0.8):
        compute.inject(method="POST", path="/instances$", status=None, latency=latency, rate=0.5)
    router.duplicate, router.delay = 0.5, (0.0, 0.3)
    path = "namespaces/default/replicationControllers/web"
    start = time.perf_counter()
    rt.store.client.document(path).set(rc_doc(REPLICAS))
    while True:
        status = (rt.store.client.document(path).get().to_dict() or {}).get("status", {})
        if status.get("readyReplicas") == REPLICAS:
            break
        if time.perf_counter() - start > 600:
            raise TimeoutError(f"{status.get('readyReplicas')}/{REPLICAS} ready after 600 s")
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    router.wait_idle(120)
    router.duplicate, router.delay = 0.0, (0.0, 0.0)
    times = sorted({
        change.new.update_time
        for d in router.recorded(project, "sync_controller")
        if (change := decode({"subject": d.headers.get("ce-subject")}, d.body)).path == path and change.new
    })
    busiest = max((sum(0 <= (u - t).total_seconds() < 1.0 for u in times) for t in times), default=0)
    contention = sum("Contention" in f for f in failed)
    label = f"coalesced every {interval:g} s" if interval else "not coalesced"
    print(f"100 replicas up ({label}): all ready in {elapsed:.1f} s; controller document written {len(times)} times, "
          f"at most {busiest} in one second; failed passes {len(failed)} ({contention} Contention)")


def main() -> None:
    router = TriggerRouter(retry_delays=(0.05, 0.1, 0.2, 0.4, 0.8)).start()
    firestore = FirestoreEmulator(functions_emulator=router.address).start()
    os.environ["FIRESTORE_EMULATOR_HOST"] = firestore.host
    compute = ComputeEmulator(timing=Timing(operation_delay=0.01, provisioning_delay=0.03, staging_delay=0.03)).start()
    try:
        for interval in (1.0, 0.0):
            run(router, firestore, compute, interval)
    finally:
        compute.stop()
        firestore.stop()
        router.stop()


if __name__ == "__main__":
    main()
