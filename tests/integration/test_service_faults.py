"""A flaky Compute API and passes killed midway: the service still converges, nothing duplicated or leaked."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from emulator.compute import ComputeEmulator
from functions.cloudprovider import TemporaryError
from functions.controllers.services import ServiceResult, sync_service
from functions.runtime import Runtime
from tests.conftest import FAST_RETRIES
from tests.helpers import CrashAfter
from tests.integration.test_services import (
    data,
    ingress,
    lb_names,
    resources,
    running_pod,
    svc_doc,
    write_svc,
)

FAST_RETRIES_PLUS = [*FAST_RETRIES, 0.0]  # every retry of one call, and the call itself
KINDS = ["addresses", "firewalls", "forwardingRules", "httpHealthChecks", "targetPools"]


def one_load_balancer(names: dict[str, list[str]]) -> bool:
    """One of each kind, and two firewalls: the service's and its health-check firewall."""
    return sorted(names) == KINDS and all(len(v) == (2 if k == "firewalls" else 1) for k, v in names.items())


def converge(rt: Runtime, attempts: int = 60) -> tuple[ServiceResult, int]:
    """Run passes as the platform would retry them: a TemporaryError means 'again'."""
    for attempt in range(1, attempts + 1):
        try:
            result = sync_service(rt.store, rt.provider, rt.settings, "default", "front", rt.clock)
        except TemporaryError:
            continue
        if result.error is None:
            return result, attempt
    raise AssertionError(f"no convergence in {attempts} passes")


def test_thirty_percent_of_compute_calls_failing(crt: Runtime, compute: ComputeEmulator) -> None:
    compute.inject(status=503, rate=0.15)
    compute.inject(status=429, rate=0.15)
    compute.inject(status=503, rate=0.05, after=True, method="POST")  # applied, but the answer is lost
    path = write_svc(crt, svc_doc(ports=[80, 443]))
    for name in ("web-aaaaa", "web-bbbbb"):
        running_pod(crt, compute, name)
    result, _ = converge(crt)
    assert result.ip and ingress(crt, path) == [result.ip]
    failed = sum(rule.fired for rule in compute.faults.rules)
    assert failed > 0
    compute.faults.clear()
    names = lb_names(compute)
    assert one_load_balancer(names)  # no duplicates
    [pool] = resources(compute)["targetPools"]
    assert len(pool["instances"]) == 2

    compute.inject(status=503, rate=0.15)
    compute.inject(status=429, rate=0.15)
    crt.store.client.document(path).update({"metadata.deletionTimestamp": datetime.now(UTC)})
    converge(crt)
    compute.faults.clear()
    assert lb_names(compute) == {}
    assert not crt.store.client.document(path).get().exists


def test_killed_after_the_load_balancer_was_made(crt: Runtime, compute: ComputeEmulator) -> None:
    path = write_svc(crt, svc_doc())
    crashing = replace(crt, cloud=CrashAfter(crt.provider, "ensure_load_balancer"))  # type: ignore[arg-type]
    with pytest.raises(TemporaryError, match="killed after"):
        sync_service(crashing.store, crashing.provider, crashing.settings, "default", "front", crashing.clock)
    assert ingress(crt, path) == [] and len(lb_names(compute)) == 5
    ip = resources(compute)["forwardingRules"][0]["IPAddress"]
    result, _ = converge(crt)
    assert result.ip == ip and ingress(crt, path) == [ip]
    assert one_load_balancer(lb_names(compute))


def test_killed_after_the_load_balancer_was_deleted(crt: Runtime, compute: ComputeEmulator) -> None:
    path = write_svc(crt, svc_doc())
    converge(crt)
    crt.store.client.document(path).update({"metadata.deletionTimestamp": datetime.now(UTC)})
    crashing = replace(crt, cloud=CrashAfter(crt.provider, "ensure_load_balancer_deleted"))  # type: ignore[arg-type]
    with pytest.raises(TemporaryError, match="killed after"):
        sync_service(crashing.store, crashing.provider, crashing.settings, "default", "front", crashing.clock)
    assert lb_names(compute) == {} and data(crt, path)["metadata"]["finalizers"]  # still held
    converge(crt)
    assert not crt.store.client.document(path).get().exists


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("step", ["addresses", "firewalls", "httpHealthChecks", "targetPools", "forwardingRules"])
def test_killed_at_each_step_of_creation(crt: Runtime, compute: ComputeEmulator, step: str, after: bool) -> None:
    """The pass dies at one insert (before it is applied, or after with the answer lost), then re-runs."""
    path = write_svc(crt, svc_doc())
    compute.inject(method="POST", path=f"/{step}$", status=500, count=1, after=after)
    with pytest.raises(TemporaryError):
        # the provider retries 5xx itself; make this one stick by failing every retry
        compute.inject(method="POST", path=f"/{step}$", status=500, count=len(FAST_RETRIES_PLUS))
        sync_service(crt.store, crt.provider, crt.settings, "default", "front", crt.clock)
    compute.faults.clear()
    result, _ = converge(crt)
    assert result.ip and ingress(crt, path) == [result.ip]
    assert one_load_balancer(lb_names(compute))


@pytest.mark.parametrize("step", ["forwardingRules", "targetPools", "httpHealthChecks", "firewalls", "addresses"])
def test_killed_at_each_step_of_deletion(crt: Runtime, compute: ComputeEmulator, step: str) -> None:
    path = write_svc(crt, svc_doc())
    converge(crt)
    crt.store.client.document(path).update({"metadata.deletionTimestamp": datetime.now(UTC)})
    compute.inject(method="DELETE", path=f"/{step}/", status=500, count=1 + len(FAST_RETRIES_PLUS))
    with pytest.raises(TemporaryError):
        sync_service(crt.store, crt.provider, crt.settings, "default", "front", crt.clock)
    assert data(crt, path)["metadata"]["finalizers"]  # the finalizer still holds the document
    compute.faults.clear()
    converge(crt)
    assert lb_names(compute) == {}
    assert not crt.store.client.document(path).get().exists
