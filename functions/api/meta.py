"""Object metadata, owner references, conditions and label selectors (Kubernetes v1 subset)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator

from functions.api.base import Model

# Kubernetes label syntax: an optional DNS-subdomain prefix and '/', then a name of at
# most 63 characters; values the same as names, or empty.
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")


def label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"label key {key!r:.80}: the prefix must be a DNS subdomain"
    if len(name) > 63 or not _LABEL_NAME.match(name):
        return (
            f"label key {key!r:.80} must be at most 63 characters of letters, digits, "
            "'-', '_' and '.', starting and ending with a letter or digit"
        )
    return None


def label_value_problem(value: str) -> str | None:
    if value == "" or (len(value) <= 63 and _LABEL_NAME.match(value)):
        return None
    return (
        f"label value {value!r:.80} must be empty or at most 63 characters of letters, "
        "digits, '-', '_' and '.', starting and ending with a letter or digit"
    )


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        problem = label_key_problem(key) or label_value_problem(value)
        if problem:
            raise ValueError(problem)
    return labels


# Kubernetes' finalizers for propagationPolicy Foreground / Orphan: written by kube_api's
# DELETE, honoured and removed by the owners' passes.
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


def finalizers_of(data: Any) -> list[str]:
    """A document's ``metadata.finalizers`` (the text ones; [] for any other shape)."""
    meta = data.get("metadata") if isinstance(data, dict) else None
    raw = meta.get("finalizers") if isinstance(meta, dict) else None
    return [f for f in raw if isinstance(f, str)] if isinstance(raw, list) else []


class OwnerReference(Model):
    api_version: StrictStr = "v1"
    kind: StrictStr
    name: StrictStr
    uid: StrictStr
    controller: StrictBool | None = None
    block_owner_deletion: StrictBool | None = None


class ObjectMeta(Model):
    name: StrictStr | None = None
    namespace: StrictStr | None = None
    labels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    annotations: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    uid: StrictStr | None = None
    generation: StrictInt | None = None
    resource_version: StrictStr | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    finalizers: list[StrictStr] = Field(default_factory=list)
    owner_references: list[OwnerReference] = Field(default_factory=list)

    _check_labels = field_validator("labels")(check_labels)

    def controller_ref(self) -> OwnerReference | None:
        """The owner reference with ``controller: true``, as Kubernetes' GetControllerOf."""
        return next((ref for ref in self.owner_references if ref.controller), None)


class Condition(Model):
    type: StrictStr
    status: StrictStr = "True"
    reason: StrictStr | None = None
    message: StrictStr | None = None
    last_transition_time: datetime | None = None


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """An equality selector matches when every pair is in the labels; an empty one matches nothing."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def set_condition(
    conditions: list[Condition], type_: str, new: Condition | None, now: datetime
) -> list[Condition]:
    """Replace (or with None remove) the condition of one type, keeping its transition
    time while its status stays the same."""
    old = next((c for c in conditions if c.type == type_), None)
    rest = [c for c in conditions if c.type != type_]
    if new is None:
        return rest
    unchanged = old is not None and old.status == new.status
    since = (old.last_transition_time if old is not None else None) if unchanged else None
    return [*rest, new.model_copy(update={"last_transition_time": since or now})]


def replace_condition(conditions: list[Condition], type_: str, new: Condition, now: datetime) -> list[Condition]:
    """``set_condition``, but the condition keeps its place in the list: two writers of
    one status (the pod runtime and the agent's reports) do not reorder it back and forth,
    so neither sees a change the other did not make."""
    at = next((i for i, c in enumerate(conditions) if c.type == type_), None)
    updated = set_condition(conditions, type_, new, now)
    if at is None:
        return updated
    return [*updated[:at], updated[-1], *updated[at:-1]]
