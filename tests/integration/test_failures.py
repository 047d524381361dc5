"""Failures the database reports: conditions set and cleared, limits respected."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.api_core import exceptions as gexc

from functions.controllers.replication import sync_controller
from functions.runtime import Runtime
from functions.store import Create, Store, Write
from tests.helpers import active, rc_data, rc_doc, write_rc


class RefusingCreates(Store):
    """The real store, except that Firestore refuses any commit that creates a pod."""

    def commit(self, writes: Sequence[Write], now: datetime) -> None:
        if any(isinstance(w, Create) for w in writes):
            raise gexc.InvalidArgument("the document is too large")
        super().commit(writes, now)


def test_refused_create_sets_failed_create_then_clears(rt: Runtime) -> None:
    write_rc(rt.store, rc_doc("web", 2))
    refusing = RefusingCreates(rt.store.client)
    result = sync_controller(refusing, rt.settings, "default", "web", rt.clock)
    assert result.failed and result.created == 0
    [condition] = rc_data(rt.store, "web")["status"]["conditions"]
    assert (condition["type"], condition["reason"]) == ("ReplicaFailure", "FailedCreate")
    assert "the document is too large" in condition["message"]
    events = [e.to_dict() or {} for e in rt.store.client.collection("namespaces/default/events").stream()]
    assert [(e["reason"], e["type"]) for e in events] == [("FailedCreate", "Warning")]

    sync_controller(rt.store, rt.settings, "default", "web", rt.clock)
    assert len(active(rt.store)) == 2
    assert rc_data(rt.store, "web")["status"]["conditions"] == []


def test_large_pods_are_created_in_several_commits(rt: Runtime) -> None:
    """20 pods of ~300 kB are 6 MB: more than one commit may carry (4 MiB on the emulator)."""
    doc = rc_doc("web", 20)
    doc["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": f"V{i}", "value": "x" * 30_000} for i in range(10)
    ]
    write_rc(rt.store, doc)
    result = sync_controller(rt.store, rt.settings, "default", "web", rt.clock)
    assert result.created == 20 and result.passes >= 2
    assert len(active(rt.store)) == 20
