"""Latency from a controller write to all N pod documents present, through the real trigger path.

Firestore emulator -> (trigger router) -> functions-framework running ``sync_controller``
-> pods written. Beside it, the floor: a bare client writing N documents in one
commit, observed the same way. Run: ``.venv/bin/python bench/trigger_latency.py [runs]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.firestore import FirestoreEmulator
from emulator.functions import FunctionServer
from emulator.router import TriggerRouter

N = 10
PROJECT = "bench-latency"


def rc_doc(name: str) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": N,
            "selector": {"app": name},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
        },
    }


def wait_count(client: object, collection: str, want: int, timeout: float = 30.0) -> float:
    """Poll a count aggregation until it reaches ``want``; return when it did."""
    query = client.collection(collection).count()  # type: ignore[attr-defined]
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if query.get()[0][0].value >= want:
            return time.perf_counter()
        time.sleep(0.002)
    raise TimeoutError(f"{collection}: fewer than {want} documents after {timeout} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(runs: int) -> None:
    logs = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    router = TriggerRouter().start()
    firestore_emulator = FirestoreEmulator(functions_emulator=router.address).start()
    os.environ["FIRESTORE_EMULATOR_HOST"] = firestore_emulator.host
    # pod documents only (no pod runtime): slow start, which waits for VMs, is off
    env = {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host, "GOOGLE_CLOUD_PROJECT": PROJECT,
           "FIRECONTROL_SLOW_START": "false"}
    server = FunctionServer("sync_controller", "cloudevent", env, log_path=logs / "fn.log").start()
    try:
        from google.cloud import firestore

        client = firestore.Client(project=PROJECT)
        router.route(PROJECT, "sync_controller", server.url)
        firestore_emulator.register_trigger(PROJECT, "sync_controller", "namespaces/{ns}/replicationControllers/{name}")
        # one warm-up, as a function instance serving steady traffic is warm
        client.document("namespaces/warm/replicationControllers/warm").set(rc_doc("warm"))
        wait_count(client, "namespaces/warm/pods", N)

        trigger, floor = [], []
        for run in range(runs):
            start = time.perf_counter()
            client.document(f"namespaces/t{run}/replicationControllers/web").set(rc_doc("web"))
            trigger.append(wait_count(client, f"namespaces/t{run}/pods", N) - start)

            start = time.perf_counter()
            batch = client.batch()
            for i in range(N):
                batch.set(client.document(f"namespaces/f{run}/pods/p{i}"), {"metadata": {"name": f"p{i}"}})
            batch.commit()
            floor.append(wait_count(client, f"namespaces/f{run}/pods", N) - start)
    finally:
        server.stop()
        firestore_emulator.stop()
        router.stop()

    def row(name: str, values: list[float]) -> str:
        return f"{name:<34} p50 {statistics.median(values) * 1000:7.1f} ms   p95 {percentile(values, 0.95) * 1000:7.1f} ms"

    print(f"controller write -> {N} pods, {runs} runs (Firestore emulator, functions-framework)")
    print(row("through the trigger path", trigger))
    print(row("floor: one commit of 10 documents", floor))
    print(f"ratio p50 {statistics.median(trigger) / statistics.median(floor):.1f}x   "
          f"p95 {percentile(trigger, 0.95) / percentile(floor, 0.95):.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 25)
