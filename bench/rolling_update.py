"""A rolling update of 10 replicas with a VM boot of D = 3 s, ``maxSurge: 1``, ``maxUnavailable: 0``.

The local stack runs as ``python main.py up`` does (Firestore emulator with triggers,
every function its own functions-framework server, the Compute emulator's simulated
agents reporting readiness), with the Compute emulator booting each VM in D seconds.
A Deployment of 10 replicas is rolled out, then its image changes; the figure is the
time from that write to the Deployment complete again (every replica updated and
available, no old pod left), beside the floor: with one surge pod and none
unavailable, ten boots one after another (10 D).

Run: ``.venv/bin/python bench/rolling_update.py [D seconds] [replicas]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.local import local_stack

NAMESPACE, NAME = "bench", "web"
AGENT_TIME_SCALE = 20.0  # the agent's own delays (container start 1 s) out of the way of D


def deployment(replicas: int, image: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": NAME}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": {"app": NAME}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


def complete(data: dict[str, Any], replicas: int) -> bool:
    """``kubectl rollout status``'s test: observed, all updated, none old, all available."""
    meta, status = data.get("metadata") or {}, data.get("status") or {}
    return (status.get("observedGeneration") or 0) >= (meta.get("generation") or 1) \
        and status.get("updatedReplicas") == replicas and status.get("replicas") == replicas \
        and status.get("availableReplicas") == replicas


def wait_complete(doc: Any, replicas: int, timeout: float, after: int = 0) -> float:
    """Seconds until the rollout is complete at a generation above ``after`` (the pass
    advances the generation when it first sees a spec change)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        snap = doc.get()
        data = snap.to_dict() or {} if snap.exists else {}
        if (data.get("metadata") or {}).get("generation", 0) > after and complete(data, replicas):
            return time.perf_counter() - start
        time.sleep(0.1)
    raise TimeoutError(f"the rollout did not complete in {timeout:.0f} s")


def main() -> None:
    boot = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    replicas = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    logs = Path(tempfile.mkdtemp(prefix="bench-rolling-"))
    with local_stack(logs=logs, agent_time_scale=AGENT_TIME_SCALE, vm_boot_seconds=boot) as endpoints:
        os.environ["FIRESTORE_EMULATOR_HOST"] = endpoints["firestore"]
        from google.cloud import firestore

        db = firestore.Client(project=endpoints["project"], database=endpoints["database"])
        doc = db.document(f"namespaces/{NAMESPACE}/deployments/{NAME}")
        doc.set(deployment(replicas, "nginx:1.27"))
        first = wait_complete(doc, replicas, timeout=120 + 10 * boot)
        generation = (doc.get().to_dict() or {}).get("metadata", {}).get("generation")
        doc.update({"spec.template.spec.containers": [{"name": "web", "image": "nginx:1.28"}]})
        took = wait_complete(doc, replicas, timeout=120 + 20 * boot, after=generation or 1)
        after = doc.get().to_dict() or {}
        pods = [s.to_dict() or {} for s in db.collection(f"namespaces/{NAMESPACE}/pods").stream()]
        images = {p["spec"]["containers"][0]["image"] for p in pods if not p["metadata"].get("deletionTimestamp")}
    floor = replicas * boot
    print(f"rolling update, {replicas} replicas, VM boot D = {boot:g} s, maxSurge 1, maxUnavailable 0")
    print(f"| first rollout (0 -> {replicas}) | {first:.1f} s |")
    print(f"| image change -> complete | {took:.1f} s = {took / boot:.1f} D |")
    print(f"| floor: {replicas} boots one after another | {floor:.1f} s = {replicas} D |")
    print(f"| over the floor | {took - floor:+.1f} s ({(took - floor) / replicas:.2f} s a step) |")
    print(f"generation {generation} -> {after.get('metadata', {}).get('generation')}, images now {sorted(images)}")


if __name__ == "__main__":
    main()
