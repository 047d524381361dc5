"""A rollout whose every event comes twice and out of order keeps its bounds.

Eventarc delivers at least once and in no order. Here the router sends every event of
every trigger (Deployments, ReplicaSets, pods) twice, each copy held a random time,
while a Deployment rolls a new image out; a Firestore listener on the pods sees every
state, and no state breaks ``replicas - maxUnavailable`` available or
``replicas + maxSurge`` counted pods. (No agent here: a pod is Ready when its VM runs.)
"""

from __future__ import annotations

import threading
from typing import Any

from emulator.compute import ComputeEmulator
from emulator.router import TriggerRouter
from functions.runtime import Runtime
from functions.store import DEPLOYMENTS, PODS, doc_path
from tests.helpers import wait_for

REPLICAS, SURGE, UNAVAILABLE = 4, 1, 1
Json = dict[str, Any]


def deployment(image: str) -> Json:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": SURGE, "maxUnavailable": UNAVAILABLE}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


def counted(pod: Json) -> bool:
    return not (pod.get("metadata") or {}).get("deletionTimestamp") \
        and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def available(pod: Json) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return counted(pod) and any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def complete(rt: Runtime, image: str) -> bool:
    doc = rt.store.client.document(doc_path("default", DEPLOYMENTS, "web")).get().to_dict() or {}
    meta, status = doc.get("metadata") or {}, doc.get("status") or {}
    live = [p.to_dict() or {} for p in rt.store.client.collection(f"namespaces/default/{PODS}").stream()]
    live = [p for p in live if counted(p)]
    return (status.get("observedGeneration") or 0) >= (meta.get("generation") or 1) \
        and status.get("updatedReplicas") == status.get("availableReplicas") == status.get("replicas") == REPLICAS \
        and len(live) == REPLICAS and all(available(p) and p["spec"]["containers"][0]["image"] == image for p in live)


def test_a_rollout_with_every_event_twice_and_out_of_order_keeps_its_bounds(
    cluster: Runtime, compute: ComputeEmulator, router: TriggerRouter
) -> None:
    path = doc_path("default", DEPLOYMENTS, "web")
    states: list[list[Json]] = []
    lock = threading.Lock()

    def on(snapshots: list[Any], *_: Any) -> None:
        with lock:
            states.append([s.to_dict() or {} for s in snapshots])

    router.duplicate, router.delay = 1.0, (0.0, 0.15)
    watch = None
    try:
        cluster.store.client.document(path).set(deployment("nginx:1.27"))
        wait_for(lambda: complete(cluster, "nginx:1.27"), timeout=60, interval=0.2)
        watch = cluster.store.client.collection(f"namespaces/default/{PODS}").on_snapshot(on)
        cluster.store.client.document(path).update({"spec.template.spec.containers": [
            {"name": "web", "image": "nginx:1.28"}]})
        wait_for(lambda: complete(cluster, "nginx:1.28"), timeout=90, interval=0.2)
        router.wait_idle()
        copies = [n for p, n in list(router.copies) if p == cluster.settings.project]
    finally:
        router.duplicate, router.delay = 0.0, (0.0, 0.0)
        if watch is not None:
            watch.unsubscribe()
    with lock:
        seen = list(states)
    assert len(seen) > 5 and len(copies) > 10 and set(copies) == {2}  # every event really came twice
    assert min(sum(map(available, state)) for state in seen) >= REPLICAS - UNAVAILABLE
    assert max(sum(map(counted, state)) for state in seen) <= REPLICAS + SURGE
