"""A document at Firestore's 1 MiB edge: the write that would push it over is a condition
and an event, the pass completes, and nothing retries it in a loop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore import DELETE_FIELD

from emulator.compute import ComputeEmulator
from functions.controllers.pods import FINALIZER, sync_pod
from functions.controllers.resync import resync_all, summary_status
from functions.controllers.services import sync_service
from functions.objects import STATUS_WRITTEN, TOO_LARGE
from functions.runtime import Runtime
from functions.store import (
    MAX_DOCUMENT_BYTES,
    PODS,
    SERVICES,
    Store,
    Update,
    Write,
    doc_path,
    document_size,
)
from tests.helpers import pod_doc

GAP = 300  # bytes left under the limit: room for a condition, not for a pod's running status


def at_the_edge(path: str, doc: dict[str, Any], gap: int = GAP) -> dict[str, Any]:
    """``doc`` with an annotation that leaves it ``gap`` bytes under Firestore's limit."""
    doc["metadata"].setdefault("annotations", {})["notes"] = ""
    doc["metadata"]["annotations"]["notes"] = "n" * (MAX_DOCUMENT_BYTES - gap - document_size(path, doc))
    assert document_size(path, doc) == MAX_DOCUMENT_BYTES - gap
    return doc


def data(rt: Runtime, path: str) -> dict[str, Any]:
    return rt.store.client.document(path).get().to_dict() or {}


def events(rt: Runtime) -> list[dict[str, Any]]:
    return [e.to_dict() or {} for e in rt.store.client.collection("namespaces/default/events").stream()]


def test_a_pod_at_the_edge_gets_a_condition_and_its_pass_completes(crt: Runtime, compute: ComputeEmulator) -> None:
    path = doc_path("default", PODS, "edge")
    doc = pod_doc("edge", {"app": "edge"})
    doc["metadata"]["finalizers"] = [FINALIZER]
    crt.store.client.document(path).set(at_the_edge(path, doc))

    result = sync_pod(crt.store, crt.provider, crt.settings, "default", "edge", crt.clock)  # no raise
    assert result.error is None
    status = data(crt, path)["status"]
    [condition] = [c for c in status["conditions"] if c["type"] == STATUS_WRITTEN]
    assert (condition["status"], condition["reason"]) == ("False", TOO_LARGE)
    assert "1,048,576-byte limit" in condition["message"] and "make it smaller" in condition["message"]
    assert status["phase"] == "Pending"  # the running status itself did not fit
    [event] = [e for e in events(crt) if e["reason"] == TOO_LARGE]
    assert event["type"] == "Warning" and event["involvedObject"]["name"] == "edge"

    before = crt.store.ops.snapshot()
    sync_pod(crt.store, crt.provider, crt.settings, "default", "edge", crt.clock)  # said already: no writes
    assert crt.store.ops.snapshot()["writes"] == before["writes"]

    summary = resync_all(crt, full=True)
    assert summary["errors"] == [] and summary_status(summary) == 200

    # Made smaller: the next pass writes the status, and the condition goes.
    crt.store.client.document(path).update({"metadata.annotations.notes": DELETE_FIELD})
    sync_pod(crt.store, crt.provider, crt.settings, "default", "edge", crt.clock)
    status = data(crt, path)["status"]
    assert status["phase"] == "Running"
    assert [c for c in status["conditions"] if c["type"] == STATUS_WRITTEN] == []


def test_a_service_too_close_for_even_the_condition_gets_the_event(crt: Runtime, compute: ComputeEmulator) -> None:
    """Services share the guarded pass: with no room even for the condition, the event
    (a document of its own) still says why, and the pass completes."""
    path = doc_path("default", SERVICES, "front")
    doc = {"metadata": {"name": "front", "finalizers": ["firecontrol.io/load-balancer"]},
           "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 80}]}}
    crt.store.client.document(path).set(at_the_edge(path, doc, gap=60))
    sync_service(crt.store, crt.provider, crt.settings, "default", "front", crt.clock)  # no raise
    assert "status" not in data(crt, path)
    [event] = [e for e in events(crt) if e["reason"] == TOO_LARGE]
    assert event["involvedObject"]["kind"] == "Service" and "make it smaller" in event["message"]


class RefusingStatus(Store):
    """The real store, except that Firestore refuses (as it does over 1 MiB) any status write
    the size estimate let through: the same condition comes from its answer."""

    def commit(self, writes: Sequence[Write], now: datetime) -> None:
        if any(isinstance(w, Update) and "status" in w.fields for w in writes):
            raise gexc.InvalidArgument("maximum entity size is 1048576 bytes")
        super().commit(writes, now)


def test_a_write_firestore_refuses_for_size_gets_the_condition(crt: Runtime, compute: ComputeEmulator) -> None:
    path = doc_path("default", PODS, "solo")
    crt.store.client.document(path).set(pod_doc("solo", {"app": "solo"}))
    refusing = RefusingStatus(crt.store.client)
    sync_pod(refusing, crt.provider, crt.settings, "default", "solo", crt.clock)  # no raise
    [condition] = [c for c in data(crt, path)["status"]["conditions"] if c["type"] == STATUS_WRITTEN]
    assert condition["reason"] == TOO_LARGE and "maximum entity size" in condition["message"]


def test_a_controller_at_the_edge_reports_and_does_not_raise(rt: Runtime) -> None:
    """A controller whose status write cannot fit: no pod (the guarded commit carries the
    status), no exception out of the pass, and a Warning event saying why."""
    from functions.controllers.replication import sync_controller
    from functions.store import CONTROLLERS
    from tests.helpers import rc_doc

    path = doc_path("default", CONTROLLERS, "edge")
    rt.store.client.document(path).set(at_the_edge(path, rc_doc("edge", 2), gap=60))
    result = sync_controller(rt.store, rt.settings, "default", "edge", rt.clock)  # no raise
    assert result.failed and result.created == 0
    assert [e["reason"] for e in events(rt)] == ["FailedCreate"]
    assert "size" in events(rt)[0]["message"] or "bytes" in events(rt)[0]["message"]
    assert not list(rt.store.client.collection("namespaces/default/pods").stream())
