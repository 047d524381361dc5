"""Which instances to add to and remove from a target pool: a pure diff, in request-sized chunks.

Hosts are instance names in our zone, or ``zones/Z/instances/N`` references; target
pools hold full instance URLs. Both are reduced to ``zones/Z/instances/N`` to compare.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Compute Engine takes at most 1,000 instances per addInstance/removeInstance call;
# a target pool insert with many instances is known to fail, so it takes fewer.
MAX_PER_CALL = 1000
MAX_AT_CREATE = 200


def instance_ref(host: str, zone: str) -> str:
    """``zones/Z/instances/N`` for an instance name, a partial reference or a full URL."""
    parts = host.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "instances" and parts[-4] == "zones":
        return "/".join(parts[-4:])
    if len(parts) == 1:
        return f"zones/{zone}/instances/{host}"
    raise ValueError(f"not an instance name or reference: {host!r}")


@dataclass(frozen=True)
class HostChange:
    add: tuple[str, ...]
    remove: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.add and not self.remove


def diff_hosts(current: Iterable[str], desired: Iterable[str], zone: str) -> HostChange:
    """What to add and remove so ``current`` (pool members) becomes ``desired`` (hosts)."""
    have = {instance_ref(h, zone) for h in current}
    want = {instance_ref(h, zone) for h in desired}
    return HostChange(add=tuple(sorted(want - have)), remove=tuple(sorted(have - want)))


def chunks(items: Sequence[str], size: int = MAX_PER_CALL) -> list[tuple[str, ...]]:
    if size < 1:
        raise ValueError("chunk size must be positive")
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]
