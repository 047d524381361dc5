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
    "n2-highmem-128": Machine(128, 864 * 1024),  # not 8 GB per vCPU
}
# GB of memory per vCPU of the regular series, {series}-{standard|highmem|highcpu}-{vCPUs};
# Compute Engine reports int(vCPUs x GB x 1024) MB (an n1-standard-1: 3.75 GB, 3840).
_GB_PER_VCPU = {
    ("e2", "standard"): 4, ("e2", "highmem"): 8, ("e2", "highcpu"): 1,
    ("n2", "standard"): 4, ("n2", "highmem"): 8, ("n2", "highcpu"): 1,
    ("n2d", "standard"): 4, ("n2d", "highmem"): 8, ("n2d", "highcpu"): 1,
    ("n1", "standard"): 3.75, ("n1", "highmem"): 6.5, ("n1", "highcpu"): 0.9,
    ("c2", "standard"): 4, ("c2d", "standard"): 4, ("c2d", "highmem"): 8, ("c2d", "highcpu"): 2,
    ("c3", "standard"): 4, ("c3", "highmem"): 8, ("c3", "highcpu"): 2, ("t2d", "standard"): 4,
}
_SERIES = re.compile(r"^([a-z][a-z0-9]*)-(standard|highmem|highcpu)-([0-9]{1,3})\Z")
# Custom machine types: [series-]custom-{vCPUs}-{MiB}, n1 without a series.
_CUSTOM = re.compile(r"^(?:(e2|n2|n2d|n1)-)?custom-([0-9]{1,3})-([0-9]{3,7})(-ext)?\Z")


def machine(name: str) -> Machine | None:
    """The vCPUs and memory of a machine type, or None when this table does not know it."""
    if name in KNOWN:
        return KNOWN[name]
    series = _SERIES.match(name)
    if series:
        per_vcpu = _GB_PER_VCPU.get((series[1], series[2]))
        vcpus = int(series[3])
        return Machine(vcpus, int(vcpus * per_vcpu * 1024)) if per_vcpu and vcpus > 0 else None
    custom = _CUSTOM.match(name)
    if custom and int(custom[2]) > 0:
        return Machine(int(custom[2]), int(custom[3]))
    return None
