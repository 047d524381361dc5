"""The real trigger path: Firestore emulator -> Eventarc-format event -> functions-framework."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.compute import ComputeEmulator
from emulator.firestore import FirestoreEmulator
from emulator.functions import FunctionServer
from emulator.router import TriggerRouter
from functions.store import CONTROLLERS, PODS, Store, doc_path
from tests.helpers import active, pods, rc_doc, wait_for, write_rc

PATTERN = "namespaces/{namespace}/replicationControllers/{name}"


@pytest.fixture
def servers(
    firestore_emulator: FirestoreEmulator, compute: ComputeEmulator, project: str, tmp_path: Path
) -> Iterator[dict[str, FunctionServer]]:
    # the replication manager alone: no pod runtime gives pods VMs, so no slow start
    env = {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host, "GOOGLE_CLOUD_PROJECT": project,
           "FIRECONTROL_SLOW_START": "false", "COMPUTE_API_ENDPOINT": compute.url,
           "FIRECONTROL_POD_START_TIMEOUT": "5"}
    started = {
        name: FunctionServer(name, kind, env, log_path=tmp_path / f"{name}.log").start()
        for name, kind in (("sync_controller", "cloudevent"), ("resync", "http"))
    }
    yield started
    for server in started.values():
        server.stop()


def test_a_plain_document_write_makes_the_pods_appear(
    servers: dict[str, FunctionServer], router: TriggerRouter, firestore_emulator: FirestoreEmulator,
    store: Store, project: str,
) -> None:
    router.route(project, "sync_controller", servers["sync_controller"].url)
    firestore_emulator.register_trigger(project, "sync_controller", PATTERN)

    path = write_rc(store, rc_doc("web", 4))
    wait_for(lambda: len(active(store)) == 4)
    wait_for(lambda: (store.client.document(path).get().to_dict() or {}).get("status", {}).get("replicas") == 4)

    store.client.document(path).update({"spec.replicas": 2})
    wait_for(lambda: len(active(store)) == 2)

    store.client.document(path).delete()
    # Each pod holds the VM finalizer (no pod runtime here): every one is marked for it.
    wait_for(lambda: len(pods(store)) == 4 and all(p.being_deleted for p in pods(store)))
    assert router.failures == []
    # our own status writes were delivered too, and changed nothing: no event storm
    deliveries = len(router.recorded(project, "sync_controller"))
    assert deliveries <= 8, deliveries


def test_resync_over_http_repairs_a_missed_event(
    servers: dict[str, FunctionServer], store: Store, project: str
) -> None:
    write_rc(store, rc_doc("web", 3))  # no trigger registered: the event is "lost"
    orphan = {"metadata": {"name": "stray", "labels": {"app": "gone"}, "ownerReferences": [
        {"apiVersion": "v1", "kind": "ReplicationController", "name": "gone", "uid": "x", "controller": True}
    ]}, "spec": {"containers": [{"name": "a", "image": "b"}]}}
    store.client.document(doc_path("default", PODS, "stray")).set(orphan)
    request = urllib.request.Request(servers["resync"].url, data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        summary = json.load(response)
    assert response.status == 200
    assert summary["controllers"] == 1 and summary["created"] == 3 and summary["orphansDeleted"] == 1
    assert summary["errors"] == []
    assert sorted(p.name for p in active(store)) == sorted(p.name for p in pods(store))
    assert len(active(store)) == 3
    assert store.client.document(doc_path("default", CONTROLLERS, "web")).get().exists
