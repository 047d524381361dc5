"""Two installations in one project, side by side: one Firestore emulator, one Compute
emulator, the same project, two clusters each with its own named database and its own
Eventarc-style triggers on it (the emulator's ``database`` filter, as deploy.sh sets
``--trigger-event-filters=database=...``).

Both run a controller ``web`` and a LoadBalancer service ``web`` in namespace
``default``: the very same document paths. Each converges on its own VMs and load
balancer; deleting everything in one, and resync sweeps in both, never touch the
other's documents, VMs or load balancer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.compute import ComputeEmulator
from emulator.firestore import FirestoreEmulator
from emulator.router import Delivery, TriggerRouter
from functions.cloudprovider import GceConfig
from functions.config import Settings
from functions.controllers.resync import resync_all
from functions.runtime import Runtime
from functions.store import CONTROLLERS, PODS, SERVICES, Store, doc_path
from tests.conftest import FAST_RETRIES, TRIGGERS
from tests.helpers import rc_doc, wait_for

CLUSTERS = {"blue": "blue-db", "green": "green-db"}
REPLICAS = 2
LB_KINDS = ("addresses", "forwardingRules", "targetPools", "httpHealthChecks", "firewalls")


@pytest.fixture
def clusters(
    project: str, compute: ComputeEmulator, router: TriggerRouter, firestore_emulator: FirestoreEmulator
) -> Iterator[dict[str, Runtime]]:
    from functions.cloudprovider.gce import GceCloud
    from functions.handlers import HANDLERS, decode_event

    handlers = {trigger: HANDLERS[trigger][1] for trigger in TRIGGERS}
    runtimes: dict[str, Runtime] = {}
    for cluster, database in CLUSTERS.items():
        settings = Settings(project=project, cluster=cluster, database=database, compute_api_endpoint=compute.url,
                            pod_start_timeout=5.0)
        config = replace(GceConfig.from_settings(settings), retry_delays=FAST_RETRIES, operation_timeout=10.0,
                         request_timeout=10.0)
        rt = Runtime(settings=settings, store=Store.for_project(project, database),
                     clock=lambda: datetime.now(UTC), cloud=GceCloud(config))
        for trigger, pattern in TRIGGERS.items():
            def deliver(delivery: Delivery, handler: Any = handlers[trigger], rt: Runtime = rt) -> None:
                change = decode_event({"subject": delivery.headers.get("ce-subject")}, delivery.body)
                if change is not None:
                    handler(change, rt)

            trigger_id = f"{cluster}-{trigger.replace('_', '-')}"
            router.route(project, trigger_id, deliver)
            firestore_emulator.register_trigger(project, trigger_id, pattern, database)
        runtimes[cluster] = rt
    yield runtimes
    for cluster in CLUSTERS:
        for trigger in TRIGGERS:
            router.route(project, f"{cluster}-{trigger.replace('_', '-')}", None)
    router.wait_idle()
    assert not [f for f in router.failures if f.startswith(f"{project}/")], router.failures


def _service() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}}


def _pods(rt: Runtime) -> dict[str, dict[str, Any]]:
    return {s.id: s.to_dict() or {} for s in rt.store.client.collection(f"namespaces/default/{PODS}").stream()}


def _vms(compute: ComputeEmulator, project: str) -> dict[str, dict[str, Any]]:
    """Every VM of the project, by name: its status and cluster label."""
    return {i["name"]: {"status": i["status"], "cluster": (i.get("labels") or {}).get("firecontrol-cluster")}
            for i in compute.state.dump()["resources"]["instances"] if f"/projects/{project}/" in i["selfLink"]}


def _lb(compute: ComputeEmulator, project: str) -> dict[str, list[str]]:
    dump = compute.state.dump()["resources"]
    return {kind: sorted(r["name"] for r in dump.get(kind, []) if f"/projects/{project}/" in r["selfLink"])
            for kind in LB_KINDS}


def _ingress(rt: Runtime) -> list[str]:
    data = rt.store.client.document(doc_path("default", SERVICES, "web")).get().to_dict() or {}
    return [i.get("ip") for i in data.get("status", {}).get("loadBalancer", {}).get("ingress", [])]


def _converged(rt: Runtime, compute: ComputeEmulator) -> bool:
    pods = _pods(rt)
    running = [p for p in pods.values() if p.get("status", {}).get("phase") == "Running"]
    nodes = sorted(p["spec"]["nodeName"] for p in running)
    ours = sorted(n for n, vm in _vms(compute, rt.settings.project).items()
                  if vm["cluster"] == rt.settings.cluster and vm["status"] == "RUNNING")
    return len(pods) == len(running) == REPLICAS and nodes == ours and bool(_ingress(rt))


def test_two_clusters_in_one_project_converge_and_delete_apart(
    clusters: dict[str, Runtime], compute: ComputeEmulator, project: str
) -> None:
    blue, green = clusters["blue"], clusters["green"]
    for rt in (blue, green):  # the same paths in both databases
        rt.store.client.document(doc_path("default", CONTROLLERS, "web")).set(rc_doc("web", REPLICAS))
        rt.store.client.document(doc_path("default", SERVICES, "web")).set(_service())
    for rt in (blue, green):
        wait_for(lambda rt=rt: _converged(rt, compute), timeout=60, interval=0.2)

    # Each has its own VMs, named and labelled with its cluster, and its own load balancer.
    vms = _vms(compute, project)
    assert len(vms) == 2 * REPLICAS
    for name, vm in vms.items():
        assert name.startswith(f"{vm['cluster']}-"), (name, vm)
    lb = _lb(compute, project)
    for kind in ("addresses", "forwardingRules", "targetPools"):
        assert [n.split("-", 1)[0] for n in lb[kind]] == ["blue", "green"], (kind, lb[kind])
    assert _ingress(blue) != _ingress(green)
    # Each database holds only its own cluster's pods: names on VMs of its own cluster.
    for rt in (blue, green):
        assert all(p["spec"]["nodeName"].startswith(f"{rt.settings.cluster}-") for p in _pods(rt).values())

    # A full resync in each: nothing of the other is touched.
    green_pods, green_vms = _pods(green), {n: v for n, v in vms.items() if v["cluster"] == "green"}
    green_lb = {kind: [n for n in names if n.startswith("green-")] for kind, names in lb.items()}
    for rt in (blue, green):
        summary = resync_all(rt, True)
        assert summary["errors"] == [], summary

    # Everything of blue deleted: blue's VMs and load balancer go, green's stay as they were.
    blue.store.client.document(doc_path("default", CONTROLLERS, "web")).delete()
    blue.store.client.document(doc_path("default", SERVICES, "web")).delete()

    def blue_gone() -> bool:
        lb_now = _lb(compute, project)
        return (not [v for v in _vms(compute, project).values() if v["cluster"] == "blue"]
                and not [n for names in lb_now.values() for n in names if n.startswith("blue-")]
                and _pods(blue) == {})

    wait_for(blue_gone, timeout=60, interval=0.2)
    summary = resync_all(blue, True)  # a sweep of an empty cluster next to a busy one
    assert summary["errors"] == [], summary
    assert {n: v for n, v in _vms(compute, project).items() if v["cluster"] == "green"} == green_vms
    assert {kind: [n for n in names if n.startswith("green-")] for kind, names in _lb(compute, project).items()} == green_lb
    after = _pods(green)
    assert {n: (p["metadata"].get("uid"), p["spec"]["nodeName"], p["status"]["phase"]) for n, p in after.items()} == {
        n: (p["metadata"].get("uid"), p["spec"]["nodeName"], p["status"]["phase"]) for n, p in green_pods.items()}
    assert _converged(green, compute)
    assert (green.store.client.document(doc_path("default", CONTROLLERS, "web")).get().exists
            and green.store.client.document(doc_path("default", SERVICES, "web")).get().exists)


def test_a_trigger_hears_only_its_own_database(
    firestore_emulator: FirestoreEmulator, router: TriggerRouter, project: str
) -> None:
    """The emulator's Eventarc triggers filter on the database, as deploy.sh's do: a write
    to one installation's database never runs the other installation's functions."""
    heard: dict[str, list[str]] = {"blue": [], "green": []}
    for cluster, database in CLUSTERS.items():
        trigger_id = f"{cluster}-probe"
        router.route(project, trigger_id, lambda d, c=cluster: heard[c].append(str(d.headers.get("ce-database"))))
        firestore_emulator.register_trigger(project, trigger_id, "namespaces/{namespace}/pods/{name}", database)
    try:
        Store.for_project(project, "blue-db").client.document(doc_path("default", PODS, "a")).set({"x": 1})
        Store.for_project(project, "(default)").client.document(doc_path("default", PODS, "b")).set({"x": 1})
        wait_for(lambda: heard["blue"], timeout=10)
        router.wait_idle()
        assert heard == {"blue": ["blue-db"], "green": []}
    finally:
        for cluster in CLUSTERS:
            router.route(project, f"{cluster}-probe", None)
