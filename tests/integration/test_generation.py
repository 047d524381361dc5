"""``metadata.generation`` (docs/kube-api.md §3): kube_api bumps it when a write changes
``spec``, as the apiserver does; a pass advances it only when nobody did (a Firestore
client writing without bumping), so a change is never counted twice.

Against the real Firestore emulator, for replication controllers, ReplicaSets and
Deployments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from functions.controllers.deployments import sync_deployment
from functions.controllers.replica_kinds import REPLICA_SET, REPLICATION_CONTROLLER, ControllerKind
from functions.controllers.replication import sync_controller
from functions.runtime import Runtime
from functions.store import CONTROLLERS, DEPLOYMENTS, REPLICA_SETS, doc_path
from tests.helpers import rc_doc
from tests.integration.test_replicasets import rs_doc

NS = "default"


def deployment_doc(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}},
    }


def _controller(kind: ControllerKind) -> tuple[str, Callable[[str, int], dict[str, Any]], Callable[[Runtime], Any]]:
    def run(rt: Runtime) -> Any:
        return sync_controller(rt.store, rt.settings, NS, "web", rt.clock, kind=kind)
    make = rc_doc if kind is REPLICATION_CONTROLLER else rs_doc
    return kind.collection, make, run


def _deployment() -> tuple[str, Callable[[str, int], dict[str, Any]], Callable[[Runtime], Any]]:
    def run(rt: Runtime) -> Any:
        return sync_deployment(rt.store, rt.settings, NS, "web", rt.clock)
    return DEPLOYMENTS, deployment_doc, run


KINDS = {
    "ReplicationController": _controller(REPLICATION_CONTROLLER),
    "ReplicaSet": _controller(REPLICA_SET),
    "Deployment": _deployment(),
}
assert {KINDS[k][0] for k in KINDS} == {CONTROLLERS, REPLICA_SETS, DEPLOYMENTS}


def generations(rt: Runtime, path: str) -> tuple[Any, Any]:
    data = rt.store.client.document(path).get().to_dict() or {}
    return data.get("metadata", {}).get("generation"), data.get("status", {}).get("observedGeneration")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_firestore_write_that_does_not_bump_gets_one_new_generation(rt: Runtime, kind: str) -> None:
    collection, make, run = KINDS[kind]
    path = doc_path(NS, collection, "web")
    rt.store.client.document(path).set(make("web", 1))
    run(rt)
    assert generations(rt, path) == (1, 1)
    rt.store.client.document(path).update({"spec.replicas": 2})  # generation left at 1
    run(rt)
    assert generations(rt, path) == (2, 2)
    run(rt)  # nothing new: nothing advances
    assert generations(rt, path) == (2, 2)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_kube_apis_bump_is_kept_not_doubled(rt: Runtime, kind: str) -> None:
    collection, make, run = KINDS[kind]
    path = doc_path(NS, collection, "web")
    created = make("web", 1)
    created["metadata"]["generation"] = 1  # as kube_api creates it
    rt.store.client.document(path).set(created)
    run(rt)
    assert generations(rt, path) == (1, 1)
    # kube_api's update: spec changed, generation bumped in the same write
    rt.store.client.document(path).update({"spec.replicas": 3, "metadata.generation": 2})
    run(rt)
    assert generations(rt, path) == (2, 2)
    # two kube_api updates before the pass runs: generation 4, the pass keeps it
    rt.store.client.document(path).update({"spec.replicas": 4, "metadata.generation": 3})
    rt.store.client.document(path).update({"spec.replicas": 5, "metadata.generation": 4})
    run(rt)
    assert generations(rt, path) == (4, 4)
