"""What the simulated agent reads from a VM's metadata (docs/agent-protocol.md §1).

Pure parsing: metadata in, a ``PodSpec`` out. Malformed values never raise; each is
replaced by Kubernetes' default and noted in ``problems`` (the agent shows them in its
admin view), as the real agent must not die on a hostile value either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

POLICIES = ("Always", "OnFailure", "Never")
PROBE_KINDS = ("http", "tcp", "exec")
PRESTOP_KINDS = ("http", "tcp", "exec", "sleep")
DEFAULT_TIMING = (0, 10, 1, 1, 3)  # initialDelay period timeout successThreshold failureThreshold
DEFAULT_HEARTBEAT = 60
DEFAULT_GRACE = 30
MAX_CONTAINERS = 64
_HOST_PORT = re.compile(r"(tcp|udp) ([0-9]{1,5}) ([0-9]{1,5})", re.ASCII)


@dataclass(frozen=True)
class ProbeSpec:
    kind: str
    initial_delay: int = 0
    period: int = 10
    timeout: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    probes: dict[str, ProbeSpec]  # "startup", "liveness", "readiness" -> spec, only those present
    prestop: str | None = None
    prestop_seconds: int = 0


@dataclass(frozen=True)
class HostPort:
    """One ``fc-host-ports`` line: the VM's ``host_port`` redirected to ``container_port``."""

    protocol: str  # "TCP" or "UDP", as Kubernetes spells them
    host_port: int
    container_port: int


@dataclass(frozen=True)
class PodSpec:
    pod: str
    status_url: str
    heartbeat: int = DEFAULT_HEARTBEAT
    grace: int = DEFAULT_GRACE
    restart_policy: str = "Always"
    containers: tuple[ContainerSpec, ...] = ()
    terminate: int | None = None  # fc-terminate: the grace period of this deletion
    host_ports: tuple[HostPort, ...] = ()
    problems: tuple[str, ...] = field(default=())


def _count(value: str | None, default: int, low: int, high: int, what: str, problems: list[str]) -> int:
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        problems.append(f"{what}: {value[:80]!r} is not a number from {low} to {high}; using {default}")
        return default
    return int(value)


def _timing(value: str | None, what: str, problems: list[str]) -> tuple[int, ...]:
    if value is None:
        return DEFAULT_TIMING
    parts = value.split()
    if len(parts) != 5 or not all(p.isdigit() and int(p) <= 86_400 for p in parts):
        problems.append(f"{what}: {value[:80]!r} is not five numbers; using Kubernetes' defaults")
        return DEFAULT_TIMING
    numbers = [int(p) for p in parts]
    numbers[1:] = [max(1, n) for n in numbers[1:]]  # period, timeout and thresholds are at least 1
    return tuple(numbers)


def _container(meta: dict[str, str], i: int, problems: list[str]) -> ContainerSpec:
    prefix = f"fc-c{i}"
    name = meta.get(f"{prefix}-name") or f"container-{i}"
    probes: dict[str, ProbeSpec] = {}
    for probe in ("startup", "liveness", "readiness"):
        kind = meta.get(f"{prefix}-{probe}")
        if kind is None:
            continue
        if kind not in PROBE_KINDS:
            problems.append(f"{prefix}-{probe}: {kind[:80]!r} is not one of {', '.join(PROBE_KINDS)}; no such probe")
            continue
        timing = _timing(meta.get(f"{prefix}-{probe}-timing"), f"{prefix}-{probe}-timing", problems)
        probes[probe] = ProbeSpec(kind, *timing)
    prestop = meta.get(f"{prefix}-prestop")
    if prestop is not None and prestop not in PRESTOP_KINDS:
        problems.append(f"{prefix}-prestop: {prestop[:80]!r} is not one of {', '.join(PRESTOP_KINDS)}; no preStop")
        prestop = None
    seconds = _count(meta.get(f"{prefix}-prestop-seconds"), 0, 0, 86_400, f"{prefix}-prestop-seconds", problems)
    return ContainerSpec(name, meta.get(f"{prefix}-image", ""), probes, prestop, seconds)


def _host_ports(value: str | None, problems: list[str]) -> tuple[HostPort, ...]:
    """``fc-host-ports``: ``tcp|udp HOST_PORT CONTAINER_PORT`` lines; another line is a problem
    and left out, as the real agent logs and ignores it."""
    found = []
    for line in (value or "").splitlines():
        if not line:
            continue
        match = _HOST_PORT.fullmatch(line)
        if match and all(1 <= int(n) <= 65535 for n in match.group(2, 3)):
            found.append(HostPort(match[1].upper(), int(match[2]), int(match[3])))
        else:
            problems.append(f"fc-host-ports: {line[:80]!r} is not 'tcp|udp HOST_PORT CONTAINER_PORT'; ignored")
    return tuple(found)


def parse(meta: dict[str, str]) -> PodSpec:
    """The pod as the agent plays it."""
    problems: list[str] = []
    policy = meta.get("fc-restart-policy", "Always")
    if policy not in POLICIES:
        problems.append(f"fc-restart-policy: {policy[:80]!r} is not one of {', '.join(POLICIES)}; using Always")
        policy = "Always"
    count = _count(meta.get("fc-containers"), 0, 0, MAX_CONTAINERS, "fc-containers", problems)
    terminate = meta.get("fc-terminate")
    return PodSpec(
        pod=meta.get("firecontrol-pod", ""),
        status_url=meta.get("fc-status-url", ""),
        heartbeat=max(1, _count(meta.get("fc-heartbeat-seconds"), DEFAULT_HEARTBEAT, 1, 86_400,
                                "fc-heartbeat-seconds", problems)),
        grace=_count(meta.get("fc-grace-seconds"), DEFAULT_GRACE, 0, 86_400, "fc-grace-seconds", problems),
        restart_policy=policy,
        containers=tuple(_container(meta, i, problems) for i in range(count)),
        terminate=None if terminate is None else _count(terminate, DEFAULT_GRACE, 0, 86_400, "fc-terminate", problems),
        host_ports=_host_ports(meta.get("fc-host-ports"), problems),
        problems=tuple(problems),
    )
