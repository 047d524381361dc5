"""Load balancers converge through failures: flaky calls, passes killed between steps, quota."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from emulator.compute import ComputeEmulator
from functions.cloudprovider import PermanentError, QuotaError, TemporaryError
from tests.compute.support import FAST_RETRIES, OWNER, REGION, nothing_left, one_of_each, seed

LB = "fc-web"
CREATE_STEPS = ["address", "firewall", "health-check-firewall", "health-check", "target-pool", "forwarding-rule"]
DELETE_STEPS = ["forwarding-rule-deleted", "target-pool-deleted", "health-check-deleted",
                "health-check-firewall-deleted", "firewall-deleted"]


class Killed(Exception):
    """The pass died here (the instance was recycled, the deadline hit, ...)."""


def kill_at(step: str) -> Callable[[str], None]:
    def hook(current: str) -> None:
        if current == step:
            raise Killed(step)

    return hook


def test_thirty_percent_of_calls_failing_still_converges(emulator: ComputeEmulator, cloud: Any) -> None:
    hosts = [f"vm-{i}" for i in range(30)]
    seed(emulator, hosts)
    # Lost answers (applied, then 503) and refusals (429), 30% of all calls, seeded.
    emulator.inject(path="^/compute/v1/", status=503, rate=0.15, after=True)
    emulator.inject(path="^/compute/v1/", status=429, rate=0.176)

    for name in ("web", "api", "db"):
        ip = cloud.ensure_load_balancer(name, REGION, [80, 81], hosts[:20], owner=OWNER)
        assert one_of_each(emulator, f"fc-{name}")
        assert cloud.ensure_load_balancer(name, REGION, [80, 81], hosts[:20], owner=OWNER) == ip
        cloud.update_hosts(name, REGION, hosts[10:])
        assert one_of_each(emulator, f"fc-{name}")
        pool = emulator.state.dump()["resources"]["targetPools"][0]
        assert sorted(link.rsplit("/", 1)[-1] for link in pool["instances"]) == sorted(hosts[10:])
        cloud.ensure_load_balancer_deleted(name, REGION)
        assert nothing_left(emulator)

    injected = sum(emulator.faults.injected.values())
    total = sum(emulator.requests().values())
    assert total > 100 and 0.2 < injected / total < 0.4, (injected, total)


@pytest.mark.parametrize("step", CREATE_STEPS)
def test_create_killed_after_any_step_then_rerun_converges(emulator: ComputeEmulator, make_cloud: Callable[..., Any], step: str) -> None:
    seed(emulator, ["vm-1"])
    with pytest.raises(Killed):
        make_cloud(on_step=kill_at(step)).ensure_load_balancer("web", REGION, [80], ["vm-1"], owner=OWNER)
    ip = make_cloud().ensure_load_balancer("web", REGION, [80], ["vm-1"], owner=OWNER)
    assert one_of_each(emulator, LB)
    assert emulator.state.dump()["resources"]["forwardingRules"][0]["IPAddress"] == ip
    make_cloud().ensure_load_balancer_deleted("web", REGION)
    assert nothing_left(emulator)


@pytest.mark.parametrize("step", DELETE_STEPS)
def test_delete_killed_after_any_step_then_rerun_leaks_nothing(emulator: ComputeEmulator, make_cloud: Callable[..., Any], step: str) -> None:
    make_cloud().ensure_load_balancer("web", REGION, [80], [], owner=OWNER)
    with pytest.raises(Killed):
        make_cloud(on_step=kill_at(step)).ensure_load_balancer_deleted("web", REGION)
    make_cloud().ensure_load_balancer_deleted("web", REGION)
    assert nothing_left(emulator)


@pytest.mark.parametrize("collection", ["addresses", "firewalls", "httpHealthChecks", "targetPools", "forwardingRules"])
def test_pass_dying_while_waiting_for_an_insert_then_rerun(emulator: ComputeEmulator, cloud: Any, collection: str) -> None:
    """The insert is accepted, then waiting for it fails for good: the re-run finds it (get or 409)."""
    emulator.configure({"operation_delay": 0.05})
    emulator.inject(method="POST", path=f"/{collection}$", status=403, reason="forbidden", message="denied", after=True, count=1)
    with pytest.raises(PermanentError):
        cloud.ensure_load_balancer("web", REGION, [80], [], owner=OWNER)
    ip = cloud.ensure_load_balancer("web", REGION, [80], [], owner=OWNER)
    assert one_of_each(emulator, LB)
    assert emulator.state.dump()["resources"]["forwardingRules"][0]["IPAddress"] == ip


def test_calls_failing_for_good_raise_temporary_after_the_retries(emulator: ComputeEmulator, cloud: Any) -> None:
    emulator.inject(path="/addresses/", status=503)
    with pytest.raises(TemporaryError) as error:
        cloud.ensure_load_balancer("web", REGION, [80], [], owner=OWNER)
    assert error.value.status == 503
    assert emulator.requests() == {"addresses.get": len(FAST_RETRIES) + 1}
    assert nothing_left(emulator)


def test_quota_exceeded_is_a_quota_error(emulator: ComputeEmulator, cloud: Any) -> None:
    emulator.inject(method="POST", path="/addresses$", status=403, reason="quotaExceeded")
    with pytest.raises(QuotaError) as error:
        cloud.ensure_load_balancer("web", REGION, [80], [], owner=OWNER)
    assert "IN_USE_ADDRESSES" in str(error.value)
    assert nothing_left(emulator)
