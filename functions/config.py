"""Settings read once from the environment, the same locally and on Google Cloud.

Every module takes a ``Settings`` rather than reading ``os.environ`` itself, so tests
can build one per case and nothing depends on import order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

N = TypeVar("N", int, float)
DEFAULT_MAX_REPLICAS = 100
DEFAULT_BURST = 50
# Machine types a pod may ask for unless the installation says otherwise: small ones.
DEFAULT_MACHINE_TYPES = ("e2-micro", "e2-small", "e2-medium", "e2-standard-2")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


def _number(env: Mapping[str, str], name: str, default: N, low: N, high: N, parse: Callable[[str], N]) -> N:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {'an integer' if parse is int else 'a number'}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} must be between {low} and {high}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return _number(env, name, default, low, high, int)


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    return _number(env, name, default, low, high, float)


def _words(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    return tuple(dict.fromkeys(w.strip() for w in raw.split(",") if w.strip()))


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} must be true or false")


@dataclass(frozen=True)
class Settings:
    project: str = "firecontrol-local"
    region: str = "us-central1"
    zone: str = "us-central1-a"
    cluster: str = "firecontrol"
    cloud_provider: str = "gce"
    compute_api_endpoint: str | None = None
    max_replicas: int = DEFAULT_MAX_REPLICAS
    # Pods created (or deleted) by one sync pass at most; Firestore allows 500 writes
    # per commit and a pass also writes the controller and its events.
    burst: int = DEFAULT_BURST
    # Kubernetes' slowStartBatch: at most 1, 2, 4, ... pods waiting for a VM at once.
    slow_start: bool = True
    machine_type: str = "e2-small"
    # How long a pod pass waits for its new VM to be RUNNING before leaving it to resync.
    pod_start_timeout: float = 90.0
    # An idle resync tick skips reading every pod; every this many minutes it sweeps in full.
    resync_full_every: int = 10
    # The Firestore database of this installation: two installations in one project
    # use two databases and never read each other's documents.
    database: str = "(default)"
    # Machine types a pod may ask for (the annotation); anything else is refused.
    machine_types: tuple[str, ...] = DEFAULT_MACHINE_TYPES
    # Pod VMs get an external IP only when the installation allows it (else Cloud NAT).
    external_ips: bool = False
    # The service account pod VMs run as (None: no account at all).
    pod_service_account: str | None = None
    # Seconds a resync tick may start new work for; well inside the function's 540 s.
    resync_deadline: float = 300.0
    # A controller document is written at most about once per this many seconds by
    # passes that its pods' changes ask for (coalesced fan-in).
    controller_write_interval: float = 1.0
    # Where pod agents report (the pod_status function's URL, also their tokens' audience).
    # None: VMs are made without reporting agents, and a pod is Ready while its VM is RUNNING.
    pod_status_url: str | None = None
    # Seconds between an agent's reports when nothing changes (its heartbeat).
    agent_heartbeat: int = 60
    # A pod whose agent is silent this long is Ready Unknown (Kubernetes' node grace period) ...
    heartbeat_timeout: float = 180.0
    # ... and this much longer, Failed, so that its controller replaces it (pod eviction timeout).
    eviction_timeout: float = 300.0
    # How long one kube_api watch streams before the client re-watches (under the function's timeout).
    watch_seconds: float = 300.0
    # Status writes a pod's reports may cause in 10 s (then 429); 0: no limit. A container
    # holding its VM's token cannot buy writes and invocations in a loop.
    status_write_limit: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        project = env.get("GOOGLE_CLOUD_PROJECT") or env.get("GCLOUD_PROJECT") or cls.project
        settings = cls(
            project=project,
            region=env.get("FIRECONTROL_REGION") or cls.region,
            zone=env.get("FIRECONTROL_ZONE") or cls.zone,
            cluster=env.get("FIRECONTROL_CLUSTER") or cls.cluster,
            cloud_provider=env.get("CLOUD_PROVIDER") or cls.cloud_provider,
            compute_api_endpoint=env.get("COMPUTE_API_ENDPOINT") or None,
            max_replicas=_int(env, "FIRECONTROL_MAX_REPLICAS", DEFAULT_MAX_REPLICAS, 0, 10_000),
            burst=_int(env, "FIRECONTROL_BURST", DEFAULT_BURST, 1, 400),
            slow_start=_bool(env, "FIRECONTROL_SLOW_START", True),
            machine_type=env.get("FIRECONTROL_MACHINE_TYPE") or cls.machine_type,
            pod_start_timeout=float(_int(env, "FIRECONTROL_POD_START_TIMEOUT", 90, 0, 3600)),
            resync_full_every=_int(env, "FIRECONTROL_RESYNC_FULL_EVERY", 10, 1, 1440),
            database=env.get("FIRECONTROL_DATABASE") or cls.database,
            machine_types=_words(env, "FIRECONTROL_MACHINE_TYPES", DEFAULT_MACHINE_TYPES),
            external_ips=_bool(env, "FIRECONTROL_EXTERNAL_IPS", False),
            pod_service_account=env.get("FIRECONTROL_POD_SERVICE_ACCOUNT") or None,
            resync_deadline=_float(env, "FIRECONTROL_RESYNC_DEADLINE", 300.0, 1.0, 530.0),
            controller_write_interval=_float(env, "FIRECONTROL_CONTROLLER_WRITE_INTERVAL", 1.0, 0.0, 10.0),
            pod_status_url=env.get("FIRECONTROL_POD_STATUS_URL") or None,
            agent_heartbeat=_int(env, "FIRECONTROL_AGENT_HEARTBEAT", 60, 1, 3600),
            heartbeat_timeout=_float(env, "FIRECONTROL_HEARTBEAT_TIMEOUT", 180.0, 1.0, 86_400.0),
            eviction_timeout=_float(env, "FIRECONTROL_EVICTION_TIMEOUT", 300.0, 0.0, 86_400.0),
            watch_seconds=_float(env, "FIRECONTROL_WATCH_SECONDS", 300.0, 1.0, 530.0),
            status_write_limit=_int(env, "FIRECONTROL_STATUS_WRITE_LIMIT", 10, 0, 100_000),
        )
        if settings.pod_status_url is not None and settings.compute_api_endpoint is None:
            _check_agents(settings)
        if settings.machine_type not in settings.machine_types:
            raise ConfigError(
                f"FIRECONTROL_MACHINE_TYPE={settings.machine_type!r} is not in FIRECONTROL_MACHINE_TYPES "
                f"({', '.join(settings.machine_types)}): pods without the annotation could never be made"
            )
        return settings


def _check_agents(settings: Settings) -> None:
    """On Google Cloud, agent settings that could never work are refused up front: a VM
    with no service account gets no identity token, and a timeout shorter than two
    heartbeats marks healthy pods Unknown (and makes every heartbeat read the pod)."""
    if settings.pod_service_account is None:
        raise ConfigError(
            "FIRECONTROL_POD_STATUS_URL is set but FIRECONTROL_POD_SERVICE_ACCOUNT is not: a VM without a "
            "service account gets no identity token, so its agent could never report"
        )
    if settings.heartbeat_timeout < 2 * settings.agent_heartbeat:
        raise ConfigError(
            f"FIRECONTROL_HEARTBEAT_TIMEOUT={settings.heartbeat_timeout:g} must be at least twice "
            f"FIRECONTROL_AGENT_HEARTBEAT={settings.agent_heartbeat}: one late heartbeat would make a pod Unknown"
        )
