"""Every write the pod runtime, the agent's reports, graceful termination and the node
lifecycle make, on a 2014-shaped pod: the document stays a 2014 document that converts.

The pod is the July 2014 guestbook ``redis-master.json`` (kubernetes/examples at
9535a52e, ``guestbook/redis-master.json``), stored as kubecfg stored it: ``id``,
``desiredState.manifest``, top-level ``labels``. The functions write ``spec.nodeName``,
``status`` and ``metadata.*`` beside it; conversion (``functions/api/legacy.py``) merges
what the functions wrote into the converted object, so after every write the pod still
parses, and is served, with its containers.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.compute import ComputeEmulator
from functions.api.kinds import POD
from functions.api.parse import parse_pod
from functions.controllers import node_lifecycle
from functions.controllers.pods import FINALIZER, sync_pod
from functions.runtime import Runtime
from functions.served import served_object
from functions.store import PODS, Doc, doc_path
from tests.helpers import fixture, wait_for
from tests.integration.agent_support import (
    Agent,
    agent_runtime,
    condition,
    container,
    heartbeat,
    pod_doc_of,
)

NAME = "redis-master-2"


def legacy_pod(**extra: Any) -> dict[str, Any]:
    doc = fixture("redis-master-2014.json")
    doc.update(extra)
    return doc


def put(rt: Runtime, doc: dict[str, Any], name: str = NAME) -> str:
    path = doc_path("default", PODS, name)
    rt.store.client.document(path).set(doc)
    return path


def sync(rt: Runtime, name: str = NAME) -> None:
    sync_pod(rt.store, rt.provider, rt.settings, "default", name, rt.clock)


def still_2014(doc: Doc) -> dict[str, Any]:
    """The document is still the 2014 one (its desiredState untouched), it parses, and it is
    served as a v1 Pod with its containers; the served object is returned."""
    original = fixture("redis-master-2014.json")
    assert doc.data["desiredState"] == original["desiredState"] and doc.data["id"] == original["id"]
    parsed = parse_pod(doc.data, "default", doc.name)
    assert parsed.ok, parsed.errors
    assert parsed.legacy
    served = served_object(POD, doc.data, doc.path, doc.create_time, doc.update_time)
    assert served["metadata"]["name"] == NAME and served["metadata"]["labels"] == {"name": "redis-master"}
    assert [c["name"] for c in served["spec"]["containers"]] == ["master"]
    return served


def test_a_2014_pod_gets_its_vm_runs_and_stays_a_2014_document(crt: Runtime, compute: ComputeEmulator) -> None:
    put(crt, legacy_pod())
    sync(crt)  # the finalizer
    assert pod_doc_of(crt, NAME).data["metadata"]["finalizers"] == [FINALIZER]
    sync(crt)  # the VM, spec.nodeName and the status
    doc = pod_doc_of(crt, NAME)
    assert doc.data["spec"]["nodeName"] and doc.data["status"]["phase"] == "Running"
    sync(crt)  # a later pass reads the document the runtime wrote into: still valid
    doc = pod_doc_of(crt, NAME)
    assert doc.data["status"]["phase"] == "Running", doc.data["status"]
    served = still_2014(doc)
    assert served["spec"]["nodeName"] == doc.data["spec"]["nodeName"]
    assert served["status"]["podIP"] and condition(doc.data["status"], "Ready")["status"] == "True"

    # Deleting it (as the CLI marks it): the VM goes, then the document.
    crt.store.client.document(doc.path).update({"metadata.deletionTimestamp": datetime.now(UTC)})
    sync(crt)
    assert crt.store.get(doc.path) is None


def test_a_2014_pod_refused_by_validation_keeps_its_shape(crt: Runtime, compute: ComputeEmulator) -> None:
    bad = legacy_pod()
    bad["desiredState"]["manifest"]["containers"][0]["image"] = "Not An Image"
    path = put(crt, bad)
    sync(crt)
    doc = crt.store.get(path)
    assert doc is not None and doc.data["status"]["phase"] == "Failed"
    assert doc.data["status"]["reason"] == "InvalidSpec"
    assert "desiredState.manifest" not in doc.data["status"]["message"]  # paths as converted: spec.containers[0]
    assert doc.data["desiredState"] == bad["desiredState"] and "spec" not in doc.data
    assert condition(doc.data["status"], "Ready")["status"] == "False"


def test_a_2014_pods_machine_type_is_put_back_where_the_document_keeps_it(crt: Runtime,
                                                                          compute: ComputeEmulator) -> None:
    """v1beta1 kept annotations at the top: the put-back writes there, or it would not count."""
    key = "firecontrol.io/machine-type"
    path = put(crt, legacy_pod(annotations={key: "e2-small"}))
    sync(crt)
    sync(crt)
    assert pod_doc_of(crt, NAME).data["status"]["vmMachineType"] == "e2-small"
    crt.store.client.document(path).update({"annotations": {key: "e2-medium"}})
    sync(crt)
    doc = pod_doc_of(crt, NAME)
    assert doc.data["annotations"] == {key: "e2-small"}
    assert doc.data["status"]["phase"] == "Running"
    still_2014(doc)


def test_a_2014_agent_pod_through_reports_node_lifecycle_and_graceful_termination(
    crt: Runtime, compute: ComputeEmulator
) -> None:
    rt = agent_runtime(crt, heartbeat_timeout=20.0, eviction_timeout=60.0)
    put(rt, legacy_pod())
    sync(rt)
    sync(rt)
    doc = pod_doc_of(rt, NAME)
    assert doc.data["status"]["vmAgent"] and doc.data["spec"]["nodeName"]
    vm = doc.data["spec"]["nodeName"]
    wait_for(lambda: rt.provider.get_instance(vm).status == "RUNNING", timeout=10)
    sync(rt)  # paired with its RUNNING VM
    still_2014(pod_doc_of(rt, NAME))

    # The agent reports: the pod runtime's status and the report's status are both written.
    assert Agent(rt, NAME).report(container("master"))
    doc = pod_doc_of(rt, NAME)
    assert doc.data["status"]["phase"] == "Running" and condition(doc.data["status"], "Ready")["status"] == "True"
    served = still_2014(doc)
    assert served["status"]["containerStatuses"][0]["name"] == "master"
    sync(rt)
    assert pod_doc_of(rt, NAME).data["status"]["phase"] == "Running"

    # The agent goes silent: Ready Unknown, then Failed (NodeLost); both writes keep the shape.
    beat = heartbeat(rt, NAME)
    assert beat is not None
    now = rt.clock()
    unknown = node_lifecycle.check_heartbeat(rt.store, beat, rt.settings, now + timedelta(seconds=30))
    assert unknown.verdict == "unknown" and unknown.written
    doc = pod_doc_of(rt, NAME)
    assert condition(doc.data["status"], "Ready")["status"] == "Unknown"
    still_2014(doc)
    beat = heartbeat(rt, NAME)
    assert beat is not None
    lost = node_lifecycle.check_heartbeat(rt.store, beat, rt.settings, now + timedelta(seconds=120))
    assert lost.verdict == "lost" and lost.written
    doc = pod_doc_of(rt, NAME)
    assert doc.data["status"]["phase"] == "Failed" and condition(doc.data["status"], "Ready")["status"] == "False"
    still_2014(doc)
    sync(rt)  # the runtime releases the lost VM: the finalizer comes off
    doc = pod_doc_of(rt, NAME)
    assert FINALIZER not in doc.data["metadata"].get("finalizers", [])
    still_2014(doc)


def test_a_2014_agent_pod_deleted_gracefully(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = agent_runtime(crt)
    put(rt, legacy_pod())
    sync(rt)
    sync(rt)
    vm = pod_doc_of(rt, NAME).data["spec"]["nodeName"]
    wait_for(lambda: rt.provider.get_instance(vm).status == "RUNNING", timeout=10)
    sync(rt)
    assert Agent(rt, NAME).report(container("master"))
    path = pod_doc_of(rt, NAME).path
    rt.store.client.document(path).update({"metadata.deletionTimestamp": datetime.now(UTC)})
    sync(rt)  # termination starts: status.terminationStarted
    doc = pod_doc_of(rt, NAME)
    assert isinstance(doc.data["status"]["terminationStarted"], datetime)
    still_2014(doc)
    assert Agent(rt, NAME).report(container("master", state="terminated"), terminating=True)
    still_2014(pod_doc_of(rt, NAME))
    sync(rt)  # every container terminated: the VM, then the document
    assert rt.store.get(path) is None


def test_reapplying_a_2014_pod_keeps_its_vm() -> None:
    """``apply`` of the same 2014 file again: what the functions wrote stays (spec.nodeName)."""
    from functions.api import shapes

    stored = copy.deepcopy(legacy_pod())
    stored["spec"] = {"nodeName": "fc-0000-redis-master-2"}
    stored["metadata"] = {"finalizers": [FINALIZER], "uid": "u1"}
    stored["status"] = {"phase": "Running"}
    new = shapes.merged(POD, legacy_pod(), stored)
    assert new["spec"] == {"nodeName": "fc-0000-redis-master-2"}
    assert new["metadata"]["finalizers"] == [FINALIZER] and new["status"] == {"phase": "Running"}
    parsed = parse_pod(new, "default", NAME)
    assert parsed.ok and parsed.obj is not None and parsed.obj.spec.node_name == "fc-0000-redis-master-2"
