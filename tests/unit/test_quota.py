"""Quantities, machine sizes and quota decisions, without Firestore."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from emulator.compute.catalog import MACHINE_TYPES
from functions.api.machines import machine
from functions.api.parse import parse_quota
from functions.api.quota import format_quantity, parse_quantity
from functions.quota import ControllerAdmission, Quota, exceeded, pod_request
from functions.store import Doc

NOW = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(("text", "value"), [
    ("2", 2), ("500m", Decimal("0.5")), ("4Gi", 4 * 1024**3), ("1e3", 1000), (".5", Decimal("0.5")),
    ("100M", 100_000_000), ("1Ki", 1024), (10, 10), (0.25, Decimal("0.25")), ("3840Mi", 3840 * 1024**2),
])
def test_kubernetes_quantities(text: object, value: object) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "five", "1.5.2", "-1", "4 Gi", "4gi", True, None, "1e999"])
def test_not_quantities(text: object) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_quantities_print_as_kubernetes_prints_them() -> None:
    assert format_quantity("cpu", Decimal("0.5")) == "500m"
    assert format_quantity("cpu", Decimal(4)) == "4"
    assert format_quantity("memory", Decimal(8 * 1024**3)) == "8Gi"
    assert format_quantity("memory", Decimal(3840 * 1024**2)) == "3840Mi"
    assert format_quantity("pods", Decimal(5)) == "5"


def test_machine_sizes_are_what_compute_engine_reports() -> None:
    """Every type the (strict) Compute emulator knows has the vCPUs and memoryMb it reports."""
    for name, reported in MACHINE_TYPES.items():
        size = machine(name)
        assert size is not None and (size.vcpus, size.memory_mib) == (reported.guest_cpus, reported.memory_mb), name
    assert machine("e2-custom-4-8192") is not None and machine("nonsense") is None


def test_quota_validation() -> None:
    ok = parse_quota({"kind": "ResourceQuota", "spec": {"hard": {"pods": 5, "requests.cpu": "4", "memory": "8Gi"}}},
                     "default", "compute")
    assert ok.ok
    bad = parse_quota({"kind": "ResourceQuota", "spec": {"hard": {"nvidia.com/gpu": 1}}}, "default", "compute")
    assert bad.errors and "is not a resource this version can limit" in bad.errors[0]
    fraction = parse_quota({"kind": "ResourceQuota", "spec": {"hard": {"pods": "1.5"}}}, "default", "compute")
    assert fraction.errors == ["spec.hard.pods: a count must be a whole number, not '1.5'"]


def quota(name: str, **hard: object) -> Quota:
    parsed = parse_quota({"kind": "ResourceQuota", "spec": {"hard": {k.replace("_", "."): v for k, v in hard.items()}}},
                         "default", name)
    assert parsed.obj is not None, parsed.errors
    return Quota(Doc(f"namespaces/default/resourceQuotas/{name}", {}, NOW, NOW), name, parsed.obj.limits())


def test_how_many_pods_fit() -> None:
    admission = ControllerAdmission([quota("a", pods=10), quota("b", requests_cpu="7")],
                                    {"pods": Decimal(1), "cpu": Decimal(2)})
    fits, message = admission.allowed(pod_request("e2-small"), 5, "web-")
    assert fits == 2  # cpu: 2 + 2 x 2 = 6 <= 7, a third would be 8
    assert message == ('pods "web-" is forbidden: exceeded quota: b, requested: requests.cpu=2, '
                       "used: requests.cpu=6, limited: requests.cpu=7")
    assert admission.allowed(pod_request("e2-small"), 2, "web-") == (2, None)


def test_first_quota_by_name_is_named() -> None:
    used = {"pods": Decimal(3)}
    over = exceeded([quota("a-first", pods=3), quota("b-second", pods=2)], used, {"pods": Decimal(1)})
    assert over is not None and over.quota == "a-first"
    assert exceeded([quota("a", pods=4)], used, {"pods": Decimal(1)}) is None
