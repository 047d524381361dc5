"""Resync bounded: owners by uid, a deadline, memory that does not grow with the pods' size,
and objects that keep failing reported rather than failing the tick."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from emulator.compute import ComputeEmulator
from functions.cloudprovider.names import UID_LABEL
from functions.controllers.pods import FINALIZER, sync_pod
from functions.controllers.replica_kinds import controller_uid, owner_ref
from functions.controllers.resync import CURSOR, resync_all, summary_status
from functions.objects import doc_uid
from functions.runtime import Runtime
from functions.store import CONTROLLERS, PODS, doc_path
from functions.vm_spec import instance_name
from tests.helpers import CrashBefore, pod_doc, pods, rc_doc, write_rc

pytestmark = pytest.mark.serial  # measures time and memory: alone, after the rest

ZONE = "us-central1-a"
ROOT = Path(__file__).resolve().parents[2]


def instances(compute: ComputeEmulator) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = compute.state.dump()["resources"]["instances"]
    return items


def test_a_pod_made_again_under_its_name_during_a_sweep_keeps_its_new_vm(crt: Runtime, compute: ComputeEmulator) -> None:
    """Between the sweep's VM listing and its pod reads, the bare pod ``db`` is deleted
    (and its VM with it) and made again; the new pod's VM is made after the reads. The
    sweep saw the old pod's VM and no pod holding it: it must not delete the new one."""
    path = doc_path("default", PODS, "db")
    crt.store.client.document(path).set(pod_doc("db", {"app": "db"}))
    sync_pod(crt.store, crt.provider, crt.settings, "default", "db", crt.clock)
    [old_vm] = instances(compute)
    old_uid = old_vm["labels"][UID_LABEL]

    def between(step: str) -> None:
        if step == "listed":  # the pod deleted, its VM with it, and made again, no pass yet
            crt.store.client.document(path).update({"metadata.deletionTimestamp": datetime.now(UTC)})
            sync_pod(crt.store, crt.provider, crt.settings, "default", "db", crt.clock)
            assert instances(compute) == [] and pods(crt.store) == []
            crt.store.client.document(path).set(pod_doc("db", {"app": "db"}))
        elif step == "read":  # the new pod's pass: its finalizer, then its VM
            sync_pod(crt.store, crt.provider, crt.settings, "default", "db", crt.clock)

    summary = resync_all(crt, full=True, on_step=between)
    assert summary["errors"] == [] and summary["vmsDeleted"] == 0 and summary["vmsSkipped"] == 1
    new = crt.store.get(path)
    assert new is not None
    [vm] = instances(compute)
    assert vm["labels"][UID_LABEL] == doc_uid(new) != old_uid
    assert [p.phase for p in pods(crt.store)] == ["Running"]


def test_a_vm_whose_pod_is_gone_is_deleted_by_uid(crt: Runtime, compute: ComputeEmulator) -> None:
    """Same name, another uid: the old pod's VM is no pod's, and goes."""
    path = doc_path("default", PODS, "db")
    crt.store.client.document(path).set(pod_doc("db", {"app": "db"}))
    sync_pod(crt.store, crt.provider, crt.settings, "default", "db", crt.clock)
    # deleted outright (its finalizer bypassed) and made again: the VM is an orphan
    crt.store.client.document(path).delete()
    crt.store.client.document(path).set(pod_doc("db", {"app": "db"}))
    summary = resync_all(crt, full=True)
    assert summary["vmsDeleted"] + summary["vmsSkipped"] == 1


# -- memory ------------------------------------------------------------------------

SWEEP = textwrap.dedent("""
    import json, sys
    from dataclasses import replace
    from datetime import UTC, datetime
    sys.path.insert(0, {root!r})
    from functions.cloudprovider import GceConfig
    from functions.cloudprovider.gce import GceCloud
    from functions.config import Settings
    from functions.runtime import Runtime
    from functions.store import Store
    from functions.controllers.resync import resync_all
    settings = Settings(project={project!r}, cluster="fc", compute_api_endpoint={endpoint!r}, pod_start_timeout=5.0)
    cloud = GceCloud(replace(GceConfig.from_settings(settings), retry_delays=(0.01,)))
    rt = Runtime(settings=settings, store=Store.for_project(settings.project), clock=lambda: datetime.now(UTC), cloud=cloud)
    def peak():  # this process's own high-water mark (ru_maxrss also counts the parent's, at fork)
        line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024
    rt.store.get("namespaces/default/replicationControllers/none")  # the client up: its memory is the baseline
    cloud.list_instances()
    before = peak()
    summary = resync_all(rt, full=True)
    after = peak()
    print(json.dumps({{"before": before, "after": after, "summary": summary}}))
""")


def test_a_sweep_over_80_pods_of_0_9_mb_stays_within_256_mib(crt: Runtime, compute: ComputeEmulator) -> None:
    """80 pods of 0.9 MB each (9,000 env values), Running on their VMs, one controller at rest.
    The sweep runs in a process of its own, whose peak resident memory is measured."""
    replicas, size = 80, 900_000
    doc = rc_doc("big", replicas)
    env = [{"name": f"V{i}", "value": f"{i:08d}" * 10} for i in range(size // 100)]  # many small fields
    doc["spec"]["template"]["spec"]["containers"][0]["env"] = env
    write_rc(crt.store, doc)
    rc = crt.store.get(doc_path("default", CONTROLLERS, "big"))
    assert rc is not None
    ref = owner_ref("big", controller_uid(rc.path, rc.create_time))
    names = []
    from functions.fingerprint import vm_term

    for i in range(replicas):
        name = f"big-{i:03d}"
        vm = instance_name("fc", "default", name)
        names.append(vm)
        crt.store.client.document(doc_path("default", PODS, name)).set({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "big"}, "ownerReferences": [ref], "finalizers": [FINALIZER],
                         "creationTimestamp": datetime.now(UTC)},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "env": env}], "nodeName": vm},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                       "vmFingerprint": vm_term(vm), "vmZone": ZONE},
        })
    compute.state.seed_instances(crt.settings.project, ZONE, names, {"firecontrol-cluster": "fc"})
    script = SWEEP.format(root=str(ROOT), project=crt.settings.project, endpoint=compute.url)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    summary = result["summary"]
    assert summary["errors"] == [] and summary["controllers"] == 1 and summary["vmsDeleted"] == 0
    assert summary["firestore"]["reads"] >= replicas
    grown = (result["after"] - result["before"]) / 2**20
    peak = result["after"] / 2**20
    print(f"sweep over {replicas} pods of {size / 1e6:.1f} MB: peak {peak:.0f} MiB, grew {grown:.0f} MiB")
    assert peak < 256, (peak, grown)
    assert grown < 64, (peak, grown)  # the pods' bodies are never read: nothing grows with them


# -- the deadline --------------------------------------------------------------------


def test_a_slow_compute_stops_the_sweep_at_its_deadline_and_the_next_tick_finishes(
    crt: Runtime, compute: ComputeEmulator,
) -> None:
    """Five VMs no pod holds, each delete taking over half a second, and
    a controller whose pods are missing, with a 1.5 s deadline: the tick answers by then, says what it left,
    and the next one starts there and finishes."""
    orphans = [instance_name("fc", "default", f"gone-{i}") for i in range(5)]
    compute.state.seed_instances(crt.settings.project, ZONE, orphans, {"firecontrol-cluster": "fc"})
    write_rc(crt.store, rc_doc("web", 2))
    compute.configure({"operation_delay": 0.6})
    rt = replace(crt, settings=replace(crt.settings, resync_deadline=1.5, slow_start=False))

    first = resync_all(rt, full=True)
    assert first["seconds"] < 1.5 + 0.5, first
    assert first["errors"] == [] and summary_status(first) == 200
    assert 1 <= first["vmsDeleted"] <= 2 and first["controllers"] == 0 and first["overran"].startswith("VM ")
    assert first["deferred"]["controllers"] == 1 and first["deferred"]["vms"] >= 2, first["deferred"]
    assert first["resumeAt"] is not None and first["resumeAt"].startswith("vms ")
    cursor = crt.store.get(CURSOR)
    assert cursor is not None and cursor.data["step"] == "vms"

    compute.configure({"operation_delay": 0.01})
    second = resync_all(replace(rt, settings=replace(rt.settings, resync_deadline=30.0)), full=False)
    assert second["mode"] == "full" and "stopped at its deadline" in second["fullBecause"]
    assert second["deferred"] == {} and second["resumeAt"] is None and second["errors"] == []
    assert second["controllers"] == 1 and second["created"] == 2
    assert crt.store.get(CURSOR) is None
    assert [i["name"] for i in instances(compute) if i["name"] in orphans] == []


def test_items_not_reached_come_first_next_tick(crt: Runtime, compute: ComputeEmulator) -> None:
    """A deadline that lets one item through per tick: every item still gets its turn."""
    for name in ("a", "b", "c"):
        write_rc(crt.store, rc_doc(name, 1))
    rt = replace(crt, settings=replace(crt.settings, resync_deadline=1.0, slow_start=False))
    compute.configure({"operation_delay": 0.01})
    from functions.controllers import resync

    synced: list[str] = []
    real = resync.Sweep.controller_pass

    def slow_pass(self: resync.Sweep, doc: Any, pods: Any) -> None:
        import time

        synced.append(doc.name)
        real(self, doc, pods)
        time.sleep(1.2)  # past the deadline: the sweep stops after this one

    resync.Sweep.controller_pass = slow_pass  # type: ignore[method-assign]
    try:
        for _ in range(3):
            summary = resync_all(rt, full=True)
            assert summary_status(summary) == 200
    finally:
        resync.Sweep.controller_pass = real  # type: ignore[method-assign]
    assert synced == ["a", "b", "c"]


# -- failures --------------------------------------------------------------------------


def test_a_pod_failing_every_tick_is_reported_and_the_tick_answers_200(crt: Runtime, compute: ComputeEmulator) -> None:
    crt.store.client.document(doc_path("default", PODS, "doomed")).set(pod_doc("doomed", {"app": "x"}))
    broken = replace(crt, cloud=CrashBefore(crt.provider, "ensure_instance"))
    for _ in range(2):
        summary = resync_all(broken, full=True)
        assert summary["pods"] == 1 and len(summary["errors"]) == 1 and "doomed" in summary["errors"][0]
        assert summary["sweepErrors"] == [] and summary_status(summary) == 200
    events = [e.to_dict() or {} for e in crt.store.client.collection("namespaces/default/events").stream()]
    [event] = [e for e in events if e["reason"] == "ResyncFailed"]
    assert event["involvedObject"]["name"] == "doomed" and event["type"] == "Warning" and event["count"] == 2


def test_a_sweep_that_cannot_list_answers_500(crt: Runtime, compute: ComputeEmulator) -> None:
    broken = replace(crt, cloud=CrashBefore(crt.provider, "list_instances"))
    summary = resync_all(broken, full=True)
    assert summary["sweepErrors"] and summary_status(summary) == 500


class SlowListing:
    """Our provider whose instance listing hangs (a Compute API retrying for minutes)."""

    def __init__(self, provider: Any, seconds: float) -> None:
        self.provider, self.seconds = provider, seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self.provider, name)

    def list_instances(self) -> Any:
        import time

        time.sleep(self.seconds)
        return self.provider.list_instances()


def test_a_listing_that_hangs_is_cut_at_the_deadline(
    crt: Runtime, compute: ComputeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from functions.controllers import resync

    monkeypatch.setattr(resync, "READ_GRACE", 0.2)
    slow = replace(crt, settings=replace(crt.settings, resync_deadline=0.5), cloud=SlowListing(crt.provider, 3.0))
    started = time.monotonic()
    summary = resync_all(slow, full=True)
    assert time.monotonic() - started < 2.5  # answered by its deadline, not after the listing
    assert any("deadline" in e for e in summary["sweepErrors"]) and summary_status(summary) == 500


# -- load balancers: every owner under a name ------------------------------------------


def test_an_old_services_leftovers_go_though_a_new_service_holds_the_name(crt: Runtime, compute: ComputeEmulator) -> None:
    """Service ``web``'s teardown stopped before its address, and the document went outright.
    A new ``web`` (its own reserved IP) made the rest under the same name. The sweep deletes
    the old uid's address and leaves the new service's load balancer whole."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    from functions.controllers.services import load_balancer_name, sync_service
    from functions.store import SERVICES

    region, project = crt.settings.region, crt.settings.project
    kwargs: dict[str, Any] = {"credentials": AnonymousCredentials(), "client_options": {"api_endpoint": compute.url},
                              "transport": "rest"}
    op = compute_v1.AddressesClient(**kwargs).insert_unary(
        project=project, region=region, address_resource=compute_v1.Address(name="my-ip", address="203.0.113.77"))
    compute_v1.RegionOperationsClient(**kwargs).wait(project=project, region=region, operation=op.name)

    def lb(resource: dict[str, Any]) -> dict[str, Any]:
        return {"metadata": {"name": "web"}, "spec": {"type": "LoadBalancer", "selector": {"app": "db"},
                                                     "ports": [{"port": 6379}], **resource}}

    path = doc_path("default", SERVICES, "web")
    crt.store.client.document(path).set(lb({}))
    assert sync_service(crt.store, crt.provider, crt.settings, "default", "web", crt.clock).ip
    old = crt.store.get(path)
    assert old is not None
    name = load_balancer_name("default", "web")

    def stop(step: str) -> None:
        if step == "firewall-deleted":
            raise RuntimeError("killed before the address")

    provider: Any = crt.provider
    provider.on_step = stop
    with pytest.raises(RuntimeError):
        crt.provider.ensure_load_balancer_deleted(name, region, owner_uid=doc_uid(old))
    provider.on_step = lambda step: None
    crt.store.client.document(path).delete()

    crt.store.client.document(path).set(lb({"loadBalancerIP": "203.0.113.77"}))
    assert sync_service(crt.store, crt.provider, crt.settings, "default", "web", crt.clock).ip == "203.0.113.77"
    new = crt.store.get(path)
    assert new is not None and doc_uid(new) != doc_uid(old)
    assert crt.provider.list_load_balancers(region) == {name: {doc_uid(old), doc_uid(new)}}

    summary = resync_all(crt, full=True)
    assert summary["errors"] == [] and summary["loadBalancersDeleted"] == 1, summary
    assert crt.provider.list_load_balancers(region) == {name: {doc_uid(new)}}
    left = compute.state.dump()["resources"]
    assert [a["name"] for a in left["addresses"]] == ["my-ip"]
    assert [r["IPAddress"] for r in left["forwardingRules"]] == ["203.0.113.77"]
    assert crt.provider.get_load_balancer(name, region) == "203.0.113.77"
    again = resync_all(crt, full=True)
    assert again["loadBalancersDeleted"] == again["loadBalancersSkipped"] == 0
