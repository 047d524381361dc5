"""The Pod: one Compute Engine VM running its containers (Kubernetes v1 subset)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from functions.api.base import Model
from functions.api.meta import Condition, ObjectMeta, replace_condition
from functions.api.names import DNS_LABEL

Phase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]
MAX_STRING = 32_768

# docker refuses container names of fewer than 2 characters ([a-zA-Z0-9][a-zA-Z0-9_.-]+),
# which Kubernetes' DNS-1123 label allows: the pod's containers carry these names.
MIN_CONTAINER_NAME = 2
# docker's image reference grammar (github.com/distribution/reference, regexp.go).
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH}(?:/{_PATH})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(rf"(?P<name>{_NAME})(?::{_TAG})?(?:@{_DIGEST})?\Z", re.ASCII)
MAX_IMAGE_NAME = 255  # docker's limit on the name part of a reference
# The pod agent's /healthz on every pod VM (kube-proxy's port): every load balancer checks it.
AGENT_HEALTH_PORT = 10256


def image_problem(value: str) -> str | None:
    """Why docker would refuse ``value`` as an image reference, or None."""
    match = IMAGE_REFERENCE.match(value)
    if match is None:
        return (
            f"image {value!r:.80} is not a docker image reference such as 'nginx:1.27' or "
            "'us-docker.pkg.dev/project/repo/app@sha256:...' (repository names are lower-case)"
        )
    if len(match["name"]) > MAX_IMAGE_NAME:
        return f"image name is {len(match['name'])} characters; docker allows at most {MAX_IMAGE_NAME}"
    return None


def _plain_text(value: str, what: str) -> str:
    """User strings travel to the VM as data; NUL cannot travel in metadata at all."""
    if "\x00" in value:
        raise ValueError(f"{what} must not contain NUL characters")
    if len(value) > MAX_STRING:
        raise ValueError(f"{what} is {len(value)} characters; at most {MAX_STRING} are allowed")
    return value


class EnvVar(Model):
    name: StrictStr
    value: StrictStr = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value or "=" in value or not value.isprintable():
            raise ValueError(f"env name {value!r:.80} must be non-empty printable text without '='")
        return _plain_text(value, "env name")

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        return _plain_text(value, "env value")


class ContainerPort(Model):
    """A port the container listens on. Each pod is its own VM and its containers use the
    VM's network, so ``containerPort`` is that port of the VM; a ``hostPort`` is another
    port of the VM that the pod agent redirects to it (iptables, docs/agent-protocol.md)."""

    container_port: StrictInt = Field(ge=1, le=65535)
    host_port: StrictInt | None = Field(default=None, ge=1, le=65535)
    protocol: Literal["TCP", "UDP"] = "TCP"
    name: StrictStr | None = None


class ExecAction(Model):
    command: list[StrictStr] = Field(min_length=1)

    @field_validator("command")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        for word in value:
            _plain_text(word, "exec command")
        return value


class HTTPHeader(Model):
    name: StrictStr = Field(min_length=1, max_length=256, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    value: StrictStr = ""

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        if any(ch in value for ch in "\r\n\x00"):
            raise ValueError("an HTTP header value must not contain CR, LF or NUL")
        return _plain_text(value, "header value")


class HTTPGetAction(Model):
    path: StrictStr = "/"
    port: StrictInt | StrictStr
    host: StrictStr | None = None
    scheme: Literal["HTTP", "HTTPS"] = "HTTP"
    http_headers: list[HTTPHeader] = Field(default_factory=list, max_length=32)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if any(ch in value for ch in "\r\n\x00 ") or len(value) > 2048:
            raise ValueError("path must be at most 2048 characters without spaces, CR, LF or NUL")
        return value if value.startswith("/") else "/" + value


class TCPSocketAction(Model):
    port: StrictInt | StrictStr
    host: StrictStr | None = None


class SleepAction(Model):
    seconds: StrictInt = Field(ge=0, le=3600)


def _one_handler(model: Model, kinds: tuple[str, ...], what: str) -> None:
    given = [kind for kind in kinds if getattr(model, kind) is not None]
    if len(given) != 1:
        raise ValueError(f"{what} must have exactly one handler of {', '.join(kinds)}; it has {len(given)}")


class Probe(Model):
    """Kubernetes' probe, with its defaults; the pod's agent runs it."""

    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    initial_delay_seconds: StrictInt = Field(default=0, ge=0, le=3600)
    timeout_seconds: StrictInt = Field(default=1, ge=1, le=3600)
    period_seconds: StrictInt = Field(default=10, ge=1, le=3600)
    success_threshold: StrictInt = Field(default=1, ge=1, le=100)
    failure_threshold: StrictInt = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _one(self) -> Probe:
        _one_handler(self, ("exec", "http_get", "tcp_socket"), "a probe")
        return self


class LifecycleHandler(Model):
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    sleep: SleepAction | None = None

    @model_validator(mode="after")
    def _one(self) -> LifecycleHandler:
        _one_handler(self, ("exec", "http_get", "tcp_socket", "sleep"), "a lifecycle handler")
        return self


class Lifecycle(Model):
    pre_stop: LifecycleHandler | None = None


class Container(Model):
    name: StrictStr
    image: StrictStr
    command: list[StrictStr] = Field(default_factory=list)
    args: list[StrictStr] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)
    ports: list[ContainerPort] = Field(default_factory=list)
    startup_probe: Probe | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    lifecycle: Lifecycle | None = None

    def port_number(self, port: int | str) -> int | None:
        """A probe's or service's port: a number, or the name of one of this container's ports."""
        if isinstance(port, int):
            return port if 1 <= port <= 65535 else None
        return next((p.container_port for p in self.ports if p.name == port), None)

    @model_validator(mode="after")
    def _probes(self) -> Container:
        for field in ("startup_probe", "liveness_probe", "readiness_probe"):
            probe: Probe | None = getattr(self, field)
            if probe is None:
                continue
            alias = {"startup_probe": "startupProbe", "liveness_probe": "livenessProbe",
                     "readiness_probe": "readinessProbe"}[field]
            if field != "readiness_probe" and probe.success_threshold != 1:
                raise ValueError(f"{alias}: successThreshold must be 1 for liveness and startup probes")
            action = probe.http_get or probe.tcp_socket
            if action is not None and self.port_number(action.port) is None:
                raise ValueError(f"{alias}: port {action.port!r:.80} is not a port number or the name of a port "
                                 "of this container")
        handler = self.lifecycle.pre_stop if self.lifecycle else None
        action = (handler.http_get or handler.tcp_socket) if handler else None
        if action is not None and self.port_number(action.port) is None:
            raise ValueError(f"lifecycle: preStop port {action.port!r:.80} is not a port number or the name of a "
                             "port of this container")
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not MIN_CONTAINER_NAME <= len(value) <= 63 or not DNS_LABEL.match(value):
            raise ValueError(
                f"container name {value!r:.80} must be a DNS-1123 label of {MIN_CONTAINER_NAME} to 63 "
                "lower-case letters, digits and '-' (docker refuses a name of one character)"
            )
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("image must not be empty")
        _plain_text(value, "image")
        problem = image_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("command", "args")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        for word in value:
            _plain_text(word, "command and args")
        return value


def host_port_problems(containers: list[Container]) -> list[tuple[tuple[str | int, ...], str]]:
    """(where, why) of each hostPort one VM cannot honour, where relative to the pod spec.

    Each pod is one VM: a hostPort takes that port of the VM, and every container port
    is the VM's port of that number already (its container listens there). A hostPort is
    refused when another port of the pod took it, or when it is the agent's health port
    (kube-proxy's 10256, which every load balancer checks): one port cannot go two ways.
    """
    ports = [((i, j), port) for i, container in enumerate(containers) for j, port in enumerate(container.ports)]
    problems: list[tuple[tuple[str | int, ...], str]] = []
    hosts: dict[tuple[str, int], str] = {}
    for (i, j), port in ports:
        if port.host_port is None:
            continue
        key, text = (port.protocol, port.host_port), f"{port.host_port}/{port.protocol}"
        listening = [f"containers[{k}].ports[{m}]" for (k, m), other in ports
                     if (k, m) != (i, j) and (other.protocol, other.container_port) == key]
        if key in hosts:
            why = (f"{text} is also the hostPort of {hosts[key]}: each pod is one VM, and one port of it can "
                   "reach one container port only")
        elif key == ("TCP", AGENT_HEALTH_PORT):
            why = f"{text} is the pod agent's health port, which load balancers check; choose another hostPort"
        elif listening:
            why = (f"{text} is the containerPort of {listening[0]}, which listens on the VM's port "
                   f"{port.host_port} itself (each pod is one VM, its containers on the VM's network); "
                   "choose another hostPort")
        else:
            hosts[key] = f"containers[{i}].ports[{j}]"
            continue
        hosts.setdefault(key, f"containers[{i}].ports[{j}]")
        problems.append((("containers", i, "ports", j, "hostPort"), why))
    return problems


class PodSpec(Model):
    containers: list[Container] = Field(min_length=1)
    restart_policy: Literal["Always", "OnFailure", "Never"] = "Always"
    node_name: StrictStr | None = None
    termination_grace_period_seconds: StrictInt = Field(default=30, ge=0, le=3600)

    @model_validator(mode="after")
    def _unique_container_names(self) -> PodSpec:
        names = [container.name for container in self.containers]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"containers: duplicate container names {duplicates}")
        return self

    @model_validator(mode="after")
    def _host_ports(self) -> PodSpec:
        """Each refused hostPort with its own path (a ValidationError raised here keeps
        its locations, under the pod spec's)."""
        problems = host_port_problems(self.containers)
        if problems:
            raise ValidationError.from_exception_data("PodSpec", [
                InitErrorDetails(type=PydanticCustomError("value_error", message), loc=where, input=None)
                for where, message in problems])
        return self


class ContainerStateWaiting(Model):
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(Model):
    started_at: datetime | None = None


class ContainerStateTerminated(Model):
    exit_code: int = 0
    signal: int | None = None
    reason: str | None = None
    message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    container_id: str | None = Field(default=None, alias="containerID")


class ContainerState(Model):
    """Exactly one of the three, as the kubelet reports it."""

    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(Model):
    name: StrictStr
    ready: bool = False
    restart_count: int = 0
    state: ContainerState | None = None
    last_state: ContainerState | None = None
    started: bool | None = None
    image: str | None = None
    image_id: str | None = Field(default=None, alias="imageID")
    container_id: str | None = Field(default=None, alias="containerID")


class PodIP(Model):
    """One of ``status.podIPs`` / ``status.hostIPs``, as Kubernetes lists them."""

    ip: StrictStr


# Kubernetes spells these ``podIP`` and ``hostIP``; documents written before issue 13 have
# the camelCase of the Python name (``podIp``), read with either and written the right way.
OLD_STATUS_SPELLINGS = {"podIp": "podIP", "hostIp": "hostIP", "podIps": "podIPs", "hostIps": "hostIPs"}


def current_spellings(status: dict[str, Any]) -> dict[str, Any]:
    """A stored pod status with Kubernetes' names (``podIP``), whichever it was written
    with; the new spelling wins when both are there. ``status`` itself when nothing moves."""
    if not OLD_STATUS_SPELLINGS.keys() & status.keys():
        return status
    moved = {key: value for key, value in status.items() if key not in OLD_STATUS_SPELLINGS}
    for old, new in OLD_STATUS_SPELLINGS.items():
        if old in status:
            moved.setdefault(new, status[old])
    return moved


class PodStatus(Model):
    phase: Phase = "Pending"
    conditions: list[Condition] = Field(default_factory=list)
    host_ip: str | None = Field(default=None, alias="hostIP")
    host_ips: list[PodIP] | None = Field(default=None, alias="hostIPs")
    pod_ip: str | None = Field(default=None, alias="podIP")
    pod_ips: list[PodIP] | None = Field(default=None, alias="podIPs")
    start_time: datetime | None = None
    reason: str | None = None
    message: str | None = None
    container_statuses: list[ContainerStatus] = Field(default_factory=list)
    # firecontrol's own: set while the pod is Running on its VM (functions/fingerprint.py),
    # and the zone its VM was made in (an edited zone annotation must not lose the VM).
    vm_fingerprint: int | None = None
    vm_zone: str | None = None
    # The machine type the VM was made with: quotas count the annotation, so it may not
    # change under a running VM (it is put back).
    vm_machine_type: str | None = None
    # The VM's numeric id (its identity token names it) and the version of the agent it
    # runs (None: a VM made before the agent, whose pod is Ready while the VM is RUNNING).
    vm_id: str | None = None
    vm_agent: str | None = None
    # When the pod runtime asked the agent to stop the containers (graceful termination).
    termination_started: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_spellings(cls, data: Any) -> Any:
        return current_spellings(data) if isinstance(data, dict) else data

    @model_serializer(mode="wrap")
    def _address_lists(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        """``podIPs`` / ``hostIPs`` always follow ``podIP`` / ``hostIP`` (one address each,
        the VM's), whichever of them a pass changed."""
        data: dict[str, Any] = handler(self)
        for one, many in (("pod_ip", "pod_ips"), ("host_ip", "host_ips")):
            field = type(self).model_fields[many]
            key = (field.alias or many) if info.by_alias else many
            value = getattr(self, one)
            if value:
                data[key] = [{"ip": value}]
            elif info.exclude_none:
                data.pop(key, None)
            else:
                data[key] = None
        return data

    def ready_condition(self) -> Condition | None:
        return next((c for c in self.conditions if c.type == "Ready"), None)

    @property
    def ready(self) -> bool:
        condition = self.ready_condition()
        return condition is not None and condition.status == "True"

    @property
    def restarts(self) -> int:
        return max((status.restart_count for status in self.container_statuses), default=0)


def finished_readiness(status: PodStatus, now: datetime) -> PodStatus:
    """A Failed or Succeeded pod is not ready, as the kubelet says of a pod in a terminal
    phase: ``Ready`` and ``ContainersReady`` False (reason ``PodFailed`` or
    ``PodCompleted``). A condition already False keeps its own reason (InstanceGone,
    NodeLost); any other phase is returned as it is."""
    if status.phase not in ("Failed", "Succeeded"):
        return status
    reason = "PodFailed" if status.phase == "Failed" else "PodCompleted"
    conditions = status.conditions
    for kind in ("ContainersReady", "Ready"):
        current = next((c for c in conditions if c.type == kind), None)
        if current is None or current.status != "False":
            conditions = replace_condition(conditions, kind, Condition(type=kind, status="False", reason=reason), now)
    return status if conditions is status.conditions else status.model_copy(update={"conditions": conditions})


class Pod(Model):
    api_version: StrictStr = "v1"
    kind: Literal["Pod"] = "Pod"
    metadata: ObjectMeta
    spec: PodSpec
    status: PodStatus = Field(default_factory=PodStatus)

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def being_deleted(self) -> bool:
        return self.metadata.deletion_timestamp is not None
