"""Pods on Compute Engine: scale 0 -> 50, and an idle resync tick at 100 controllers x 10 pods.

Both on the real Firestore emulator (triggers delivered to the handlers in-process, as
the trigger router does) and the Compute Engine emulator with zero provisioning delay.
Run: ``.venv/bin/python bench/pods.py``.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.compute import ComputeEmulator, Timing
from emulator.firestore import FirestoreEmulator
from emulator.router import Delivery, TriggerRouter

TRIGGERS = {
    "sync_controller": "namespaces/{namespace}/replicationControllers/{name}",
    "sync_pod": "namespaces/{namespace}/pods/{name}",
    "sync_service": "namespaces/{namespace}/services/{name}",
}


def rc_doc(name: str, replicas: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"app": name},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
    }


def runtime(project: str, compute: ComputeEmulator) -> Any:
    from functions.cloudprovider import GceConfig
    from functions.cloudprovider.gce import GceCloud
    from functions.config import Settings
    from functions.runtime import Runtime
    from functions.store import Store

    settings = Settings(project=project, cluster="fc", compute_api_endpoint=compute.url, pod_start_timeout=10)
    config = GceConfig.from_settings(settings)
    return Runtime(settings=settings, store=Store.for_project(project), clock=lambda: datetime.now(UTC),
                   cloud=GceCloud(config))


def scale_up(router: TriggerRouter, firestore: FirestoreEmulator, compute: ComputeEmulator, n: int) -> None:
    from functions import handlers

    project = "bench-scale"
    rt = runtime(project, compute)
    table = {"sync_controller": handlers.on_controller_change, "sync_pod": handlers.on_pod_change,
             "sync_service": handlers.on_service_change}
    for trigger, pattern in TRIGGERS.items():
        def deliver(delivery: Delivery, handler: Any = table[trigger]) -> None:
            change = handlers.decode_event({"subject": delivery.headers.get("ce-subject")}, delivery.body)
            for attempt in range(5):
                try:
                    if change is not None:
                        handler(change, rt)
                    return
                except handlers.RETRYABLE:
                    time.sleep(0.05 * 2**attempt)

        router.route(project, trigger, deliver)
        firestore.register_trigger(project, trigger, pattern)
    compute.faults.reset_counts()
    start = time.perf_counter()
    rt.store.client.document("namespaces/default/replicationControllers/web").set(rc_doc("web", n))
    pods = rt.store.client.collection("namespaces/default/pods")
    while True:
        running = sum((d.to_dict() or {}).get("status", {}).get("phase") == "Running" for d in pods.stream())
        if running == n:
            break
        if time.perf_counter() - start > 300:
            raise TimeoutError(f"{running}/{n} Running after 300 s")
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    calls = Counter(compute.requests())
    total = sum(calls.values())
    print(f"scale 0 -> {n}: all Running in {elapsed:.2f} s; Compute calls {total} (minimum {2 * n}: "
          f"an insert and one read of its IP and status per VM; with no delay no operation wait)")
    for method, count in sorted(calls.items()):
        print(f"    {method:<28}{count:>5}")


def idle_tick(compute: ComputeEmulator, controllers: int, per: int) -> None:
    from _seed import running_pod  # beside this script

    from functions.controllers.replica_kinds import controller_uid, owner_ref
    from functions.controllers.replication import sync_controller
    from functions.controllers.resync import resync_all
    from functions.vm_spec import instance_name

    project = "bench-idle"
    rt = runtime(project, compute)
    db = rt.store.client
    names = []
    for c in range(controllers):
        name = f"app{c}"
        ref = db.document(f"namespaces/default/replicationControllers/{name}")
        ref.set(rc_doc(name, per))
        snapshot = ref.get()
        owner = owner_ref(name, controller_uid(ref.path, snapshot.create_time))
        batch = db.batch()
        for p in range(per):
            pod = f"{name}-p{p}"
            vm = instance_name("fc", "default", pod)
            names.append(vm)
            spec = {"containers": [{"name": "web", "image": "nginx"}]}
            batch.set(db.document(f"namespaces/default/pods/{pod}"), running_pod(pod, name, owner, vm, spec))
        batch.commit()
    compute.state.seed_instances(project, "us-central1-a", names, {"firecontrol-cluster": "fc"})
    for c in range(controllers):  # bring every status up to date: the next tick is idle
        sync_controller(rt.store, rt.settings, "default", f"app{c}", rt.clock)
    for full in (False, True):  # the idle check's tick, and the full sweep due every few minutes
        compute.faults.reset_counts()
        before = rt.store.ops.snapshot()
        start = time.perf_counter()
        summary = resync_all(rt, full=full)
        elapsed = time.perf_counter() - start
        after = rt.store.ops.snapshot()
        calls = compute.requests()
        assert summary["errors"] == [] and summary["created"] == 0 and summary["pods"] == 0, summary
        assert summary["mode"] == ("full" if full else "idle"), summary
        print(f"resync tick ({summary['mode']}), {controllers} controllers x {per} pods: {elapsed:.2f} s; "
              f"Firestore reads {after['reads'] - before['reads']}, writes {after['writes'] - before['writes']}; "
              f"Compute calls {sum(calls.values())} {dict(calls)}")


def main() -> None:
    router = TriggerRouter().start()
    firestore = FirestoreEmulator(functions_emulator=router.address).start()
    os.environ["FIRESTORE_EMULATOR_HOST"] = firestore.host
    compute = ComputeEmulator(timing=Timing(operation_delay=0.0, provisioning_delay=0.0, staging_delay=0.0)).start()
    try:
        scale_up(router, firestore, compute, 50)
        idle_tick(compute, 100, 10)
    finally:
        compute.stop()
        firestore.stop()
        router.stop()


if __name__ == "__main__":
    main()
