"""The simulated kubelet: a pod's containers as a state machine over time (no threads, no I/O).

``SimPod.step(now, scale)`` moves every container on to ``now`` (``time.monotonic()``);
every duration of the protocol (start delay, probe delays and periods, back-off,
preStop and SIGTERM) is in simulated seconds, divided by ``scale`` to get real ones.
Timestamps in the report stay wall-clock epoch seconds.

Behaviour (docs/agent-protocol.md §2, and the kubelet where it is silent):
- containers run ``START_DELAY`` after the agent starts; started at once without a
  startup probe, else after it succeeds; ready at once without a readiness probe, else
  after ``successThreshold`` passes, not ready after ``failureThreshold`` failures;
- ``failureThreshold`` liveness (or startup) failures kill the container (exit 137);
- an exit restarts per restart policy with the kubelet's back-off: the first restart at
  once, then 10 s, 20 s, ... at most 300 s, reset after 10 minutes of running; while
  backing off the container is ``waiting``/``CrashLoopBackOff``;
- an image from a registry that cannot exist (a host under RFC 2606's ``.invalid``, say
  ``registry.invalid/web:v2``) never pulls: ``ErrImagePull``, then ``ImagePullBackOff``
  retried with the same back-off, as a typo'd image does on a real node;
- ``terminate(grace)``: not ready at once, no more restarts, each running container
  exits after its preStop (``sleep`` seconds, else none) plus ``SIGTERM_EXIT`` with code 0,
  or is killed (137) when that passes the grace period; waiting ones end at once.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .agent_spec import ContainerSpec, ProbeSpec

START_DELAY = 1.0
SIGTERM_EXIT = 0.5
BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_RESET = 10.0, 300.0, 600.0
KILLED = 137
MESSAGE_LIMIT = 1024
PROBES = ("startup", "liveness", "readiness")
Json = dict[str, Any]


class AdminError(ValueError):
    """An admin request the pod cannot take (unknown container, one not running)."""


@dataclass
class ProbeRun:
    """One probe worker: when it runs next and its consecutive results."""

    spec: ProbeSpec
    next_at: float
    successes: int = 0
    failures: int = 0

    def run(self, ok: bool, now: float, scale: float) -> None:
        self.successes, self.failures = (self.successes + 1, 0) if ok else (0, self.failures + 1)
        self.next_at = now + self.spec.period / scale


def unpullable(image: str) -> bool:
    """The image's registry host is under ``.invalid``: no pull of it can ever succeed."""
    host = image.split("/", 1)[0] if "/" in image else ""
    return host.split(":", 1)[0].lower().endswith(".invalid")


def _image_id(image: str) -> str:
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"docker-pullable://{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


@dataclass
class SimContainer:
    spec: ContainerSpec
    start_at: float | None  # monotonic time of the next (re)start; None: never
    state: str = "waiting"
    reason: str | None = "ContainerCreating"
    message: str | None = None
    exit_code: int | None = None
    started_at: int | None = None
    finished_at: int | None = None
    last_state: Json | None = None
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    container_id: str = ""
    image_id: str = ""
    backoff: float = 0.0
    ran_since: float = 0.0
    probes: dict[str, ProbeRun] = field(default_factory=dict)
    probe_ok: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(PROBES, True))
    pending_exit: int | None = None
    stop_at: float | None = None
    stop_code: int = 0

    def start(self, now: float, scale: float) -> None:
        self.state, self.reason, self.message, self.exit_code = "running", None, None, None
        self.started_at, self.finished_at = int(time.time()), None
        self.container_id = f"docker://{uuid.uuid4().hex}{uuid.uuid4().hex}"
        self.image_id = _image_id(self.spec.image)
        self.ran_since, self.start_at = now, None
        self.started = "startup" not in self.spec.probes
        self.ready = False
        self.probes = {name: ProbeRun(p, now + p.initial_delay / scale) for name, p in self.spec.probes.items()}

    def stop(self, code: int) -> None:
        self.state, self.exit_code = "terminated", code
        self.reason, self.message = ("Completed" if code == 0 else "Error"), None
        self.finished_at = int(time.time())
        self.ready = self.started = False
        self.pending_exit = self.stop_at = None

    def terminated_json(self) -> Json:
        return {"state": "terminated", "exitCode": self.exit_code, "reason": self.reason,
                "startedAt": self.started_at, "finishedAt": self.finished_at}

    def report(self) -> Json:
        message = None if self.message is None else self.message[:MESSAGE_LIMIT]
        return {
            "name": self.spec.name, "state": self.state, "reason": self.reason, "message": message,
            "exitCode": self.exit_code if self.state == "terminated" else None, "signal": None,
            "startedAt": None if self.state == "waiting" else self.started_at,
            "finishedAt": self.finished_at if self.state == "terminated" else None,
            "lastState": self.last_state, "restartCount": self.restart_count, "ready": self.ready,
            "started": self.started, "imageID": self.image_id, "containerID": self.container_id,
        }


class SimPod:
    """A pod's containers under one restart policy; ``logs`` collects ``fc-log`` lines to flush."""

    def __init__(self, containers: tuple[ContainerSpec, ...], policy: str, start_at: float) -> None:
        self.policy = policy
        self.containers = [SimContainer(spec, start_at) for spec in containers]
        self.terminating = False
        self.logs: list[str] = []

    @property
    def ready(self) -> bool:
        return bool(self.containers) and not self.terminating and all(c.ready for c in self.containers)

    def container(self, name: str) -> SimContainer:
        for c in self.containers:
            if c.spec.name == name:
                return c
        raise AdminError(f"no container {name[:80]!r} in this pod (has: {', '.join(c.spec.name for c in self.containers)})")

    def log(self, name: str, text: str) -> None:
        self.logs.extend(f"fc-log {name} {line}\n" for line in text.splitlines() or [""])

    def step(self, now: float, scale: float) -> None:
        for c in self.containers:
            if c.state == "waiting" and c.start_at is not None and now >= c.start_at:
                if unpullable(c.spec.image):
                    self._pull_failed(c, now, scale)
                    continue
                if c.reason == "CrashLoopBackOff":
                    c.restart_count += 1
                self._start(c, now, scale)
            if c.state != "running":
                continue
            if c.stop_at is not None and now >= c.stop_at:
                self._exited(c, c.stop_code, now, scale)
            elif c.pending_exit is not None:
                self._exited(c, c.pending_exit, now, scale)
            else:
                self._probe(c, now, scale)

    def _start(self, c: SimContainer, now: float, scale: float) -> None:
        c.start(now, scale)
        self.log(c.spec.name, f"started {c.spec.image}")

    def _pull_failed(self, c: SimContainer, now: float, scale: float) -> None:
        """The pull failed: ``ErrImagePull`` once, then ``ImagePullBackOff`` until the next try."""
        if c.reason == "ErrImagePull":
            delay, c.backoff = (c.backoff or BACKOFF_FIRST), min(2 * (c.backoff or BACKOFF_FIRST), BACKOFF_MAX)
            c.reason, c.message = "ImagePullBackOff", f'Back-off pulling image "{c.spec.image}"'
            c.start_at = now + delay / scale
        else:
            c.reason = "ErrImagePull"
            c.message = f'failed to pull image "{c.spec.image}": no such host'
            c.start_at = now + 1.0 / scale

    def _probe(self, c: SimContainer, now: float, scale: float) -> None:
        startup = c.probes.get("startup")
        if not c.started and startup is not None:
            if now >= startup.next_at:
                startup.run(c.probe_ok["startup"], now, scale)
                if startup.successes >= 1:
                    c.started = True
                elif startup.failures >= startup.spec.failure_threshold:
                    self._exited(c, KILLED, now, scale)
            return
        liveness = c.probes.get("liveness")
        if liveness is not None and now >= liveness.next_at:
            liveness.run(c.probe_ok["liveness"], now, scale)
            if liveness.failures >= liveness.spec.failure_threshold:
                self._exited(c, KILLED, now, scale)
                return
        readiness = c.probes.get("readiness")
        if readiness is None:
            c.ready = True
        elif now >= readiness.next_at:
            readiness.run(c.probe_ok["readiness"], now, scale)
            if readiness.successes >= readiness.spec.success_threshold:
                c.ready = True
            elif readiness.failures >= readiness.spec.failure_threshold:
                c.ready = False
        c.ready = c.ready and not self.terminating

    def _restarts(self, code: int) -> bool:
        return not self.terminating and (self.policy == "Always" or (self.policy == "OnFailure" and code != 0))

    def _exited(self, c: SimContainer, code: int, now: float, scale: float) -> None:
        ran = (now - c.ran_since) * scale
        c.stop(code)
        if not self._restarts(code):
            return
        if ran >= BACKOFF_RESET:
            c.backoff = 0.0
        delay, c.backoff = c.backoff, (BACKOFF_FIRST if c.backoff == 0 else min(2 * c.backoff, BACKOFF_MAX))
        c.last_state = c.terminated_json()
        if delay == 0:
            c.restart_count += 1
            self._start(c, now, scale)
            return
        c.state, c.reason, c.exit_code = "waiting", "CrashLoopBackOff", None
        c.message = f"back-off {delay:g}s restarting failed container={c.spec.name}"
        c.start_at = now + delay / scale

    def terminate(self, grace: int, prestop_seconds: dict[str, int], now: float, scale: float) -> None:
        """Begin the pod's deletion: preStop, then SIGTERM, within ``grace`` seconds."""
        if self.terminating:
            return
        self.terminating = True
        for c in self.containers:
            c.ready = False
            if c.state == "running":
                needed = prestop_seconds.get(c.spec.name, 0) + SIGTERM_EXIT
                c.stop_code = 0 if needed <= grace else KILLED
                c.stop_at = now + min(needed, grace) / scale
            elif c.state == "waiting":
                c.start_at = None
                last = c.last_state or {}
                c.stop(int(last.get("exitCode") or 0))
