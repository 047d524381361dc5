"""An upgrade keeps a service's load balancer: one made by a version before the 10-character
hash (``{cluster}-{4 hex of sha256(namespace)}-{name}``, descriptions with no owner uid) is
kept, with its IP, by the service that has that IP in its status; resync does not collect
it; deleting the service deletes it.

The Firestore emulator and the Compute emulator, through the real google-cloud-compute
client; nothing is mocked but the description the old version wrote.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.compute import ComputeEmulator
from functions.api.names import short_hash
from functions.cloudprovider import Owner
from functions.cloudprovider import names as cloud_names
from functions.cloudprovider.gce_loadbalancer import GceLoadBalancers, LoadBalancerSpec
from functions.controllers.resync import resync_all
from functions.controllers.services import FINALIZER, load_balancer_name, sync_service
from functions.runtime import Runtime
from functions.store import SERVICES, doc_path

NAMESPACE, NAME = "team-24", "web"


def old_lb_name() -> str:
    return f"{short_hash(NAMESPACE)}-{NAME}"


def make_old_load_balancer(crt: Runtime, monkeypatch: pytest.MonkeyPatch) -> str:
    """What the old version made: every part named by the old scheme, described without an owner."""
    def old_description(self: GceLoadBalancers, spec: LoadBalancerSpec) -> str:
        return cloud_names.description(self.config.cluster, spec.name)

    with monkeypatch.context() as patch:
        patch.setattr(GceLoadBalancers, "_description", old_description)
        ip = crt.provider.ensure_load_balancer(
            old_lb_name(), crt.settings.region, [6379], [],
            owner=Owner(cluster="fc", namespace=NAMESPACE, kind="Service", name=NAME, uid="old"))
    return ip


def service(ip: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": NAME, "finalizers": [FINALIZER]},
            "spec": {"type": "LoadBalancer", "selector": {"app": "db"}, "ports": [{"port": 6379}]},
            "status": {"loadBalancer": {"ingress": [{"ip": ip}]}, **status}}


def resources(compute: ComputeEmulator) -> dict[str, list[dict[str, Any]]]:
    return {k: v for k, v in compute.state.dump()["resources"].items() if k != "instances"}


def names_of(compute: ComputeEmulator) -> dict[str, list[str]]:
    return {kind: sorted(r["name"] for r in items) for kind, items in resources(compute).items() if items}


def sync(crt: Runtime) -> Any:
    return sync_service(crt.store, crt.provider, crt.settings, NAMESPACE, NAME, crt.clock)


def status(crt: Runtime, path: str) -> dict[str, Any]:
    return (crt.store.client.document(path).get().to_dict() or {}).get("status", {})


def test_an_old_load_balancer_is_kept_through_sync_and_resync_and_deleted_with_its_service(
        crt: Runtime, compute: ComputeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ip = make_old_load_balancer(crt, monkeypatch)
    resource = f"fc-{old_lb_name()}"
    before = names_of(compute)
    assert before["forwardingRules"] == [resource]
    for items in resources(compute).values():
        for item in items:
            assert json.loads(item["description"]) == {"firecontrol.cluster": "fc",
                                                       "firecontrol.loadBalancer": old_lb_name()}
    path = doc_path(NAMESPACE, SERVICES, NAME)
    crt.store.client.document(path).set(service(ip))

    result = sync(crt)
    assert result.error is None and result.ip == ip
    assert status(crt, path)["loadBalancerName"] == old_lb_name()
    assert names_of(compute) == before  # no second load balancer
    summary = resync_all(crt, full=True)
    assert summary["errors"] == [], summary
    assert summary.get("loadBalancersDeleted", 0) == summary.get("loadBalancersSkipped", 0) == 0, summary
    assert names_of(compute) == before
    assert crt.provider.get_load_balancer(old_lb_name(), crt.settings.region) == ip
    assert crt.provider.get_load_balancer(load_balancer_name(NAMESPACE, NAME), crt.settings.region) is None
    assert status(crt, path)["loadBalancer"]["ingress"] == [{"ip": ip}]

    crt.store.client.document(path).update({"metadata.deletionTimestamp": datetime.now(UTC)})
    assert sync(crt).error is None
    assert names_of(compute) == {}
    assert not crt.store.client.document(path).get().exists


def test_resync_before_the_first_pass_keeps_the_old_load_balancer(
        crt: Runtime, compute: ComputeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ip = make_old_load_balancer(crt, monkeypatch)
    before = names_of(compute)
    path = doc_path(NAMESPACE, SERVICES, NAME)
    crt.store.client.document(path).set(service(ip))
    summary = resync_all(crt, full=True)
    assert summary["errors"] == [], summary
    assert names_of(compute) == before
    assert status(crt, path)["loadBalancerName"] == old_lb_name()
    assert crt.provider.get_load_balancer(old_lb_name(), crt.settings.region) == ip


def test_a_recorded_name_that_is_not_the_services_is_ignored(
        crt: Runtime, compute: ComputeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ip = make_old_load_balancer(crt, monkeypatch)
    path = doc_path(NAMESPACE, SERVICES, NAME)
    crt.store.client.document(path).set(service(ip, loadBalancerName="someone-elses"))
    result = sync(crt)
    assert result.error is None and result.ip == ip
    assert status(crt, path)["loadBalancerName"] == old_lb_name()
    assert crt.provider.get_load_balancer("someone-elses", crt.settings.region) is None

    # Not a string at all: dropped, and the status (with its ingress) still reads.
    crt.store.client.document(path).update({"status.loadBalancerName": 7})
    assert sync(crt).ip == ip
    assert status(crt, path)["loadBalancerName"] == old_lb_name()


def test_a_service_whose_ip_is_not_the_old_rules_gets_the_new_name(
        crt: Runtime, compute: ComputeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    make_old_load_balancer(crt, monkeypatch)
    path = doc_path(NAMESPACE, SERVICES, NAME)
    crt.store.client.document(path).set(service("203.0.113.9"))
    result = sync(crt)
    assert result.error is None and result.ip not in (None, "203.0.113.9")
    new = load_balancer_name(NAMESPACE, NAME)
    assert status(crt, path)["loadBalancerName"] == new
    assert crt.provider.get_load_balancer(new, crt.settings.region) == result.ip
