"""ReplicaSets and Deployments through the real trigger path: documents written by a
Firestore client, the emulator's trigger deliveries calling the handlers, pods given VMs
on the Compute emulator. And the handlers' choices on single changes, resync's part for
Deployments, and the entry points' cold imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from emulator.compute import ComputeEmulator
from emulator.firestore import FirestoreEmulator
from functions.controllers.replica_kinds import REPLICA_SET
from functions.controllers.resync_deployments import (
    deployment_work,
    read_deployments,
    resync_deployments,
)
from functions.events import DocumentChange, StoredDocument
from functions.handlers import (
    controller_of,
    on_deployment_change,
    on_replicaset_change,
)
from functions.objects import object_uid
from functions.runtime import Runtime
from functions.store import DEPLOYMENTS, REPLICA_SETS, Store, doc_path
from tests.helpers import active, pods, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workloads(cluster: Runtime) -> Runtime:
    """The ``cluster`` control plane, whose triggers include ReplicaSets and Deployments."""
    return cluster


def template(app: str, image: str = "nginx:1.27") -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "web", "image": image}]}}


def rs_doc(name: str, replicas: int, app: str | None = None) -> dict[str, Any]:
    app = app or name
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"replicas": replicas,
                     "selector": {"matchLabels": {"app": app},
                                  "matchExpressions": [{"key": "app", "operator": "In", "values": [app, "other"]}]},
                     "template": template(app)}}


def deployment_doc(name: str, replicas: int, app: str | None = None) -> dict[str, Any]:
    app = app or name
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}}, "template": template(app)}}


def data(store: Store, collection: str, name: str) -> dict[str, Any]:
    return store.client.document(doc_path("default", collection, name)).get().to_dict() or {}


def replica_sets(store: Store) -> dict[str, dict[str, Any]]:
    return {d.name: d.data for d in store.in_namespace("default", REPLICA_SETS)}


def vms(compute: ComputeEmulator) -> list[str]:
    return sorted(i["name"] for i in compute.state.dump()["resources"]["instances"])


def owners(store: Store) -> set[tuple[str, str] | None]:
    return {(ref["kind"], ref["name"]) if (ref := p.controller_ref()) is not None else None for p in active(store)}


# -- through the triggers ----------------------------------------------------------------


def test_a_replicaset_written_by_a_client_gets_its_pods_and_its_deletion_cascades(
    workloads: Runtime, compute: ComputeEmulator,
) -> None:
    store = workloads.store
    path = doc_path("default", REPLICA_SETS, "web")
    store.client.document(path).set(rs_doc("web", 3))
    wait_for(lambda: len(active(store)) == 3, timeout=30)
    assert owners(store) == {("ReplicaSet", "web")}
    uid = wait_for(lambda: data(store, REPLICA_SETS, "web").get("metadata", {}).get("uid"))
    assert all(p.controller_ref()["uid"] == uid for p in active(store))  # type: ignore[index]
    wait_for(lambda: len(vms(compute)) == 3, timeout=30)
    wait_for(lambda: data(store, REPLICA_SETS, "web").get("status", {}).get("readyReplicas") == 3, timeout=30)

    store.client.document(path).update({"spec.replicas": 1})
    wait_for(lambda: len(active(store)) == 1, timeout=30)

    store.client.document(path).delete()
    wait_for(lambda: pods(store) == [] and vms(compute) == [], timeout=30)


def test_a_deployment_makes_its_replicaset_and_pods_and_hears_their_status(
    workloads: Runtime, compute: ComputeEmulator,
) -> None:
    store = workloads.store
    path = doc_path("default", DEPLOYMENTS, "web")
    store.client.document(path).set(deployment_doc("web", 3))
    sets = wait_for(lambda: replica_sets(store), timeout=30)
    [(rs_name, rs)] = sets.items()
    assert rs_name.startswith("web-")
    assert controller_of(rs) == ("Deployment", "web")
    wait_for(lambda: len(active(store)) == 3, timeout=30)
    assert owners(store) == {("ReplicaSet", rs_name)}
    # The Deployment's status comes from its ReplicaSet's: it reached the Deployment
    # only through the ReplicaSet's status-change trigger.
    wait_for(lambda: data(store, DEPLOYMENTS, "web").get("status", {}).get("availableReplicas") == 3, timeout=30)
    status = data(store, DEPLOYMENTS, "web")["status"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"]) == (3, 3, 3)

    store.client.document(path).update({"spec.replicas": 1})
    wait_for(lambda: len(active(store)) == 1 and replica_sets(store)[rs_name]["spec"]["replicas"] == 1, timeout=30)
    wait_for(lambda: data(store, DEPLOYMENTS, "web").get("status", {}).get("replicas") == 1, timeout=30)

    store.client.document(path).delete()
    wait_for(lambda: replica_sets(store) == {}, timeout=30)
    wait_for(lambda: pods(store) == [] and vms(compute) == [], timeout=30)


def test_a_new_template_rolls_out_to_a_new_replicaset_through_the_triggers(
    workloads: Runtime, compute: ComputeEmulator,
) -> None:
    """Each rollout step is a pass asked for by a document change: the new ReplicaSet's
    pods becoming available let the Deployment scale the old one down, to the end."""
    store = workloads.store
    path = doc_path("default", DEPLOYMENTS, "web")
    store.client.document(path).set(deployment_doc("web", 2))
    wait_for(lambda: data(store, DEPLOYMENTS, "web").get("status", {}).get("availableReplicas") == 2, timeout=30)
    [old] = replica_sets(store)
    store.client.document(path).update({"spec.template.spec.containers": [{"name": "web", "image": "nginx:1.28"}]})

    def rolled_out() -> bool:
        sets = replica_sets(store)
        new = [n for n in sets if n != old]
        return len(new) == 1 and sets[old]["spec"]["replicas"] == 0 and sets[new[0]]["spec"]["replicas"] == 2 \
            and {p.controller_ref()["name"] for p in active(store)} == set(new)  # type: ignore[index]

    wait_for(rolled_out, timeout=45)
    status = wait_for(lambda: (s := data(store, DEPLOYMENTS, "web").get("status", {})).get("updatedReplicas") == 2
                      and s.get("availableReplicas") == 2 and s)
    assert status["replicas"] == 2


def test_an_orphan_replicaset_is_adopted_by_the_deployment_selecting_it(workloads: Runtime) -> None:
    store = workloads.store
    store.client.document(doc_path("default", DEPLOYMENTS, "web")).set(deployment_doc("web", 1))
    wait_for(lambda: len(active(store)) == 1, timeout=30)
    [own] = replica_sets(store)
    # A ReplicaSet a client makes with labels the Deployment selects, owned by no one.
    stray = rs_doc("stray", 0, app="web")
    stray["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = "abc"
    stray["spec"]["selector"]["matchLabels"]["pod-template-hash"] = "abc"
    store.client.document(doc_path("default", REPLICA_SETS, "stray")).set(stray)
    wait_for(lambda: controller_of(replica_sets(store).get("stray", {})) == ("Deployment", "web"), timeout=30)
    assert set(replica_sets(store)) == {own, "stray"}


# -- the handlers' choices, one change at a time ------------------------------------------


def _change(kind: str, path: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> DocumentChange:
    now = datetime.now(UTC)
    created = now - timedelta(seconds=5)
    return DocumentChange(
        kind,  # type: ignore[arg-type]
        path,
        StoredDocument(old, created, now) if old is not None else None,
        StoredDocument(new, created, now) if new is not None else None,
    )


OWNED = {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u",
                              "controller": True}]}


def test_a_status_write_that_leaves_the_counts_alone_asks_for_nothing(rt: Runtime) -> None:
    path = doc_path("default", REPLICA_SETS, "web-abc")
    before = {**rs_doc("web-abc", 2), "status": {"replicas": 2, "readyReplicas": 1, "observedGeneration": 1}}
    before["metadata"] = {**before["metadata"], **OWNED}
    window = {**before, "status": {**before["status"], "slowStart": 4}}
    assert on_replicaset_change(_change("updated", path, before, window), rt) == {"action": "skipped"}
    # A count changed: the owning Deployment's pass (it does not exist: nothing to do, but asked).
    ready = {**before, "status": {**before["status"], "readyReplicas": 2}}
    assert on_replicaset_change(_change("updated", path, before, ready), rt) == \
        {"action": "passed-on", "deployment": "web", "coalesced": False}
    # A quota refusal on the ReplicaSet: the Deployment copies ReplicaFailure, so it is passed.
    refused = {**before, "status": {**before["status"], "conditions": [
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "Quota 'CPUS' exceeded"}]}}
    assert on_replicaset_change(_change("updated", path, before, refused), rt)["action"] == "passed-on"
    # A ReplicaSet of no Deployment: its status goes nowhere.
    alone = {**rs_doc("solo", 1), "status": {"replicas": 0}}
    counted = {**alone, "status": {"replicas": 1}}
    assert on_replicaset_change(_change("updated", doc_path("default", REPLICA_SETS, "solo"), alone, counted), rt) \
        == {"action": "passed-on", "deployment": None}


def test_a_deployment_s_own_status_write_is_skipped_and_events_elsewhere_ignored(rt: Runtime) -> None:
    path = doc_path("default", DEPLOYMENTS, "web")
    doc = deployment_doc("web", 1)
    assert on_deployment_change(_change("updated", path, doc, {**doc, "status": {"replicas": 1}}), rt) == \
        {"action": "skipped"}
    wrong = doc_path("default", REPLICA_SETS, "web")
    assert on_deployment_change(_change("created", wrong, None, doc), rt) == {"action": "ignored"}
    assert on_replicaset_change(_change("created", path, None, doc), rt) == {"action": "ignored"}


@pytest.mark.parametrize("references", [
    None, "x", [], [{"kind": "Deployment", "name": "web"}], [{"kind": "Deployment", "name": 7, "controller": True}],
    [{"kind": "Deployment", "name": "a/b", "controller": True}], [{"kind": "Deployment", "name": "", "controller": True}],
    [{"kind": None, "name": "web", "controller": True}],
])
def test_a_malformed_owner_reference_names_no_owner(references: Any) -> None:
    assert controller_of({"metadata": {"ownerReferences": references}}) is None
    assert controller_of("not a map") is None


def test_a_deleted_replicaset_s_pods_go_even_when_its_deployment_is_gone(rt: Runtime) -> None:
    store = rt.store
    path = doc_path("default", REPLICA_SETS, "web-abc")
    store.client.document(path).set(rs_doc("web-abc", 2))
    from functions.controllers.replication import sync_controller

    sync_controller(store, rt.settings, "default", "web-abc", rt.clock, kind=REPLICA_SET)
    assert len(active(store)) == 2
    snap = store.client.document(path).get()
    old = {**(snap.to_dict() or {})}
    old["metadata"] = {**old["metadata"], **OWNED}
    store.client.document(path).delete()
    change = DocumentChange("deleted", path, StoredDocument(old, snap.create_time, snap.update_time), None)
    reply = on_replicaset_change(change, rt)
    # Its Deployment is gone (its own cascade deleted the ReplicaSet): no pass asked for.
    assert (reply["action"], reply["deleted"], reply["deployment"]) == ("cascade", 2, None)
    assert active(store) == []
    assert store.in_namespace("default", "leases") == []


# -- resync's part ---------------------------------------------------------------------------


def test_resync_passes_a_deployment_whose_event_was_lost_and_collects_replicasets_of_a_gone_one(rt: Runtime) -> None:
    store = rt.store
    store.client.document(doc_path("default", DEPLOYMENTS, "web")).set(deployment_doc("web", 2))  # no trigger
    stray = rs_doc("old-abc", 1, app="old")
    stray["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "old",
                                             "uid": "gone", "controller": True, "blockOwnerDeletion": True}]
    store.client.document(doc_path("default", REPLICA_SETS, "old-abc")).set(stray)

    summary = resync_deployments(rt, full=False, replica_sets=store.all_of_kind(REPLICA_SETS))
    assert summary == {"deployments": 1, "replicaSetsOrphaned": 1, "errors": []}
    sets = replica_sets(store)
    assert "old-abc" not in sets
    [(name, rs)] = sets.items()
    assert name.startswith("web-") and rs["spec"]["replicas"] == 2 and controller_of(rs) == ("Deployment", "web")


def test_resync_leaves_a_deployment_at_rest_alone_unless_the_sweep_is_full(rt: Runtime) -> None:
    store = rt.store
    path = doc_path("default", DEPLOYMENTS, "web")
    store.client.document(path).set(deployment_doc("web", 0))
    from functions.controllers.deployments import deployment_at_rest, sync_deployment

    for _ in range(3):  # as many passes as it takes to settle (each one a trigger's, on the platform)
        sync_deployment(store, rt.settings, "default", "web", rt.clock)
    [doc] = read_deployments(rt)
    assert deployment_at_rest(doc), doc.data.get("status")
    assert deployment_work(rt, [doc], full=False) == []
    [item] = deployment_work(rt, [doc], full=True)
    assert (item.step, item.key, item.subject) == ("deployments", path, ("Deployment", "default", "web",
                                                                          object_uid(doc.path, doc.create_time)))
    # An owner made after the Deployments were read is looked up, and keeps its ReplicaSets.
    rs_of_web = next(d for d in store.all_of_kind(REPLICA_SETS))
    [collect] = deployment_work(rt, [], full=False, replica_sets=[rs_of_web])
    collect.run()
    assert store.get(rs_of_web.path) is not None


# -- cold imports ---------------------------------------------------------------------------

PROBE = r"""
import sys
from cloudevents.http import CloudEvent
import main
target, subject, body = sys.argv[1], sys.argv[2], sys.argv[3]
event = CloudEvent({"type": "google.cloud.firestore.document.v1.written", "source": "test", "subject": subject},
                   open(body, "rb").read())
getattr(main, target)(event)
print("google.cloud.compute_v1" in sys.modules)
"""


def _written_event(store: Store, project: str, path: str, document: dict[str, Any], out: Path) -> None:
    """Write the document, and the Eventarc body announcing it, as the platform would."""
    from google.events.cloud.firestore_v1 import (
        ArrayValue,
        Document,
        DocumentEventData,
        MapValue,
        Value,
    )

    def value(v: Any) -> Any:
        if isinstance(v, dict):
            return Value(map_value=MapValue(fields={k: value(x) for k, x in v.items()}))
        if isinstance(v, list):
            return Value(array_value=ArrayValue(values=[value(x) for x in v]))
        if isinstance(v, int) and not isinstance(v, bool):
            return Value(integer_value=v)
        return Value(string_value=str(v))

    store.client.document(path).set(document)
    snap = store.client.document(path).get()
    message = DocumentEventData(value=Document(
        name=f"projects/{project}/databases/(default)/documents/{path}",
        fields={k: value(v) for k, v in document.items()}, create_time=snap.create_time, update_time=snap.update_time))
    out.write_bytes(DocumentEventData.serialize(message))


@pytest.mark.parametrize(("entry", "collection", "document"), [
    ("sync_replicaset", REPLICA_SETS, rs_doc("web", 2)),
    ("sync_deployment", DEPLOYMENTS, deployment_doc("web", 2)),
])
def test_the_workload_entry_points_do_their_work_without_the_compute_client(
    store: Store, project: str, firestore_emulator: FirestoreEmulator, tmp_path: Path,
    entry: str, collection: str, document: dict[str, Any],
) -> None:
    path = doc_path("default", collection, "web")
    body = tmp_path / "event.bin"
    _written_event(store, project, path, document, body)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FIRECONTROL_")},
           "FIRESTORE_EMULATOR_HOST": firestore_emulator.host, "GOOGLE_CLOUD_PROJECT": project}
    done = subprocess.run([sys.executable, "-c", PROBE, entry, f"documents/{path}", str(body)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False", "the Compute Engine client was imported"
    # ...and the invocation did its work: pods for the ReplicaSet, a ReplicaSet for the Deployment.
    if entry == "sync_replicaset":
        assert 1 <= len(active(store)) <= 2  # slow start: the first of them, until it has its VM
        assert {p.controller_ref()["kind"] for p in active(store)} == {"ReplicaSet"}  # type: ignore[index]
    else:
        [rs] = replica_sets(store).values()
        assert controller_of(rs) == ("Deployment", "web") and json.dumps(rs["spec"]["template"]).count("nginx") == 1


# -- the local stack's demo ----------------------------------------------------------------


def test_the_demo_applies_replicasets_and_deployments_and_names_a_kind_it_cannot(
    store: Store, project: str, firestore_emulator: FirestoreEmulator, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import yaml

    from emulator import local

    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "a.yaml").write_text(yaml.safe_dump_all([deployment_doc("front", 2), None,
                                                                      rs_doc("back", 1)]))
    monkeypatch.setattr(local, "ROOT", tmp_path)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)  # apply_demo sets it: restored after
    local.apply_demo(project, firestore_emulator.host)
    assert data(store, DEPLOYMENTS, "front")["spec"]["replicas"] == 2
    assert data(store, REPLICA_SETS, "back")["kind"] == "ReplicaSet"
    (tmp_path / "examples" / "b.yaml").write_text(yaml.safe_dump({"kind": "StatefulSet", "metadata": {"name": "x"}}))
    with pytest.raises(ValueError, match=r"b.yaml: kind 'StatefulSet' is not one the demo applies"):
        local.apply_demo(project, firestore_emulator.host)
