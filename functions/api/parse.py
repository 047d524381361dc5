"""From a stored document to a typed object, or to the messages that say why not.

Parsing never raises: a document is user input, and a raising function is retried by
the platform for a day. The same messages go on the object (a condition and an event)
and out of the CLI before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from functions.api import legacy
from functions.api.base import error_messages, unknown_fields
from functions.api.controller import ReplicationController, ReplicationControllerStatus
from functions.api.names import (
    MAX_CONTROLLER_NAME,
    MAX_NAMESPACE,
    MAX_POD_NAME,
    MAX_SERVICE_NAME,
    name_problem,
    namespace_problem,
)
from functions.api.pod import Pod
from functions.api.quota import ResourceQuota, ResourceQuotaStatus
from functions.api.replicaset import ReplicaSet, ReplicaSetStatus, selector_problems
from functions.api.service import Service, ServiceStatus

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Parsed(Generic[T]):
    obj: T | None
    errors: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    legacy: bool = False

    @property
    def ok(self) -> bool:
        return self.obj is not None and not self.errors


def parse_kind(
    doc: Any,
    model: type[T],
    kind: str,
    namespace: str,
    name: str,
    max_name: int,
    convert: Callable[[dict[str, Any]], dict[str, Any]],
    api_version: str = "v1",
) -> Parsed[T]:
    if not isinstance(doc, dict):
        return Parsed(None, [f"(document): must be a map, not {type(doc).__name__}"])
    was_legacy = api_version == "v1" and (
        legacy.is_legacy_service if kind == "Service" else legacy.is_legacy
    )(doc)
    doc = convert(doc) if was_legacy else dict(doc)
    errors: list[str] = []
    if doc.get("kind", kind) != kind:
        errors.append(f"kind: {doc.get('kind')!r:.80} is not {kind!r}; this collection holds {kind}s")
    if doc.get("apiVersion", api_version) != api_version:
        errors.append(f"apiVersion: {doc.get('apiVersion')!r:.80} is not supported; use {api_version!r}")
    doc["kind"], doc["apiVersion"] = kind, api_version
    meta = doc.get("metadata", {})
    if isinstance(meta, dict):
        meta = doc["metadata"] = dict(meta)
        if meta.setdefault("name", name) != name:
            errors.append(f"metadata.name: {meta['name']!r:.80} does not match the document id {name!r:.80}")
        if meta.setdefault("namespace", namespace) != namespace:
            errors.append(
                f"metadata.namespace: {meta['namespace']!r:.80} does not match the document's "
                f"namespace {namespace!r:.80}"
            )
    for problem in (name_problem(name, max_name, f"{kind} name"), namespace_problem(namespace)):
        if problem:
            errors.append(f"metadata: {problem}")
    try:
        obj = model.model_validate(doc)
    except ValidationError as error:
        return Parsed(None, errors + error_messages(error), legacy=was_legacy)
    unknown = [
        path
        for path in unknown_fields(obj)
        if not path.startswith(("metadata.", "status")) and path != "status"
    ]
    return Parsed(None if errors else obj, errors, unknown, was_legacy)


def parse_controller(doc: Any, namespace: str, name: str, max_replicas: int) -> Parsed[ReplicationController]:
    doc = {k: v for k, v in doc.items() if k != "status"} if isinstance(doc, dict) else doc
    parsed = parse_kind(
        doc, ReplicationController, "ReplicationController", namespace, name,
        MAX_CONTROLLER_NAME, legacy.controller_from_legacy,
    )
    if parsed.obj is not None and parsed.obj.spec.replicas > max_replicas:
        message = (
            f"spec.replicas: {parsed.obj.spec.replicas} is over this installation's cap of "
            f"{max_replicas} (FIRECONTROL_MAX_REPLICAS), a guard against runaway cost"
        )
        return Parsed(None, [message], parsed.unknown, parsed.legacy)
    return parsed


def parse_replicaset(doc: Any, namespace: str, name: str, max_replicas: int) -> Parsed[ReplicaSet]:
    """An apps/v1 ReplicaSet: as a controller, and its selector checked as apps/v1 does."""
    doc = {k: v for k, v in doc.items() if k != "status"} if isinstance(doc, dict) else doc
    parsed = parse_kind(doc, ReplicaSet, "ReplicaSet", namespace, name, MAX_CONTROLLER_NAME, dict, "apps/v1")
    if parsed.obj is None:
        return parsed
    errors = selector_problems(parsed.obj.spec)
    if parsed.obj.spec.replicas > max_replicas:
        errors.append(
            f"spec.replicas: {parsed.obj.spec.replicas} is over this installation's cap of "
            f"{max_replicas} (FIRECONTROL_MAX_REPLICAS), a guard against runaway cost"
        )
    return Parsed(None, errors, parsed.unknown) if errors else parsed


def parse_replicaset_status(doc: Any) -> ReplicaSetStatus:
    raw = doc.get("status") if isinstance(doc, dict) else None
    try:
        return ReplicaSetStatus.model_validate(raw if isinstance(raw, dict) else {})
    except ValidationError:
        return ReplicaSetStatus()


def parse_pod(doc: Any, namespace: str, name: str) -> Parsed[Pod]:
    """The pod as written; its status is the functions' own, read apart (a bad one is no
    reason to call the pod invalid and take its VM away)."""
    doc = {k: v for k, v in doc.items() if k != "status"} if isinstance(doc, dict) else doc
    return parse_kind(doc, Pod, "Pod", namespace, name, MAX_POD_NAME, legacy.pod_from_legacy)


def parse_controller_status(doc: Any) -> ReplicationControllerStatus:
    """The status a function wrote earlier; anything unreadable counts as no status."""
    raw = doc.get("status") if isinstance(doc, dict) else None
    try:
        return ReplicationControllerStatus.model_validate(raw if isinstance(raw, dict) else {})
    except ValidationError:
        return ReplicationControllerStatus()


def parse_service(doc: Any, namespace: str, name: str) -> Parsed[Service]:
    """A Service; ``createExternalLoadBalancer: true`` (2014) is also read on a v1 spec."""
    if isinstance(doc, dict):
        doc = {k: v for k, v in doc.items() if k != "status"}
        spec = doc.get("spec")
        if isinstance(spec, dict) and spec.get("createExternalLoadBalancer") is True:
            spec = {k: v for k, v in spec.items() if k != "createExternalLoadBalancer"}
            doc["spec"] = {"type": "LoadBalancer", **spec}
    return parse_kind(doc, Service, "Service", namespace, name, MAX_SERVICE_NAME, legacy.service_from_legacy)


def parse_service_status(doc: Any) -> ServiceStatus:
    raw = doc.get("status") if isinstance(doc, dict) else None
    try:
        return ServiceStatus.model_validate(raw if isinstance(raw, dict) else {})
    except ValidationError:
        return ServiceStatus()


def parse_quota(doc: Any, namespace: str, name: str) -> Parsed[ResourceQuota]:
    """A ResourceQuota; there is no 2014 shape of it."""
    doc = {k: v for k, v in doc.items() if k != "status"} if isinstance(doc, dict) else doc
    return parse_kind(doc, ResourceQuota, "ResourceQuota", namespace, name, MAX_NAMESPACE, dict)


def parse_quota_status(doc: Any) -> ResourceQuotaStatus:
    raw = doc.get("status") if isinstance(doc, dict) else None
    try:
        return ResourceQuotaStatus.model_validate(raw if isinstance(raw, dict) else {})
    except ValidationError:
        return ResourceQuotaStatus()
