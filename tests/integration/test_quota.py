"""ResourceQuota through the real sync pass and the real Firestore emulator: no pod over quota."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from functions import quota
from functions.controllers.replication import sync_controller
from functions.runtime import Runtime
from functions.store import CONTROLLERS, PODS, QUOTAS, SERVICES, doc_path
from tests.helpers import active, pod_doc, pods, rc_data, rc_doc, write_rc


def write_quota(rt: Runtime, hard: dict[str, Any], name: str = "compute", namespace: str = "default") -> None:
    rt.store.client.document(doc_path(namespace, QUOTAS, name)).set(
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name}, "spec": {"hard": hard}})


def sync(rt: Runtime, name: str = "web") -> Any:
    return sync_controller(rt.store, rt.settings, "default", name, rt.clock)


def failure(rt: Runtime, name: str = "web") -> dict[str, Any] | None:
    conditions = rc_data(rt.store, name)["status"].get("conditions", [])
    return next((c for c in conditions if c["type"] == "ReplicaFailure"), None)


def sized(name: str, replicas: int, machine_type: str) -> dict[str, Any]:
    doc = rc_doc(name, replicas)
    doc["spec"]["template"]["metadata"]["annotations"] = {"firecontrol.io/machine-type": machine_type}
    return doc


def test_pods_over_quota_are_not_created_and_the_controller_says_why(rt: Runtime) -> None:
    write_quota(rt, {"pods": "5"})
    write_rc(rt.store, rc_doc("web", 8))
    assert sync(rt).created == 5
    assert len(active(rt.store)) == 5
    condition = failure(rt)
    assert condition is not None and condition["reason"] == "FailedCreate"
    assert condition["message"] == (
        'pods "web-" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=5, limited: pods=5')
    status = rt.store.client.document(doc_path("default", QUOTAS, "compute")).get().to_dict()["status"]
    assert status == {"hard": {"pods": "5"}, "used": {"pods": "5"}}
    events = [e.to_dict() or {} for e in rt.store.client.collection("namespaces/default/events").stream()]
    assert ("FailedCreate", "Warning") in [(e["reason"], e["type"]) for e in events]

    before = rt.store.ops.snapshot()
    assert sync(rt).created == 0  # still over: nothing written
    assert rt.store.ops.snapshot()["writes"] == before["writes"]

    # Two pods finish: their room is free again, and used by two new pods.
    for name in [p.name for p in pods(rt.store)][:2]:
        rt.store.client.document(doc_path("default", PODS, name)).update({"status.phase": "Failed"})
    assert sync(rt).created == 2
    assert len(active(rt.store)) == 5

    # The quota is raised: the controller converges, and the condition goes.
    write_quota(rt, {"pods": "10"})
    assert sync(rt).created == 3
    assert failure(rt) is None


def test_cpu_and_memory_count_the_machine_type_of_each_pod(rt: Runtime) -> None:
    write_quota(rt, {"requests.cpu": "5", "limits.memory": "20Gi"})
    write_rc(rt.store, sized("big", 4, "e2-standard-2"))  # 2 vCPU, 8 GiB each
    assert sync(rt, "big").created == 2  # 4 vCPU and 16 GiB; a third would need 6 and 24
    condition = failure(rt, "big")
    assert condition is not None
    assert condition["message"] == (
        'pods "big-" is forbidden: exceeded quota: compute, requested: limits.memory=8Gi,requests.cpu=2, '
        "used: limits.memory=16Gi,requests.cpu=4, limited: limits.memory=20Gi,requests.cpu=5")
    write_rc(rt.store, sized("small", 3, "e2-micro"))  # 2 vCPU shared, 1 GiB
    assert sync(rt, "small").created == 0  # cpu: 4 + 2 > 5
    bare = rt.store.client.document(doc_path("default", PODS, "bare"))
    bare.set(pod_doc("bare", {"app": "none"}))  # the default machine type, e2-small: 2 vCPU
    used = quota.usage(rt.store, "default", rt.settings, {"pods", "cpu", "memory"})
    assert used == {"pods": 3, "cpu": 6, "memory": (16 + 2) * 1024**3}


def test_a_pod_with_a_type_unknown_to_the_table_is_refused_under_a_cpu_quota(rt: Runtime) -> None:
    write_quota(rt, {"cpu": "100"})
    rt = Runtime(settings=replace(rt.settings, machine_types=("e2-micro", "x9-mystery-4")), store=rt.store, clock=rt.clock)
    write_rc(rt.store, sized("web", 1, "x9-mystery-4"))
    assert sync(rt).created == 0
    condition = failure(rt)
    assert condition is not None and "failed quota: compute: cpu of this machine type are not known" in condition["message"]


def test_controllers_beyond_count_quota_create_nothing(rt: Runtime) -> None:
    write_quota(rt, {"count/replicationcontrollers": 1})
    write_rc(rt.store, rc_doc("first", 1))
    write_rc(rt.store, rc_doc("second", 1))
    assert sync(rt, "second").created == 0
    assert sync(rt, "first").created == 1
    condition = failure(rt, "second")
    assert condition is not None and condition["message"] == (
        'replicationcontrollers "second" is forbidden: exceeded quota: compute, requested: '
        "count/replicationcontrollers=1, used: count/replicationcontrollers=1, limited: count/replicationcontrollers=1")


def test_an_invalid_quota_refuses_pods_rather_than_lift_the_guard(rt: Runtime) -> None:
    write_quota(rt, {"pods": "five"})
    write_rc(rt.store, rc_doc("web", 2))
    assert sync(rt).created == 0
    condition = failure(rt)
    assert condition is not None
    assert condition["message"].startswith('pods "web-" is forbidden: failed quota: compute: spec.hard.pods:')


def test_two_controllers_creating_at_once_share_the_last_room(rt: Runtime) -> None:
    """Each creating pass writes the quota's status guarded by its update time: of two
    passes that read the same usage, one commits and the other reads again."""
    write_quota(rt, {"pods": "6"})
    names = [f"app{i}" for i in range(4)]
    for name in names:
        write_rc(rt.store, rc_doc(name, 3))
    barrier = threading.Barrier(len(names))
    errors: list[BaseException] = []

    def run(name: str) -> None:
        barrier.wait()
        try:
            sync(rt, name)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(active(rt.store)) == 6


def test_bare_pods_over_quota_the_newest_is_refused(rt: Runtime) -> None:
    write_quota(rt, {"pods": 2})
    for name in ("p-one", "p-two", "p-three"):
        rt.store.client.document(doc_path("default", PODS, name)).set(pod_doc(name, {"app": "x"}))
    docs = {d.name: d for d in rt.store.in_namespace("default", PODS)}
    assert quota.quota_problems_for_pod(rt.store, "default", docs["p-one"], rt.settings) == []
    assert quota.quota_problems_for_pod(rt.store, "default", docs["p-two"], rt.settings) == []
    assert quota.quota_problems_for_pod(rt.store, "default", docs["p-three"], rt.settings) == [
        'pods "p-three" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2']
    rt.store.client.document(doc_path("default", PODS, "p-one")).update({"status.phase": "Succeeded"})
    assert quota.quota_problems_for_pod(rt.store, "default", docs["p-three"], rt.settings) == []


def test_load_balancers_over_quota(rt: Runtime) -> None:
    write_quota(rt, {"services.loadbalancers": 1})
    for name in ("front", "back"):
        rt.store.client.document(doc_path("default", SERVICES, name)).set({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"port": 80}]}})
    docs = {d.name: d for d in rt.store.in_namespace("default", SERVICES)}
    assert quota.quota_problems_for_service(rt.store, "default", docs["front"], rt.settings) == []
    [message] = quota.quota_problems_for_service(rt.store, "default", docs["back"], rt.settings)
    assert message.startswith('services "back" is forbidden: exceeded quota: compute')


def test_reads_a_quota_costs_a_creating_pass(rt: Runtime) -> None:
    """The figures for the README: Firestore reads a creating pass adds for quotas."""
    write_rc(rt.store, rc_doc("web", 1))
    before = rt.store.ops.snapshot()["reads"]
    sync(rt)
    no_quota = rt.store.ops.snapshot()["reads"] - before  # the controller, its pods, the empty quota list
    write_quota(rt, {"pods": 10}, name="count")
    write_quota(rt, {"cpu": 40, "memory": "64Gi"}, name="size")
    rt.store.client.document(doc_path("default", CONTROLLERS, "web")).update({"spec.replicas": 2})
    before = rt.store.ops.snapshot()["reads"]
    assert sync(rt).created == 1
    with_quotas = rt.store.ops.snapshot()["reads"] - before
    # quota list (2) + pods (2 counts) + cpu/memory (2 counts per allowed machine type, 4 types)
    assert with_quotas - no_quota == 2 + 2 + 2 * 4 - 1, (no_quota, with_quotas)


def test_a_machine_type_edited_under_a_running_vm_is_put_back(crt: Runtime) -> None:
    """Quotas count the annotation; a pod's VM keeps the type it was made with, so an
    edit to a cheaper type cannot hide what the VM costs (a review finding)."""
    from functions.controllers.pods import sync_pod

    write_quota(crt, {"limits.memory": "10Gi"})
    path = doc_path("default", PODS, "db")
    doc = pod_doc("db", {"app": "db"})
    doc["metadata"]["annotations"] = {"firecontrol.io/machine-type": "e2-standard-2"}  # 8 GiB
    crt.store.client.document(path).set(doc)
    sync_pod(crt.store, crt.provider, crt.settings, "default", "db", crt.clock)
    stored = crt.store.client.document(path).get().to_dict() or {}
    assert stored["spec"]["nodeName"] and stored["status"]["vmMachineType"] == "e2-standard-2"

    crt.store.client.document(path).update({"metadata.annotations.`firecontrol.io/machine-type`": "e2-micro"})
    assert quota.usage(crt.store, "default", crt.settings, {"memory"})["memory"] == 1 * 1024**3  # hidden
    sync_pod(crt.store, crt.provider, crt.settings, "default", "db", crt.clock)
    stored = crt.store.client.document(path).get().to_dict() or {}
    assert stored["metadata"]["annotations"]["firecontrol.io/machine-type"] == "e2-standard-2"
    assert stored["status"]["phase"] == "Running"  # the VM is kept, not failed
    assert quota.usage(crt.store, "default", crt.settings, {"memory"})["memory"] == 8 * 1024**3
    reasons = [e.to_dict()["reason"] for e in crt.store.client.collection("namespaces/default/events").stream()]
    assert "ImmutableField" in reasons
