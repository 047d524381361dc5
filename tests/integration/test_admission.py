"""The controller refuses templates the pod runtime would refuse, and stops when it refuses pods anyway."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from functions.controllers.replication import sync_controller
from functions.runtime import Runtime
from functions.store import CONTROLLERS, PODS, doc_path
from tests.helpers import pods, rc_data, rc_doc, write_rc


def sync(rt: Runtime, name: str = "web") -> Any:
    return sync_controller(rt.store, rt.settings, "default", name, rt.clock)


def failure(rt: Runtime, name: str = "web") -> dict[str, Any]:
    conditions = rc_data(rt.store, name)["status"]["conditions"]
    [condition] = [c for c in conditions if c["type"] == "ReplicaFailure"]
    return dict(condition)


def events(rt: Runtime) -> list[dict[str, Any]]:
    return [e.to_dict() or {} for e in rt.store.client.collection("namespaces/default/events").stream()]


def with_template(replicas: int, annotations: dict[str, str] | None = None, **pod_spec: Any) -> dict[str, Any]:
    doc = rc_doc("web", replicas)
    template = doc["spec"]["template"]
    if annotations:
        template["metadata"]["annotations"] = annotations
    template["spec"].update(pod_spec)
    return doc


@pytest.mark.parametrize(("doc", "expected"), [
    (with_template(3, {"firecontrol.io/machine-type": "c3-standard-176"}),
     "spec.template.metadata.annotations['firecontrol.io/machine-type']: 'c3-standard-176' is not allowed in "
     "this installation; allowed machine types: e2-micro, e2-small, e2-medium, e2-standard-2"),
    (with_template(3, {"firecontrol.io/zone": "us-central1-\u0430"}),
     "spec.template.metadata.annotations['firecontrol.io/zone']: 'us-central1-\u0430' is not a zone"),
    (with_template(3, {"firecontrol.io/zone": "europe-west1-b"}),
     "spec.template.metadata.annotations['firecontrol.io/zone']: 'europe-west1-b' is not in this installation's region"),
    (with_template(3, nodeName="someone-elses-vm"), "spec.template.spec.nodeName: 'someone-elses-vm' is not this pod's VM"),
    (with_template(3, containers=[{"name": "a", "image": "nginx"}]), "spec.template.spec.containers[0].name: container name 'a'"),
    (with_template(3, containers=[{"name": "web", "image": "nginx", "env": [
        {"name": f"V{i}", "value": "x" * 30_000} for i in range(30)]}]),
     "spec.template.spec.containers: the pod's names, images, commands, args and env come to"),
])
def test_template_the_runtime_would_refuse_is_invalid_and_makes_no_pod(
    rt: Runtime, doc: dict[str, Any], expected: str
) -> None:
    write_rc(rt.store, doc)
    result = sync(rt)
    assert result.invalid and result.created == 0
    assert pods(rt.store) == []
    condition = failure(rt)
    assert condition["reason"] == "InvalidSpec" and condition["message"].startswith(expected), condition["message"]
    assert [(e["reason"], e["type"]) for e in events(rt)] == [("InvalidSpec", "Warning")]
    before = rt.store.ops.snapshot()
    sync(rt)  # nothing changed: nothing written, no second event
    assert rt.store.ops.snapshot()["writes"] == before["writes"]


def refuse(rt: Runtime, names: list[str]) -> None:
    """What the pod runtime does with a pod it refuses: Failed, PodScheduled False InvalidSpec."""
    now = datetime.now(UTC)
    for name in names:
        rt.store.client.document(doc_path("default", PODS, name)).update({"status": {
            "phase": "Failed", "reason": "InvalidSpec", "message": "spec.containers[0].image: refused",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "InvalidSpec",
                            "message": "spec.containers[0].image: refused", "lastTransitionTime": now}],
        }})


def test_controller_whose_pods_are_refused_stops_creating(rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 3))
    assert sync(rt).created == 3
    refuse(rt, [p.name for p in pods(rt.store)])

    result = sync(rt)
    assert result.created == 0
    assert len(pods(rt.store)) == 3  # the refused pods are kept, as evidence
    condition = failure(rt)
    assert condition["reason"] == "FailedCreate"
    assert condition["message"].startswith("pods made from this template are refused by the pod runtime")
    assert "spec.containers[0].image: refused" in condition["message"]
    assert ("FailedCreate", "Warning") in [(e["reason"], e["type"]) for e in events(rt)]

    before = rt.store.ops.snapshot()
    for _ in range(5):  # no create, fail, delete loop: every later pass does nothing
        assert sync(rt).created == 0
    assert rt.store.ops.snapshot()["writes"] == before["writes"]

    # A new template is tried: pods refused under the old one do not hold it back.
    rt.store.client.document(doc_path("default", CONTROLLERS, "web")).update(
        {"spec.template.spec.containers": [{"name": "web", "image": "nginx:1.28"}]})
    assert sync(rt).created == 3
    assert not [c for c in rc_data(rt.store, "web")["status"]["conditions"] if c["type"] == "ReplicaFailure"]


def test_create_fail_rounds_are_bounded(rt: Runtime) -> None:
    """The runtime refusing every pod, pass after pass: the controller makes one round of
    pods and no more (1,256 events in 50 s before this)."""
    write_rc(rt.store, rc_doc("web", 5))
    made = 0
    for _ in range(10):
        made += sync(rt).created
        refuse(rt, [p.name for p in pods(rt.store) if p.phase != "Failed"])
    assert made == 5
    reasons = sorted(e["reason"] for e in events(rt))
    assert reasons == ["FailedCreate", "SuccessfulCreate", "SuccessfulDelete"]  # each once; 3 refused pods kept
