"""Plain data the emulator keeps: resource keys, the kinds it serves, IP pools, timing.

Kept apart from the request logic so the rules of each kind read as data.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

# The Compute Engine name rule (RFC 1035 label).
NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Kind:
    collection: str
    kind: str
    scope: str  # "zones", "regions" or "global"

    @property
    def list_kind(self) -> str:
        return self.kind + "List"


KINDS = {
    k.collection: k
    for k in (
        Kind("instances", "compute#instance", "zones"),
        Kind("targetPools", "compute#targetPool", "regions"),
        Kind("forwardingRules", "compute#forwardingRule", "regions"),
        Kind("addresses", "compute#address", "regions"),
        Kind("firewalls", "compute#firewall", "global"),
        Kind("httpHealthChecks", "compute#httpHealthCheck", "global"),
    )
}


@dataclass(frozen=True, order=True)
class Key:
    """Where a resource lives: ``scope`` is ``zones/z``, ``regions/r`` or ``global``."""

    project: str
    scope: str
    collection: str
    name: str

    @property
    def path(self) -> str:
        return f"projects/{self.project}/{self.scope}/{self.collection}/{self.name}"


@dataclass
class Timing:
    """Delays, in seconds, of the asynchronous parts of Compute Engine."""

    operation_delay: float = 0.05  # insert/delete/... PENDING → RUNNING → DONE
    provisioning_delay: float = 0.1  # instance PROVISIONING → STAGING
    staging_delay: float = 0.1  # instance STAGING → RUNNING
    wait_timeout: float = 2.0  # longest one operations.wait blocks (Compute: 2 minutes)


@dataclass
class Quotas:
    """Regional quotas checked when an instance is inserted; generous unless a test lowers them.

    ``cpus`` is the ``CPUS`` limit of every region, ``region_cpus`` overrides it per region.
    """

    cpus: float = 1000.0
    region_cpus: dict[str, float] = field(default_factory=dict)

    def cpus_in(self, region: str) -> float:
        return float(self.region_cpus.get(region, self.cpus))


class IpPool:
    """Hands out the free host addresses of one network, lowest first."""

    def __init__(self, cidr: str, skip: int = 1) -> None:
        self.network = ipaddress.ip_network(cidr)
        self._next = int(self.network.network_address) + skip
        self._last = int(self.network.broadcast_address) - 1
        self._start = self._next
        self.used: set[str] = set()

    def __contains__(self, ip: str) -> bool:
        return ipaddress.ip_address(ip) in self.network

    def allocate(self) -> str | None:
        size = self._last - self._start + 1
        for _ in range(size):
            ip = str(ipaddress.ip_address(self._next))
            self._next = self._next + 1 if self._next < self._last else self._start
            if ip not in self.used:
                self.used.add(ip)
                return ip
        return None

    def release(self, ip: str) -> None:
        self.used.discard(ip)


def timestamp() -> str:
    """RFC 3339 with milliseconds, as Compute Engine writes ``creationTimestamp``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")
