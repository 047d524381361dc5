"""The Compute emulator's simulated pod agent: one per RUNNING instance whose metadata has ``fc-agent``.

It plays the pod's containers from the VM's metadata (``agent_spec``, ``agent_pod``) and
reports to the VM's ``fc-status-url`` as docs/agent-protocol.md §3 says, with a bearer
token minted by ``identity`` for that instance (audience: the status URL), at once on
every change and every ``fc-heartbeat-seconds``. Container output goes to serial port 2
as ``fc-log {container} {line}``. One background thread ticks every agent; reports are
posted by a small pool, one in flight per agent, so a slow receiver delays only its own
VM. A report that gets no answer, a 5xx or a 429 is retried ``RETRY`` seconds later; another 4xx is
only counted, as the real agent only logs it. Nothing here raises into the emulator.

``time_scale`` (constructor, ``FIRECONTROL_AGENT_TIME_SCALE``, ``/emulator/config``
``agent_time_scale``) divides every agent duration; timestamps stay wall-clock.
An agent stops when its instance is deleted or stopped (not RUNNING, or a new id).

Admin routes (served by ``server``):

- ``GET /admin/agents/{project}/{zone}/{instance}``: the agent's view: pod, boot,
  sequence, ready, terminating, silent, reportsSent, reportsFailed, lastReplyCode,
  lastError, problems (malformed metadata), hostPorts (``fc-host-ports`` as read: the
  agent's REDIRECTs), containers (as reported, plus ``probes``: each probe's forced result).
- ``POST /admin/agents/{project}/{zone}/{instance}`` ``{"container", "action", "code",
  "ok", "text"}``: ``crash`` (the container exits 1, restarted per policy), ``exit``
  (exits ``code``), ``startup`` / ``liveness`` / ``readiness`` with ``ok`` (that probe
  fails from now on, or passes again), ``silent`` with ``ok`` (true: the VM stops
  reporting; false: it reports again; containers and health go on), ``output``
  (``text``'s lines appended to the container's log). Answers the view.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .agent_pod import START_DELAY, AdminError, SimPod
from .agent_spec import PodSpec, parse
from .health import metadata_of
from .identity import InstanceIdentity, Issuer, identity_of
from .model import Key
from .resources import instance_status

if TYPE_CHECKING:
    from .state import ComputeState

Json = dict[str, Any]
TICK = 0.02  # real seconds between ticks
RETRY = 2.0  # simulated seconds before a failed report is tried again
POST_TIMEOUT = 5.0
SERIAL_PORT = 2
log = logging.getLogger("emulator.compute.agent")


def scale_from_env(default: float = 1.0) -> float:
    raw = os.environ.get("FIRECONTROL_AGENT_TIME_SCALE", "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = default
    return value if value > 0 else default


def post_report(url: str, body: Json, token: str) -> tuple[int | None, str | None]:
    """POST one report; the reply's status, or None and why there was none."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT) as reply:
            reply.read()
            return int(reply.status), None
    except urllib.error.HTTPError as e:
        return int(e.code), None
    except (OSError, ValueError) as e:
        return None, f"{type(e).__name__}: {e}"


@dataclass(frozen=True)
class Seen:
    """An instance with ``fc-agent`` as the last tick saw it."""

    instance_id: str
    status: str
    fingerprint: str
    metadata: dict[str, str]
    identity: InstanceIdentity


class Agent:
    """One VM's agent: its pod, its boot and sequence, and its reporting."""

    def __init__(self, key: Key, seen: Seen, now: float, scale: float) -> None:
        self.key, self.instance_id, self.identity = key, seen.instance_id, seen.identity
        self.spec: PodSpec = parse(seen.metadata)
        self.fingerprint = seen.fingerprint
        self.pod = SimPod(self.spec.containers, self.spec.restart_policy, now + START_DELAY / scale)
        self.boot = secrets.token_hex(5)
        self.sequence = 0
        self.silent = False
        self.sent = self.failed = 0
        self.last_code: int | None = None
        self.last_error: str | None = None
        self.last_body: Json | None = None  # the last report accepted by a reply, without its sequence
        self.next_heartbeat = now
        self.retry_at = 0.0
        self.inflight: Future[tuple[int | None, str | None]] | None = None
        self.inflight_body: Json | None = None

    def observe(self, seen: Seen, now: float, scale: float) -> None:
        """Take changed metadata: the status URL, heartbeat and grace, and ``fc-terminate``."""
        if seen.fingerprint == self.fingerprint:
            return
        self.fingerprint = seen.fingerprint
        fresh = parse(seen.metadata)
        # The pod's spec (containers, restart policy, host ports) stays as the agent started it.
        self.spec = replace(self.spec, pod=fresh.pod, status_url=fresh.status_url, heartbeat=fresh.heartbeat,
                            grace=fresh.grace, terminate=fresh.terminate, problems=fresh.problems)
        if fresh.terminate is not None:
            self.pod.terminate(fresh.terminate, self._prestop_seconds(), now, scale)

    def _prestop_seconds(self) -> dict[str, int]:
        return {c.name: c.prestop_seconds for c in self.spec.containers if c.prestop == "sleep"}

    def body(self) -> Json:
        return {"pod": self.spec.pod, "boot": self.boot, "terminating": self.pod.terminating,
                "containers": [c.report() for c in self.pod.containers]}

    def report(self, now: float, scale: float, issuer: Issuer, pool: ThreadPoolExecutor) -> None:
        """Collect the reply of the report in flight; send the next one when it is due."""
        if self.inflight is not None:
            if not self.inflight.done():
                return
            code, error = self.inflight.result()
            self.inflight = None
            self.last_code, self.last_error = code, error
            if code is None or code >= 500 or code == 429:  # as the real agent: again soon
                self.failed += 1
                self.retry_at = self.next_heartbeat = now + RETRY / scale
            else:
                self.sent += 1
                self.last_body = self.inflight_body
                if code >= 300:
                    log.info("report refused", extra={"instance": self.key.name, "code": code})
        if self.silent or not self.spec.status_url:
            return
        body = self.body()
        if not ((body != self.last_body and now >= self.retry_at) or now >= self.next_heartbeat):
            return
        self.sequence += 1
        token = issuer.mint(self.identity, self.spec.status_url)
        self.inflight_body = body
        self.inflight = pool.submit(post_report, self.spec.status_url, {**body, "sequence": self.sequence}, token)
        self.next_heartbeat = now + self.spec.heartbeat / scale

    def view(self) -> Json:
        containers = [{**c.report(), "probes": dict(c.probe_ok)} for c in self.pod.containers]
        return {"instance": self.key.name, "instanceId": self.instance_id, "pod": self.spec.pod, "boot": self.boot,
                "sequence": self.sequence, "ready": self.pod.ready, "terminating": self.pod.terminating,
                "silent": self.silent, "reportsSent": self.sent, "reportsFailed": self.failed,
                "lastReplyCode": self.last_code, "lastError": self.last_error, "statusUrl": self.spec.status_url,
                "problems": list(self.spec.problems), "containers": containers,
                "hostPorts": [{"protocol": h.protocol, "hostPort": h.host_port, "containerPort": h.container_port}
                              for h in self.spec.host_ports]}

    def admin(self, body: Json) -> None:
        action = body.get("action")
        if action == "silent":
            self.silent = bool(body.get("ok", True))
            if not self.silent:
                self.next_heartbeat = 0.0
            return
        container = self.pod.container(str(body.get("container", "")))
        if action in ("crash", "exit"):
            code = 1 if action == "crash" else body.get("code", 0)
            if not isinstance(code, int) or not 0 <= code <= 255:
                raise AdminError(f"code must be a number from 0 to 255, not {code!r:.40}")
            if container.state != "running":
                raise AdminError(f"container {container.spec.name} is {container.state}, not running")
            container.pending_exit = code
        elif action in container.probe_ok:
            container.probe_ok[str(action)] = bool(body.get("ok", False))
        elif action == "output":
            self.pod.log(container.spec.name, str(body.get("text", "")))
        else:
            raise AdminError(f"unknown action {action!r:.40}: crash, exit, startup, liveness, readiness, silent, output")


class Agents:
    """Every simulated agent of one emulator, and the thread that ticks them."""

    def __init__(self, state: ComputeState, issuer: Issuer, time_scale: float | None = None) -> None:
        self.state, self.issuer = state, issuer
        self.default_scale = time_scale if time_scale is not None and time_scale > 0 else scale_from_env()
        self.scale = self.default_scale
        self._lock = threading.RLock()
        self._agents: dict[Key, Agent] = {}
        self._known: dict[Key, tuple[str, dict[str, str] | None]] = {}  # key -> (fingerprint, metadata if agent)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="agent-report")

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="compute-agents", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    def reset(self) -> None:
        with self._lock:
            self._agents.clear()
            self._known.clear()
            self.scale = self.default_scale

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            try:
                self.tick()
            except Exception:  # the emulator outlives any agent bug
                log.exception("agent tick failed")

    # -- one tick --------------------------------------------------------------

    def _snapshot(self) -> dict[Key, Seen]:
        state = self.state
        state.advance()
        out: dict[Key, Seen] = {}
        known: dict[Key, tuple[str, dict[str, str] | None]] = {}
        with state.lock:
            for key, body in state.resources.items():
                if key.collection != "instances":
                    continue
                fingerprint = str((body.get("metadata") or {}).get("fingerprint", ""))
                cached = self._known.get(key)
                if cached is None or cached[0] != fingerprint:
                    meta = metadata_of(body)
                    cached = (fingerprint, meta if "fc-agent" in meta else None)
                known[key] = cached
                meta_or_none = cached[1]
                if meta_or_none is None:
                    continue
                zone = key.scope.split("/", 1)[1]
                out[key] = Seen(str(body.get("id", "")), instance_status(state, key), fingerprint, meta_or_none,
                                identity_of(key.project, zone, key.name, body))
        self._known = known
        return out

    def tick(self) -> None:
        seen = self._snapshot()
        now, writes = time.monotonic(), []
        with self._lock:
            scale = self.scale
            for key in list(self._agents):
                found = seen.get(key)
                if found is None or found.instance_id != self._agents[key].instance_id or found.status != "RUNNING":
                    del self._agents[key]
            for key, found in seen.items():
                if found.status == "RUNNING" and key not in self._agents:
                    self._agents[key] = Agent(key, found, now, scale)
            for key, agent in self._agents.items():
                agent.observe(seen[key], now, scale)
                agent.pod.step(now, scale)
                if agent.pod.logs:
                    writes.append((key, agent.instance_id, "".join(agent.pod.logs)))
                    agent.pod.logs.clear()
                agent.report(now, scale, self.issuer, self._pool)
        for key, instance_id, text in writes:
            self.state.serial.write(key, instance_id, SERIAL_PORT, text)

    # -- what others ask -------------------------------------------------------

    def ready(self, key: Key, instance_id: str) -> bool:
        with self._lock:
            agent = self._agents.get(key)
            return agent is not None and agent.instance_id == instance_id and agent.pod.ready

    def view(self, key: Key) -> Json | None:
        with self._lock:
            agent = self._agents.get(key)
            return None if agent is None else agent.view()

    def admin(self, key: Key, body: Json) -> Json | None:
        """Apply an admin action; None when the instance has no agent. AdminError for a bad one."""
        with self._lock:
            agent = self._agents.get(key)
            if agent is None:
                return None
            agent.admin(body)
            if agent.pod.logs:  # output shows at once
                self.state.serial.write(key, agent.instance_id, SERIAL_PORT, "".join(agent.pod.logs))
                agent.pod.logs.clear()
            return agent.view()
