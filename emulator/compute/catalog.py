"""What exists in the emulated Compute Engine: regions, their zones, and each zone's machine types.

A table of real machine types (vCPUs, memory in MB, as ``machineTypes.get`` answers)
and of real zones with the families each offers, so an instance in an unknown zone
or of a type the zone does not have is refused as Compute Engine refuses it. Which
family is offered where follows Google's "regions and zones" page in broad strokes
(N1 and the shared-core F1/G1 are absent from the newer regions, T2D and C3 are in
a subset). Custom machine types (``[e2-|n2-|n2d-]custom-VCPUS-MB[-ext]``) follow the
documented shape rules in broad strokes: an even vCPU count (or 1 on N1), memory a
multiple of 256 MB within the series' range per vCPU unless ``-ext``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GIB = 1024  # memoryMb per GB as Compute Engine counts it (3.75 GB → 3840)


@dataclass(frozen=True)
class MachineType:
    name: str
    guest_cpus: int
    memory_mb: int
    shared_cpu: bool = False

    @property
    def family(self) -> str:
        return self.name.split("-", 1)[0]


def _series(family: str, kind: str, sizes: tuple[int, ...], gb_per_cpu: float) -> list[MachineType]:
    return [MachineType(f"{family}-{kind}-{n}", n, int(n * gb_per_cpu * GIB)) for n in sizes]


_N2_SIZES = (2, 4, 8, 16, 32, 48, 64, 80, 96, 128)
_C3_SIZES = (4, 8, 22, 44, 88, 176)

MACHINE_TYPES: dict[str, MachineType] = {
    m.name: m
    for m in (
        MachineType("f1-micro", 1, 614, True),
        MachineType("g1-small", 1, 1740, True),
        MachineType("e2-micro", 2, 1024, True),
        MachineType("e2-small", 2, 2048, True),
        MachineType("e2-medium", 2, 4096, True),
        *_series("e2", "standard", (2, 4, 8, 16, 32), 4),
        *_series("e2", "highmem", (2, 4, 8, 16), 8),
        *_series("e2", "highcpu", (2, 4, 8, 16, 32), 1),
        *_series("n1", "standard", (1, 2, 4, 8, 16, 32, 64, 96), 3.75),
        *_series("n1", "highmem", (2, 4, 8, 16, 32, 64, 96), 6.5),
        *_series("n1", "highcpu", (2, 4, 8, 16, 32, 64, 96), 0.9),
        *_series("n2", "standard", _N2_SIZES, 4),
        *_series("n2", "highmem", _N2_SIZES[:-1], 8),
        MachineType("n2-highmem-128", 128, 864 * GIB),
        *_series("n2", "highcpu", _N2_SIZES[:-1], 1),
        *_series("n2d", "standard", (*_N2_SIZES, 224), 4),
        *_series("n2d", "highmem", _N2_SIZES[:-1], 8),
        *_series("n2d", "highcpu", (*_N2_SIZES, 224), 1),
        *_series("c2", "standard", (4, 8, 16, 30, 60), 4),
        *_series("c2d", "standard", (2, 4, 8, 16, 32, 56, 112), 4),
        *_series("c2d", "highmem", (2, 4, 8, 16, 32, 56, 112), 8),
        *_series("c2d", "highcpu", (2, 4, 8, 16, 32, 56, 112), 2),
        *_series("c3", "standard", _C3_SIZES, 4),
        *_series("c3", "highmem", _C3_SIZES, 8),
        *_series("c3", "highcpu", _C3_SIZES, 2),
        *_series("t2d", "standard", (1, 2, 4, 8, 16, 32, 48, 60), 4),
    )
}

_EVERYWHERE = frozenset({"e2", "n2", "n2d"})
_CLASSIC = frozenset({"f1", "g1", "n1"})
_ALL = _EVERYWHERE | _CLASSIC | {"c2", "c2d", "c3", "t2d"}

# zone → the machine families it offers.
ZONES: dict[str, frozenset[str]] = {}


def _region(region: str, letters: str, families: frozenset[str], **by_zone: frozenset[str]) -> None:
    for letter in letters:
        ZONES[f"{region}-{letter}"] = by_zone.get(letter, families)


_region("us-central1", "abcf", _ALL, f=_ALL - {"c3"})
_region("us-east1", "bcd", _ALL)
_region("us-east4", "abc", _ALL - {"t2d"})
_region("us-west1", "abc", _ALL - {"c2d"})
_region("us-west2", "abc", _EVERYWHERE | _CLASSIC | {"c2"})
_region("europe-west1", "bcd", _ALL)
_region("europe-west2", "abc", _EVERYWHERE | _CLASSIC | {"c2", "c3"})
_region("europe-west3", "abc", _EVERYWHERE | _CLASSIC | {"c2", "c3"})
_region("europe-west4", "abc", _ALL)
_region("europe-west8", "abc", _EVERYWHERE | {"c3"})
_region("asia-east1", "abc", _EVERYWHERE | _CLASSIC | {"c2", "t2d"})
_region("asia-northeast1", "abc", _EVERYWHERE | _CLASSIC | {"c2", "c3"})
_region("asia-southeast1", "abc", _ALL)
_region("australia-southeast1", "abc", _EVERYWHERE | _CLASSIC | {"c2"})
_region("northamerica-northeast1", "abc", _EVERYWHERE | _CLASSIC | {"c2"})
_region("southamerica-east1", "abc", _EVERYWHERE | _CLASSIC | {"c2"})

REGIONS: frozenset[str] = frozenset(zone.rsplit("-", 1)[0] for zone in ZONES)


def region_of(zone: str) -> str:
    """``us-central1`` for ``us-central1-a``."""
    return zone.rsplit("-", 1)[0]


_CUSTOM = re.compile(r"^(?:(e2|n2|n2d)-)?custom-([0-9]{1,3})-([0-9]{3,7})(-ext)?$")
# series → (most vCPUs, least and most GB per vCPU)
_CUSTOM_RANGES = {"n1": (96, 0.9, 6.5), "e2": (32, 0.5, 8.0), "n2": (128, 0.5, 8.0), "n2d": (96, 0.5, 8.0)}


def _custom(name: str) -> MachineType | None:
    match = _CUSTOM.match(name)
    if match is None:
        return None
    series, cpus, memory = match[1] or "n1", int(match[2]), int(match[3])
    most, low, high = _CUSTOM_RANGES[series]
    if not (cpus == 1 and series == "n1") and (cpus % 2 or not 2 <= cpus <= most):
        return None
    extended = bool(match[4]) and series != "e2"  # E2 has no extended memory
    if memory % 256 or memory < cpus * low * GIB or (memory > cpus * high * GIB and not extended):
        return None
    return MachineType(name, cpus, memory)


def lookup(name: str) -> MachineType | None:
    """A predefined or well-formed custom machine type, wherever it is offered."""
    return MACHINE_TYPES.get(name) or _custom(name)


def machine_type(zone: str, name: str) -> MachineType | None:
    """The machine type ``name`` as zone ``zone`` offers it, or None."""
    found = lookup(name)
    if found is None:
        return None
    family = "n1" if found.family == "custom" else found.family  # custom-N-M is an N1 custom type
    return found if family in ZONES.get(zone, frozenset()) else None
