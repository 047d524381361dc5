"""What a Compute Engine machine type gives a pod: its vCPUs and memory, as Compute reports them.

A pod's VM is the pod's whole request and limit: quotas on ``cpu`` and ``memory`` count
the machine of every pod (``guestCpus`` and ``memoryMb`` of ``machineTypes.get``). The
table holds the small types and the regular series; a type it does not know has no size,
and a quota on cpu or memory then refuses it rather than guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

MIB = 1024 * 1024


@dataclass(frozen=True)
class Machine:
    vcpus: int
    memory_mib: int

    @property
    def memory_bytes(self) -> Decimal:
        return Decimal(self.memory_mib * MIB)


# guestCpus and memoryMb as Compute Engine reports them (shared-core types included:
# an e2-micro is 2 vCPUs that may burst, 1 GiB).
KNOWN: dict[str, Machine] = {
    "e2-micro": Machine(2, 1024),
    "e2-small": Machine(2, 2048),
    "e2-medium": Machine(2, 4096),
    "f1-micro": Machine(1, 614),
    "g1-small": Machine(1, 1740),
}
# Memory per vCPU of the regular series: {series}-{standard|highmem|highcpu}-{vCPUs}.
_PER_VCPU_MIB = {
    ("e2", "standard"): 4096, ("e2", "highmem"): 8192, ("e2", "highcpu"): 1024,
    ("n2", "standard"): 4096, ("n2", "highmem"): 8192, ("n2", "highcpu"): 1024,
    ("n2d", "standard"): 4096, ("n2d", "highmem"): 8192, ("n2d", "highcpu"): 1024,
    ("n1", "standard"): 3840,
}
_SERIES = re.compile(r"^(e2|n2|n2d|n1)-(standard|highmem|highcpu)-([0-9]{1,3})\Z")
# Custom machine types: [series-]custom-{vCPUs}-{MiB}, n1 without a series.
_CUSTOM = re.compile(r"^(?:(e2|n2|n2d|n1)-)?custom-([0-9]{1,3})-([0-9]{3,7})(-ext)?\Z")


def machine(name: str) -> Machine | None:
    """The vCPUs and memory of a machine type, or None when this table does not know it."""
    if name in KNOWN:
        return KNOWN[name]
    series = _SERIES.match(name)
    if series:
        per_vcpu = _PER_VCPU_MIB.get((series[1], series[2]))
        vcpus = int(series[3])
        return Machine(vcpus, vcpus * per_vcpu) if per_vcpu and vcpus > 0 else None
    custom = _CUSTOM.match(name)
    if custom and int(custom[2]) > 0:
        return Machine(int(custom[2]), int(custom[3]))
    return None
