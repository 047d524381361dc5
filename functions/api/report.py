"""An agent's report (docs/agent-protocol.md §3) and the pod status it means (§4.4).

The report is a body from the network: parsed strictly (unknown fields, wrong types and
oversized strings are refused with path-precise messages), never trusted for anything
but the containers' states. ``derive_status`` is pure, as the kubelet's
``generateAPIPodStatus``: the same (spec, old status, report, now) gives the same status.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from functions.api.base import error_messages
from functions.api.meta import Condition, set_condition
from functions.api.names import MAX_NAMESPACE, MAX_POD_NAME, name_problem, namespace_problem
from functions.api.pod import (
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    Phase,
    PodSpec,
    PodStatus,
    finished_readiness,
)

MAX_BODY_BYTES = 256 * 1024
MAX_CONTAINERS = 100
MAX_MESSAGE = 1024
FINISHED = ("Succeeded", "Failed")

_REASON = r"^[A-Za-z][A-Za-z0-9]{0,127}$"  # Kubernetes' CamelCase reasons: CrashLoopBackOff, OOMKilled
_TOKEN = r"^[\x21-\x7e]{0,512}$"  # imageID, containerID: printable, no spaces
_CONTAINER = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
# Epoch seconds: from 1970 to 2286, never a number a datetime cannot hold.
Epoch = Annotated[float, Field(ge=0, le=9_999_999_999)]
ExitCode = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Signal = Annotated[int, Field(ge=1, le=128)]
Reason = Annotated[str, Field(pattern=_REASON)]
State = Literal["waiting", "running", "terminated"]


class ReportError(ValueError):
    """A body that is not a report; ``messages`` say where and why, one per problem."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", strict=True, frozen=True, allow_inf_nan=False,
    )


def _message(value: str | None) -> str | None:
    if value is not None and any((ord(ch) < 32 and ch not in "\n\t") or ch == "\x7f" for ch in value):
        raise ValueError("must not contain control characters other than newline and tab")
    return value


class ReportedLastState(_Wire):
    """The container's previous run; Kubernetes keeps only a terminated one."""

    state: Literal["terminated"]
    exit_code: ExitCode
    signal: Signal | None = None
    reason: Reason | None = None
    message: str | None = Field(default=None, max_length=MAX_MESSAGE)
    started_at: Epoch | None = None
    finished_at: Epoch | None = None

    _check_message = field_validator("message")(_message)


class ReportedContainer(_Wire):
    name: str = Field(pattern=_CONTAINER)
    state: State
    reason: Reason | None = None
    message: str | None = Field(default=None, max_length=MAX_MESSAGE)
    exit_code: ExitCode | None = None
    signal: Signal | None = None
    started_at: Epoch | None = None
    finished_at: Epoch | None = None
    last_state: ReportedLastState | None = None
    restart_count: int = Field(default=0, ge=0, le=2**31 - 1)
    ready: bool = False
    started: bool = False
    image_id: str = Field(default="", alias="imageID", pattern=_TOKEN)
    container_id: str = Field(default="", alias="containerID", pattern=_TOKEN)

    _check_message = field_validator("message")(_message)

    @model_validator(mode="after")
    def _consistent(self) -> ReportedContainer:
        if self.state == "terminated" and self.exit_code is None:
            raise ValueError("exitCode: a terminated container must have an exit code")
        if self.state != "terminated":
            for field, alias in (("exit_code", "exitCode"), ("signal", "signal"), ("finished_at", "finishedAt")):
                if getattr(self, field) is not None:
                    raise ValueError(f"{alias}: only a terminated container has one; this one is {self.state}")
        return self


class Report(_Wire):
    pod: str = Field(max_length=MAX_NAMESPACE + 1 + MAX_POD_NAME)
    boot: str = Field(pattern=r"^[a-z0-9]{1,40}$")
    sequence: int = Field(ge=0, le=2**53)
    terminating: bool = False
    containers: list[ReportedContainer] = Field(min_length=1, max_length=MAX_CONTAINERS)

    @field_validator("pod")
    @classmethod
    def _pod(cls, value: str) -> str:
        namespace, slash, name = value.partition("/")
        problem = (None if slash else f"{value!r:.80} is not namespace/name") or namespace_problem(namespace) \
            or name_problem(name, MAX_POD_NAME, "pod name")
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("containers")
    @classmethod
    def _unique(cls, value: list[ReportedContainer]) -> list[ReportedContainer]:
        names = [c.name for c in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate container names {duplicates}")
        return value

    @property
    def namespace(self) -> str:
        return self.pod.partition("/")[0]

    @property
    def name(self) -> str:
        return self.pod.partition("/")[2]

    def digest(self) -> str:
        """What the pod's status is derived from (everything but boot and sequence): equal
        digests derive equal statuses, so a heartbeat can skip reading the pod."""
        content = self.model_dump(mode="json", by_alias=True, exclude={"boot", "sequence"})
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]


def parse_report(body: bytes) -> Report:
    """The report in an HTTP body, or ``ReportError`` saying why it is not one."""
    if len(body) > MAX_BODY_BYTES:
        raise ReportError([f"(body): {len(body):,} bytes; a report is at most {MAX_BODY_BYTES:,}"])
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise ReportError([f"(body): not JSON: {str(error)[:200]}"]) from None
    if not isinstance(data, dict):
        raise ReportError([f"(body): must be a JSON object, not {type(data).__name__}"])
    try:
        return Report.model_validate(data)
    except ValidationError as error:
        raise ReportError(error_messages(error)[:20]) from None


# -- the pod status a report means --------------------------------------------------


def _time(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _state(r: ReportedContainer) -> ContainerState:
    if r.state == "running":
        return ContainerState(running=ContainerStateRunning(started_at=_time(r.started_at)))
    if r.state == "waiting":
        return ContainerState(waiting=ContainerStateWaiting(reason=r.reason, message=r.message))
    return ContainerState(terminated=ContainerStateTerminated(
        exit_code=r.exit_code or 0, signal=r.signal, reason=r.reason, message=r.message,
        started_at=_time(r.started_at), finished_at=_time(r.finished_at), container_id=r.container_id or None,
    ))


def _last_state(last: ReportedLastState | None) -> ContainerState | None:
    if last is None:
        return None
    return ContainerState(terminated=ContainerStateTerminated(
        exit_code=last.exit_code, signal=last.signal, reason=last.reason, message=last.message,
        started_at=_time(last.started_at), finished_at=_time(last.finished_at),
    ))


def container_status(image: str, r: ReportedContainer | None, name: str) -> ContainerStatus:
    """One container as Kubernetes shows it; only a running container is ready or started.
    A container the agent did not mention is still being created."""
    if r is None:
        return ContainerStatus(name=name, image=image, image_id="", container_id="", ready=False, started=False,
                               state=ContainerState(waiting=ContainerStateWaiting(reason="ContainerCreating")))
    running = r.state == "running"
    return ContainerStatus(
        name=name, image=image, image_id=r.image_id, container_id=r.container_id,
        ready=running and r.ready, started=running and r.started, restart_count=r.restart_count,
        state=_state(r), last_state=_last_state(r.last_state),
    )


def _has_run(status: ContainerStatus) -> bool:
    state = status.state or ContainerState()
    return state.waiting is None or status.restart_count > 0 or status.last_state is not None


def pod_phase(restart_policy: str, statuses: list[ContainerStatus]) -> Phase:
    """Kubernetes' ``getPhase``: Pending until a container has run; with ``Never`` every
    container terminated is Succeeded (all exit 0) or Failed; with ``OnFailure`` a
    failed container is restarted, so only all exit 0 ends the pod (Succeeded)."""
    if not any(_has_run(s) for s in statuses):
        return "Pending"
    terminated = [s.state.terminated for s in statuses if s.state is not None and s.state.terminated is not None]
    if len(terminated) == len(statuses) and restart_policy != "Always":
        if all(t.exit_code == 0 for t in terminated):
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
    return "Running"


def derive_status(spec: PodSpec, old: PodStatus, report: Report, now: datetime) -> PodStatus:
    """The pod's status after ``report``: container statuses in the spec's order, the
    Initialized, ContainersReady and Ready conditions (transition times kept while
    unchanged), the phase, and ``startTime``. A finished pod stays as it is."""
    if old.phase in FINISHED:
        return old
    reported = {c.name: c for c in report.containers}
    statuses = [container_status(c.image, reported.get(c.name), c.name) for c in spec.containers]
    phase = pod_phase(spec.restart_policy, statuses)
    unready = [s.name for s in statuses if not s.ready]
    message = f"containers with unready status: [{' '.join(unready)}]" if unready else None
    finished = "PodFailed" if phase == "Failed" else "PodCompleted"
    reason = (finished if phase in FINISHED else "ContainersNotReady") if unready else None
    containers_ready = Condition(type="ContainersReady", status="False" if unready else "True",
                                 reason=reason, message=message)
    if report.terminating:
        ready = Condition(type="Ready", status="False", reason="PodTerminating", message="the pod is being deleted")
    else:
        ready = containers_ready.model_copy(update={"type": "Ready"})
    conditions = set_condition(old.conditions, "Initialized", Condition(type="Initialized", status="True"), now)
    conditions = set_condition(conditions, "ContainersReady", containers_ready, now)
    conditions = set_condition(conditions, "Ready", ready, now)
    return finished_readiness(old.model_copy(update={
        "phase": phase,
        "conditions": conditions,
        "container_statuses": statuses,
        "start_time": old.start_time or now,
        "reason": None,
        "message": None,
    }), now)

