"""The network like cloud-provider-gcp: a service's firewall admits its ports from
``loadBalancerSourceRanges`` to the load balancer's IP only, Google's health checkers
have their own rule, ``sessionAffinity: ClientIP`` reaches the target pool, and pod VMs
have no external IP, no project SSH keys, OS Login and Shielded VM. A pod whose VM
Compute keeps refusing says so at once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from emulator.compute import ComputeEmulator
from functions.api.pod import PodStatus
from functions.cloudprovider import TemporaryError
from functions.controllers.pods import sync_pod
from functions.controllers.services import sync_service
from functions.runtime import Runtime
from functions.store import PODS, SERVICES, doc_path
from tests.helpers import pod_doc

HEALTH_CHECKERS = ["35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22"]


def svc(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "redis"},
            "spec": {"type": "LoadBalancer", "selector": {"app": "redis"}, "ports": [{"port": 6379}], **spec}}


def put(rt: Runtime, collection: str, name: str, doc: dict[str, Any]) -> str:
    path = doc_path("default", collection, name)
    rt.store.client.document(path).set(doc)
    return path


def data(rt: Runtime, path: str) -> dict[str, Any]:
    return rt.store.client.document(path).get().to_dict() or {}


def firewalls(compute: ComputeEmulator) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in compute.state.dump()["resources"]["firewalls"]}


def events(rt: Runtime) -> list[dict[str, Any]]:
    return [e.to_dict() or {} for e in rt.store.client.collection("namespaces/default/events").stream()]


def test_firewall_admits_the_source_ranges_to_the_load_balancer_ip_only(crt: Runtime, compute: ComputeEmulator) -> None:
    put(crt, SERVICES, "redis", svc(loadBalancerSourceRanges=["198.51.100.0/24", "192.0.2.7/32"], sessionAffinity="ClientIP"))
    ip = sync_service(crt.store, crt.provider, crt.settings, "default", "redis", crt.clock).ip
    assert ip
    [service] = [f for name, f in firewalls(compute).items() if not name.endswith("-hc")]
    assert service["sourceRanges"] == ["192.0.2.7/32", "198.51.100.0/24"]
    assert service["destinationRanges"] == [f"{ip}/32"]  # not every VM of the cluster, every port
    assert service["allowed"] == [{"IPProtocol": "tcp", "ports": ["6379"]}] and service["targetTags"] == ["fc"]
    [checker] = [f for name, f in firewalls(compute).items() if name.endswith("-hc")]
    assert checker["name"] == service["name"] + "-hc"
    assert checker["sourceRanges"] == HEALTH_CHECKERS and checker["allowed"] == [{"IPProtocol": "tcp", "ports": ["10256"]}]
    assert '"firecontrol.name": "redis"' in checker["description"]
    [pool] = compute.state.dump()["resources"]["targetPools"]
    assert pool["sessionAffinity"] == "CLIENT_IP"


def test_no_source_ranges_means_everyone_and_bad_ones_are_refused(crt: Runtime, compute: ComputeEmulator) -> None:
    put(crt, SERVICES, "redis", svc())
    sync_service(crt.store, crt.provider, crt.settings, "default", "redis", crt.clock)
    [service] = [f for name, f in firewalls(compute).items() if not name.endswith("-hc")]
    assert service["sourceRanges"] == ["0.0.0.0/0"]
    [pool] = compute.state.dump()["resources"]["targetPools"]
    assert pool["sessionAffinity"] == "NONE"

    path = put(crt, SERVICES, "bad", {**svc(loadBalancerSourceRanges=["10.0.0.0/33"], sessionAffinity="Cookie"),
                                      "metadata": {"name": "bad"}})
    result = sync_service(crt.store, crt.provider, crt.settings, "default", "bad", crt.clock)
    assert result.action == "invalid"
    assert "spec.loadBalancerSourceRanges" in (result.error or "") and "spec.sessionAffinity" in (result.error or "")
    assert data(crt, path)["status"]["conditions"][0]["reason"] == "InvalidSpec"


def test_pod_vm_has_no_external_ip_and_is_hardened(crt: Runtime, compute: ComputeEmulator) -> None:
    path = put(crt, PODS, "db", pod_doc("db", {"app": "db"}))
    assert sync_pod(crt.store, crt.provider, crt.settings, "default", "db", crt.clock).phase == "Running"
    [vm] = compute.state.dump()["resources"]["instances"]
    [nic] = vm["networkInterfaces"]
    assert not nic.get("accessConfigs")  # egress through Cloud NAT; nothing reaches it from outside
    items = {i["key"]: i["value"] for i in vm["metadata"]["items"]}
    assert items["block-project-ssh-keys"] == "TRUE" and items["enable-oslogin"] == "TRUE"
    assert vm["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True}
    assert not vm.get("serviceAccounts")  # no pod service account configured: no identity at all
    status = PodStatus.model_validate(data(crt, path)["status"])
    assert status.pod_ip == status.host_ip == nic["networkIP"]


def test_external_ips_and_a_pod_service_account_when_the_installation_says_so(crt: Runtime, compute: ComputeEmulator) -> None:
    rt = replace(crt, settings=replace(crt.settings, external_ips=True, pod_service_account="fc-pods@p.iam.gserviceaccount.com"))
    path = put(rt, PODS, "db", pod_doc("db", {"app": "db"}))
    sync_pod(rt.store, rt.provider, rt.settings, "default", "db", rt.clock)
    [vm] = compute.state.dump()["resources"]["instances"]
    [nic] = vm["networkInterfaces"]
    assert len(nic["accessConfigs"]) == 1
    assert vm["serviceAccounts"] == [{"email": "fc-pods@p.iam.gserviceaccount.com",
                                      "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]
    assert PodStatus.model_validate(data(rt, path)["status"]).pod_ip == nic["networkIP"]  # internal, as before


def test_compute_failing_for_good_leaves_a_condition_and_one_event(crt: Runtime, compute: ComputeEmulator) -> None:
    path = put(crt, PODS, "db", pod_doc("db", {"app": "db"}))
    compute.inject(method="POST", path="/instances$", status=503)
    for _ in range(2):  # the platform retries the pass; the pod says it once
        with pytest.raises(TemporaryError):
            sync_pod(crt.store, crt.provider, crt.settings, "default", "db", crt.clock)
        [scheduled] = [c for c in data(crt, path)["status"]["conditions"] if c["type"] == "PodScheduled"]
        assert (scheduled["status"], scheduled["reason"]) == ("False", "FailedCreate")
        assert "503" in scheduled["message"] or "still failing" in scheduled["message"]
        assert [(e["reason"], e["type"], e["count"]) for e in events(crt)] == [("FailedCreate", "Warning", 1)]
    compute.faults.clear()
    assert sync_pod(crt.store, crt.provider, crt.settings, "default", "db", crt.clock).phase == "Running"
    [scheduled] = [c for c in data(crt, path)["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert scheduled["status"] == "True"
