"""Resync's memory does not grow with what any client writes into the fields it reads:
a pod whose projection is huge (labels, conditions) is kept slim, its VM kept, and its
controller reads its own pods (a review finding of the tenant-safety work)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from emulator.compute import ComputeEmulator
from functions.controllers.pods import FINALIZER
from functions.controllers.replica_kinds import controller_uid, owner_ref
from functions.controllers.resync import POD_BUDGET_BYTES, resync_all, slim
from functions.fingerprint import vm_term
from functions.runtime import Runtime
from functions.store import CONTROLLERS, PODS, Doc, doc_path, document_size
from functions.vm_spec import instance_name
from tests.helpers import rc_doc, write_rc

ZONE = "us-central1-a"


def heavy_pod(name: str, vm: str, ref: dict[str, Any], fill: int) -> dict[str, Any]:
    labels = {"app": "big", **{f"k{i}": "v" * 60 for i in range(fill // 64)}}  # valid labels, many
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "uid": f"uid-{name}", "labels": labels, "ownerReferences": [ref],
                     "finalizers": [FINALIZER], "creationTimestamp": datetime.now(UTC)},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}], "nodeName": vm},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}] * 50,
                   "vmFingerprint": vm_term(vm), "vmZone": ZONE},
    }


def test_slim_keeps_what_the_vm_checks_need_and_little_else() -> None:
    now = datetime.now(UTC)
    data = heavy_pod("p", "fc-p-abc", {"kind": "ReplicationController", "uid": "u", "name": "big", "controller": True},
                     900_000)
    slimmed = slim(Doc("namespaces/default/pods/p", data, now, now))
    assert document_size("namespaces/default/pods/p", data) > 800_000
    assert document_size(slimmed.path, slimmed.data) < 1_024 < POD_BUDGET_BYTES
    meta = slimmed.data["metadata"]
    assert meta["uid"] == "uid-p" and meta["finalizers"] == [FINALIZER] and meta["ownerReferences"][0]["uid"] == "u"
    assert slimmed.data["spec"] == {"nodeName": "fc-p-abc"}
    assert slimmed.data["status"]["phase"] == "Running" and slimmed.data["status"]["vmZone"] == ZONE


def test_a_sweep_over_pods_with_huge_labels_keeps_their_vms_and_syncs_their_controller(
    crt: Runtime, compute: ComputeEmulator
) -> None:
    replicas = 6
    write_rc(crt.store, rc_doc("big", replicas))
    rc = crt.store.get(doc_path("default", CONTROLLERS, "big"))
    assert rc is not None
    ref = owner_ref("big", controller_uid(rc.path, rc.create_time))
    vms = []
    for i in range(replicas):
        name = f"big-{i}"
        vm = instance_name("fc", "default", name)
        vms.append(vm)
        crt.store.client.document(doc_path("default", PODS, name)).set(heavy_pod(name, vm, ref, 200_000))
    compute.state.seed_instances(crt.settings.project, ZONE, vms, {"firecontrol-cluster": "fc"})

    summary = resync_all(crt, True)
    assert summary["errors"] == [] and summary["podsOverBudget"] == replicas
    assert summary["vmsDeleted"] == 0 and summary["controllers"] == 1
    assert sorted(i["name"] for i in compute.state.dump()["resources"]["instances"]) == sorted(vms)
    # The controller's own pass read its pods whole and counted them: nothing created or deleted.
    assert summary["created"] == 0 and summary["deleted"] == 0
    status = (crt.store.client.document(rc.path).get().to_dict() or {})["status"]
    assert status["replicas"] == replicas
