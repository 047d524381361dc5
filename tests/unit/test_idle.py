"""The idle tick's decision, without a network: when may resync skip reading pods?"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from functions import fingerprint
from functions.api.controller import spec_hash
from functions.cloudprovider import InstanceInfo
from functions.config import Settings
from functions.controllers.replication import AtRest, pods_at_rest
from functions.controllers.resync import full_sweep_due, idle_verdict
from functions.store import Doc
from tests.helpers import rc_doc

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SETTINGS = Settings(project="unit")


def rc(want: int = 3, **status: Any) -> Doc:
    data = rc_doc("web", want)
    data["status"] = {"replicas": want, "readyReplicas": want, "availableReplicas": want,
                      "specHash": spec_hash(data["spec"]), **status}
    return Doc("namespaces/default/replicationControllers/web", data, NOW, NOW - timedelta(days=1))


def vm(name: str, status: str = "RUNNING") -> InstanceInfo:
    return InstanceInfo(name=name, zone="us-central1-a", status=status)


VMS = [vm("fc-a"), vm("fc-b"), vm("fc-c")]
PODS = (3, fingerprint.total(["fc-a", "fc-b", "fc-c"]))


def test_fingerprint_counts_in_its_high_bits_and_names_in_its_low_bits() -> None:
    total = fingerprint.total(["fc-a", "fc-b"])
    assert fingerprint.count_of(total) == 2
    assert total != fingerprint.total(["fc-a", "fc-c"])
    assert fingerprint.total(["fc-b", "fc-a"]) == total


def test_a_controller_at_rest_and_the_ways_it_is_not() -> None:
    assert pods_at_rest(rc(), SETTINGS) == AtRest(3, 0)
    assert pods_at_rest(rc(finishedPods=2), SETTINGS) == AtRest(3, 2)
    assert pods_at_rest(rc(readyReplicas=2), SETTINGS) is None  # a pod not ready
    # Ready, not yet available (minReadySeconds): resync is the requeue that counts it.
    assert pods_at_rest(rc(availableReplicas=2), SETTINGS) is None
    assert pods_at_rest(rc(replicas=2, readyReplicas=2), SETTINGS) is None  # short of spec
    assert pods_at_rest(rc(specHash="other"), SETTINGS) is None  # a spec no pass has seen
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "quota"}
    assert pods_at_rest(rc(conditions=[failure]), SETTINGS) is None
    invalid = rc(replicas=0, readyReplicas=0)
    invalid.data["spec"]["replicas"] = 500  # over the cap; status must name it
    invalid.data["status"]["specHash"] = spec_hash(invalid.data["spec"])
    assert pods_at_rest(invalid, SETTINGS) is None
    invalid.data["status"]["conditions"] = [{**failure, "reason": "InvalidSpec"}]
    assert pods_at_rest(invalid, SETTINGS) == AtRest(0, 0)  # reported: nothing more to do


def test_idle_when_everything_pairs_up() -> None:
    assert idle_verdict(VMS, [rc()], [AtRest(3, 0)], PODS) is None
    assert idle_verdict(VMS, [rc()], [AtRest(3, 0)], None) is None  # the cheap checks alone
    assert idle_verdict([], [], [], (0, 0)) is None  # an empty cluster


def test_every_reason_to_sweep() -> None:
    held = [AtRest(3, 0)]
    assert idle_verdict(None, [rc()], held, PODS) == "the VMs could not be listed"
    assert idle_verdict(VMS, [rc()], [None], PODS) == "ReplicationController default/web is not at rest"
    assert "VMs not RUNNING: fc-c (STOPPING)" in (idle_verdict([*VMS[:2], vm("fc-c", "STOPPING")], [rc()], held, PODS) or "")
    assert "hold 3 running pods, and 2 VMs run" in (idle_verdict(VMS[:2], [rc()], held, PODS) or "")
    assert "4 pods, and the controllers hold 3" in (idle_verdict(VMS, [rc()], held, (4, PODS[1])) or "")
    swapped = (3, fingerprint.total(["fc-a", "fc-b", "fc-x"]))  # same count, another VM
    assert "do not pair up" in (idle_verdict(VMS, [rc()], held, swapped) or "")
    assert idle_verdict(VMS, [rc()], [AtRest(3, 2)], (5, PODS[1])) is None  # finished pods counted


def test_full_sweeps_come_by_the_clock() -> None:
    minutes = [NOW + timedelta(minutes=m) for m in range(30)]
    assert sum(full_sweep_due(t, 10) for t in minutes) == 3
    assert all(full_sweep_due(t, 1) for t in minutes)
