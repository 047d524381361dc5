"""Settings read once from the environment, the same locally and on Google Cloud.

Every module takes a ``Settings`` rather than reading ``os.environ`` itself, so tests
can build one per case and nothing depends on import order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_MAX_REPLICAS = 100
DEFAULT_BURST = 50


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} must be between {low} and {high}")
    return value


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        project = env.get("GOOGLE_CLOUD_PROJECT") or env.get("GCLOUD_PROJECT") or cls.project
        return cls(
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
        )
