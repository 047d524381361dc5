"""The Service (Kubernetes v1 subset): a selector, ports, and for ``type: LoadBalancer`` an
external network load balancer."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, StrictInt, StrictStr, field_validator, model_validator

from functions.api.base import Model
from functions.api.meta import Condition, ObjectMeta, check_labels

ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]
ALL_SOURCES = "0.0.0.0/0"
MAX_SOURCE_RANGES = 5000  # Compute Engine's limit on one firewall rule's source ranges
IANA_SVC_NAME = re.compile(r"^[-a-z0-9]+\Z")


def iana_svc_name_problem(value: str) -> str | None:
    """Why ``value`` is not an IANA_SVC_NAME (Kubernetes' rule for a named port), or None."""
    if len(value) > 15:
        return f"{value!r:.40} is {len(value)} characters; a port name has at most 15"
    if not IANA_SVC_NAME.match(value):
        return f"{value!r:.40} must consist of lower-case letters, digits and '-'"
    if not any(ch.isalpha() for ch in value):
        return f"{value!r:.40} must contain at least one letter"
    if value.startswith("-") or value.endswith("-") or "--" in value:
        return f"{value!r:.40} must not start or end with '-' or contain '--'"
    return None


class ServicePort(Model):
    name: StrictStr | None = None
    protocol: Literal["TCP", "UDP"] = "TCP"
    port: StrictInt = Field(ge=1, le=65535)
    # A number, or the name of a container port (resolved per pod by the service controller);
    # the agent on each member VM redirects ``port`` to it. Unset: ``port``.
    target_port: StrictInt | StrictStr | None = None

    @field_validator("target_port")
    @classmethod
    def _target(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and not 1 <= value <= 65535:
            raise ValueError(f"{value} is not a port number 1-65535")
        if isinstance(value, str):
            problem = iana_svc_name_problem(value)
            if problem is not None:
                raise ValueError(f"{problem} (a port number or the name of a container port)")
        return value

    @property
    def target(self) -> int | str:
        """Where the agent sends this port's traffic on the VM: a number or a container port name."""
        return self.port if self.target_port is None else self.target_port


class LoadBalancerIngress(Model):
    ip: StrictStr | None = None
    hostname: StrictStr | None = None


class LoadBalancerStatus(Model):
    ingress: list[LoadBalancerIngress] = Field(default_factory=list)


class PortMapMember(Model):
    """One member VM's port map as the service controller last wrote it there."""

    host: StrictStr  # ``zones/Z/instances/N``, or ``N`` in the configured zone
    pod: StrictStr
    uid: StrictStr
    digest: StrictStr  # of the VM's id and the lines written: a change means write again


class PortMapStatus(Model):
    """firecontrol's own: what the port maps on the member VMs are, so a pass where
    nothing changed makes no Compute call, and a VM that leaves is cleaned."""

    members: list[PortMapMember] = Field(default_factory=list)
    left_out: list[StrictStr] = Field(default_factory=list)  # pods without a named target port

    @field_validator("members", mode="before")
    @classmethod
    def _members(cls, value: object) -> object:
        if not isinstance(value, list):
            return []
        keys = ("host", "pod", "uid", "digest")
        return [m for m in value if isinstance(m, PortMapMember)
                or (isinstance(m, dict) and all(isinstance(m.get(k), str) for k in keys))]

    @field_validator("left_out", mode="before")
    @classmethod
    def _left_out(cls, value: object) -> object:
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


class ServiceStatus(Model):
    load_balancer: LoadBalancerStatus = Field(default_factory=LoadBalancerStatus)
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = None
    # firecontrol's own: the name of the load balancer this service uses (today's, or the
    # legacy one it already had). Checked before use; anything not a string is dropped.
    load_balancer_name: StrictStr | None = None
    port_map: PortMapStatus | None = None

    @field_validator("load_balancer_name", mode="before")
    @classmethod
    def _name_or_none(cls, value: object) -> object:
        return value if isinstance(value, str) else None

    @field_validator("port_map", mode="before")
    @classmethod
    def _port_map_or_none(cls, value: object) -> object:
        return value if isinstance(value, dict) else None


class ServiceSpec(Model):
    type: ServiceType = "ClusterIP"
    selector: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    ports: list[ServicePort] = Field(default_factory=list)
    load_balancer_ip: StrictStr | None = Field(default=None, alias="loadBalancerIP")
    # Who may reach the load balancer (the firewall's sources); unset: everyone.
    load_balancer_source_ranges: list[StrictStr] | None = None
    session_affinity: Literal["None", "ClientIP"] | None = None

    _check_selector = field_validator("selector")(check_labels)

    @field_validator("load_balancer_source_ranges")
    @classmethod
    def _cidrs(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if len(value) > MAX_SOURCE_RANGES:
            raise ValueError(f"at most {MAX_SOURCE_RANGES} ranges, got {len(value)}")
        for cidr in value:
            try:
                ipaddress.IPv4Network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r:.60} is not an IPv4 CIDR such as '203.0.113.0/24'") from None
        return value

    @property
    def source_ranges(self) -> list[str]:
        """The firewall's sources: ``loadBalancerSourceRanges``, or everyone when unset or empty."""
        return list(self.load_balancer_source_ranges or [ALL_SOURCES])

    @property
    def client_ip_affinity(self) -> bool:
        return self.session_affinity == "ClientIP"

    @field_validator("load_balancer_ip")
    @classmethod
    def _ipv4(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                raise ValueError(f"{value!r:.60} is not an IPv4 address") from None
        return value

    @model_validator(mode="after")
    def _ports(self) -> ServiceSpec:
        numbers = [p.port for p in self.ports]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"ports: duplicate port numbers {sorted({n for n in numbers if numbers.count(n) > 1})}")
        names = [p.name for p in self.ports]
        if len(self.ports) > 1 and (None in names or len(set(names)) != len(names)):
            raise ValueError("ports: with more than one port, every port needs a unique name")
        if self.type == "LoadBalancer":
            if not self.ports:
                raise ValueError("ports: a LoadBalancer service needs at least one port")
            if not self.selector:
                raise ValueError("selector: a LoadBalancer service needs a selector to find its pods")
            if len({p.protocol for p in self.ports}) > 1:
                raise ValueError("ports: one load balancer serves one protocol; use TCP or UDP for all ports")
        return self


class Service(Model):
    api_version: StrictStr = "v1"
    kind: Literal["Service"] = "Service"
    metadata: ObjectMeta
    spec: ServiceSpec

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def wants_load_balancer(self) -> bool:
        return self.spec.type == "LoadBalancer"
