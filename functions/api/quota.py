"""The ResourceQuota (Kubernetes v1 subset): hard limits on what one namespace may hold.

Stored at ``namespaces/{ns}/resourceQuotas/{name}``. ``spec.hard`` takes the names a
Kubernetes user knows: counts of ``pods``, ``replicationcontrollers``, ``services``
and ``services.loadbalancers`` (also as ``count/...``), and ``cpu`` and ``memory``
(also ``requests.*`` and ``limits.*``), which count the machine type of every pod's
VM: a pod's VM is both its request and its limit. Values are Kubernetes quantities
("10", "500m", "4Gi"). A resource name this version cannot enforce is an error, not
a quota silently ignored.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import Field, StrictFloat, StrictInt, StrictStr, field_validator

from functions.api.base import Model
from functions.api.meta import ObjectMeta

Resource = Literal["pods", "replicationcontrollers", "services", "services.loadbalancers", "cpu", "memory"]

# Each name a quota may use, and the resource it counts.
RESOURCE_NAMES: dict[str, Resource] = {
    "pods": "pods",
    "count/pods": "pods",
    "replicationcontrollers": "replicationcontrollers",
    "count/replicationcontrollers": "replicationcontrollers",
    "services": "services",
    "count/services": "services",
    "services.loadbalancers": "services.loadbalancers",
    "cpu": "cpu",
    "requests.cpu": "cpu",
    "limits.cpu": "cpu",
    "memory": "memory",
    "requests.memory": "memory",
    "limits.memory": "memory",
}
COUNTS: tuple[Resource, ...] = ("pods", "replicationcontrollers", "services", "services.loadbalancers")

_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]{1,3})?\Z"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
MAX_QUANTITY = Decimal(2**63 - 1)


def parse_quantity(value: object) -> Decimal:
    """A Kubernetes quantity ("2", "500m", "4Gi", "1e3", or a YAML number) as a Decimal.
    ValueError says why it is not one."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r:.40} is not a quantity such as '10', '500m' or '4Gi'")
    text = str(value).strip() if not isinstance(value, str) else value
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"{text!r:.40} is not a quantity such as '10', '500m' or '4Gi'")
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(f"{text!r:.40} is not a number") from None
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        number *= Decimal(1024) ** _BINARY[suffix]
    elif suffix in _DECIMAL:
        number = number.scaleb(_DECIMAL[suffix])
    elif suffix:
        number = number.scaleb(int(suffix[1:]))
    if number < 0:
        raise ValueError(f"{text!r:.40} is negative")
    if number > MAX_QUANTITY:
        raise ValueError(f"{text!r:.40} is too large")
    return number


def format_quantity(resource: Resource, value: Decimal) -> str:
    """As Kubernetes prints it: counts as integers, cpu in cores or millicores, memory
    in the largest binary unit that divides it."""
    if resource == "cpu":
        if value == value.to_integral_value():
            return str(int(value))
        return f"{int((value * 1000).to_integral_value())}m"
    if resource == "memory":
        whole = int(value.to_integral_value())
        for suffix, power in sorted(_BINARY.items(), key=lambda item: -item[1]):
            if whole and whole % (1024**power) == 0:
                return f"{whole // 1024**power}{suffix}"
        return str(whole)
    return str(int(value.to_integral_value()))


class ResourceQuotaSpec(Model):
    hard: dict[StrictStr, StrictStr | StrictInt | StrictFloat] = Field(default_factory=dict)

    @field_validator("hard")
    @classmethod
    def _hard(cls, value: dict[str, str | int | float]) -> dict[str, str | int | float]:
        for key, amount in value.items():
            if key not in RESOURCE_NAMES:
                raise ValueError(
                    f"{key!r:.60} is not a resource this version can limit; use one of: "
                    + ", ".join(RESOURCE_NAMES)
                )
            try:
                parsed = parse_quantity(amount)
            except ValueError as error:
                raise ValueError(f"{key}: {error}") from None
            if RESOURCE_NAMES[key] in COUNTS and parsed != parsed.to_integral_value():
                raise ValueError(f"{key}: a count must be a whole number, not {amount!r:.40}")
        return value


class ResourceQuotaStatus(Model):
    hard: dict[str, str] = Field(default_factory=dict)
    used: dict[str, str] = Field(default_factory=dict)


class ResourceQuota(Model):
    api_version: StrictStr = "v1"
    kind: Literal["ResourceQuota"] = "ResourceQuota"
    metadata: ObjectMeta
    spec: ResourceQuotaSpec = Field(default_factory=ResourceQuotaSpec)

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    def limits(self) -> list[tuple[str, Resource, Decimal]]:
        """(name as written, the resource it counts, the limit), in name order."""
        return [(key, RESOURCE_NAMES[key], parse_quantity(value)) for key, value in sorted(self.spec.hard.items())]
