"""DELETE of an object or a collection, with Kubernetes' ``DeleteOptions``.

What a delete writes depends on what the object holds (docs/kube-api.md §8):
- pods and services hold cloud resources: two-phase, as the CLI does — the
  ``deletionTimestamp`` mark (a pod also its ``deletionGracePeriodSeconds`` and the
  fingerprint of a pod on its way out); their pass deletes the VM or load balancer,
  then the document. One with no finalizer is deleted at once.
- controllers (rc, rs, deploy): ``Background`` deletes the document and the owner's
  pass collects the dependents; ``Foreground`` and ``Orphan`` write the mark and the
  finalizer, and the owner's pass finishes the job. One already marked or held by any
  finalizer is only marked, whatever the policy: as the apiserver, never deleted while
  a finalizer holds it.
- anything else (events, quotas) is deleted at once.
Every write is guarded by the update time it was decided on, and decided again on a race.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from functions.api import kinds
from functions.api.meta import FOREGROUND, ORPHAN, finalizers_of
from functions.api.shapes import as_int, as_map
from functions.kubeapi import codec, status
from functions.kubeapi.objects import Query, Reply, load, serve, valid_namespace
from functions.kubeapi.status import Cause

if TYPE_CHECKING:
    from datetime import datetime

    from functions.kubeapi.resources import Resource
    from functions.kubeapi.routes import Route
    from functions.runtime import Runtime
    from functions.store import Doc, Write

ATTEMPTS = 5
POLICIES = ("Background", "Foreground", "Orphan")
TWO_PHASE = (kinds.POD.kind, kinds.SERVICE.kind)
OWNERS = tuple(k.kind for k in kinds.SCALABLE)


@dataclass(frozen=True)
class DeleteOptions:
    """``meta.k8s.io/v1 DeleteOptions``, from the body or the query."""

    propagation: str | None = None  # None: the kind's default (Background)
    grace_seconds: int | None = None
    uid: str | None = None  # preconditions
    resource_version: str | None = None
    dry_run: bool = False

    @classmethod
    def parse(cls, body: bytes, query: Query) -> DeleteOptions:
        values: dict[str, Any] = {k: query[k] for k in ("propagationPolicy", "gracePeriodSeconds",
                                                       "orphanDependents", "dryRun") if k in query}
        if body.strip():
            try:
                decoded = codec.loads_json(body, "DeleteOptions")
            except ValueError as error:
                raise status.bad_request(f"couldn't get version/kind; json parse error: {error}") from None
            if not isinstance(decoded, dict):
                raise status.bad_request("couldn't get version/kind; json parse error: DeleteOptions must be an object")
            values.update({k: v for k, v in decoded.items() if v is not None})
        problems: list[Cause] = []
        policy = values.get("propagationPolicy") or None
        orphan = values.get("orphanDependents")
        if isinstance(orphan, str):
            orphan = orphan.lower() == "true"
        if policy is not None and policy not in POLICIES:
            problems.append(Cause(
                f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan", "nil"',
                "propagationPolicy", "FieldValueNotSupported",
            ))
        if policy is not None and isinstance(orphan, bool):
            problems.append(Cause(
                "Invalid value: \"null\": OrphanDependents and DeletionPropagation cannot be both set",
                "propagationPolicy",
            ))
        if policy is None and isinstance(orphan, bool):
            policy = "Orphan" if orphan else "Background"
        grace = values.get("gracePeriodSeconds")
        grace_seconds = as_int(grace) if grace is not None else None
        if grace is not None and (grace_seconds is None or grace_seconds < 0):
            problems.append(Cause(f"Invalid value: {json.dumps(grace)}: must be >= 0", "gracePeriodSeconds"))
        preconditions = as_map(values.get("preconditions"))
        dry = values.get("dryRun")
        dry_list = dry if isinstance(dry, list) else [dry] if dry else []
        if any(d != "All" for d in dry_list):
            problems.append(Cause(f'Unsupported value: {json.dumps(dry_list)}: supported values: "All"', "dryRun",
                                  "FieldValueNotSupported"))
        if problems:
            raise status.invalid("DeleteOptions", "", problems, "meta.k8s.io")
        uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
        return cls(
            policy, grace_seconds, uid if isinstance(uid, str) else None,
            rv if isinstance(rv, str) else None, bool(dry_list),
        )


@dataclass
class Outcome:
    """What one delete decided: the writes, and the object it answers (None: gone, a Status)."""

    writes: list[Write] = field(default_factory=list)
    marked: dict[str, Any] | None = None


def decide(resource: Resource, doc: Doc, options: DeleteOptions, now: datetime) -> list[Write]:
    """The writes one delete makes (pure): a mark, a delete, or nothing (already marked)."""
    from functions import fingerprint
    from functions.store import Delete, Update

    kind = resource.kind
    meta = as_map(doc.data.get("metadata"))
    marked = meta.get("deletionTimestamp") is not None
    finalizers = finalizers_of(doc.data)
    if kind in TWO_PHASE:
        if not finalizers:
            return [Delete(doc.path, if_updated_at=doc.update_time)]
        fields: dict[str, Any] = {}
        if not marked:
            fields["metadata.deletionTimestamp"] = now
            if kind == kinds.POD.kind:
                fields[fingerprint.FIELD] = fingerprint.LEAVING
        grace = options.grace_seconds
        if kind == kinds.POD.kind and grace is not None:
            current = as_int(meta.get("deletionGracePeriodSeconds"))
            if not marked or current is None or grace < current:  # a second delete may shorten it
                fields["metadata.deletionGracePeriodSeconds"] = grace
        return [Update(doc.path, fields, if_updated_at=doc.update_time)] if fields else []
    if kind in OWNERS and options.propagation in ("Foreground", "Orphan"):
        mark = FOREGROUND if options.propagation == "Foreground" else ORPHAN
        wanted = [f for f in finalizers if f not in (FOREGROUND, ORPHAN)] + [mark]
        fields = {}
        if not marked:
            fields["metadata.deletionTimestamp"] = now
        if wanted != finalizers:
            fields["metadata.finalizers"] = wanted
        return [Update(doc.path, fields, if_updated_at=doc.update_time)] if fields else []
    if kind in OWNERS and (marked or finalizers):
        # The apiserver never deletes an object a finalizer holds: mid-orphan, a second
        # delete deleting it would leave its pods owned by nothing the pass could release.
        return [] if marked else [Update(doc.path, {"metadata.deletionTimestamp": now}, if_updated_at=doc.update_time)]
    return [Delete(doc.path, if_updated_at=doc.update_time)]


def _check_preconditions(route_resource: Resource, name: str, served: dict[str, Any], options: DeleteOptions) -> None:
    meta = served["metadata"]
    why = None
    if options.uid is not None and options.uid != meta["uid"]:
        why = f"Precondition failed: UID in precondition: {options.uid}, UID in object meta: {meta['uid']}"
    elif options.resource_version is not None and options.resource_version != meta["resourceVersion"]:
        why = (f"Precondition failed: ResourceVersion in precondition: {options.resource_version}, "
               f"ResourceVersion in object meta: {meta['resourceVersion']}")
    if why:
        raise status.conflict(route_resource.plural, name, why, route_resource.group)


def delete_doc(rt: Runtime, resource: Resource, doc: Doc, options: DeleteOptions) -> Reply:
    """Delete (or mark) one read document, decided again from a fresh read on a race."""
    from functions.served import served_object
    from functions.store import Delete, StaleWrite

    current: Doc | None = doc
    for _ in range(ATTEMPTS):
        if current is None:  # gone meanwhile: what was asked
            return Reply(200, status.success(resource.plural, doc.name, serve(resource, doc)["metadata"]["uid"],
                                             resource.group))
        served = serve(resource, current)
        _check_preconditions(resource, current.name, served, options)
        now = rt.clock()
        writes = decide(resource, current, options, now)
        gone = any(isinstance(w, Delete) for w in writes)
        if options.dry_run:
            if gone:
                return Reply(200, status.success(resource.plural, current.name, served["metadata"]["uid"],
                                                 resource.group))
            data = _applied(current.data, writes)
            assert resource.stored is not None
            body = served_object(resource.stored, data, current.path, current.create_time, current.update_time)
            return Reply(200, body)
        try:
            rt.store.commit(writes, now)
        except StaleWrite:
            current = rt.store.get(doc.path)
            continue
        if gone:
            return Reply(200, status.success(resource.plural, current.name, served["metadata"]["uid"],
                                             resource.group))
        after = rt.store.get(doc.path)
        if after is None:  # its pass finished the job already
            return Reply(200, status.success(resource.plural, current.name, served["metadata"]["uid"],
                                             resource.group))
        return Reply(200, serve(resource, after))
    raise status.conflict(resource.plural, doc.name, status.STALE, resource.group)


def _applied(data: dict[str, Any], writes: list[Write]) -> dict[str, Any]:
    """A document with the updates' dotted field paths set (what a dry run answers)."""
    import copy

    from functions.store import Update

    out = copy.deepcopy(data)
    for write in writes:
        if isinstance(write, Update):
            for path, value in write.fields.items():
                node = out
                keys = path.split(".")
                for key in keys[:-1]:
                    node = node.setdefault(key, {})
                node[keys[-1]] = value
    return out


def delete(rt: Runtime, route: Route, body: bytes, query: Query) -> Reply:
    """DELETE of one object: the marked object (200) while its finalizers hold it, a
    ``Status`` Success once it is gone."""
    resource = route.resource
    if route.namespace is None or route.name is None or resource.stored is None:
        raise status.method_not_allowed(f"{resource.plural} are deleted by name in a namespace")
    options = DeleteOptions.parse(body, query)
    doc = load(rt.store, resource, route.namespace, route.name)
    if doc is None:
        raise status.not_found(resource.plural, route.name, resource.group)
    return delete_doc(rt, resource, doc, options)


def delete_collection(rt: Runtime, route: Route, body: bytes, query: Query) -> Reply:
    """DELETE of a namespace's collection: every object the label and field selectors
    match, each as a DELETE of it would; a ``Status`` Success."""
    from functions.kubeapi import field_selectors, label_selectors

    resource = route.resource
    if route.namespace is None or resource.stored is None:
        raise status.method_not_allowed(f"{resource.plural} are deleted as a collection in a namespace")
    options = DeleteOptions.parse(body, query)
    labels = label_selectors.parse_label_selector(query.get("labelSelector") or "")
    fields = field_selectors.parse_field_selector(resource, query.get("fieldSelector") or "")
    held = rt.store.in_namespace(route.namespace, resource.stored.collection) if valid_namespace(route.namespace) else []
    for doc in held:
        served = serve(resource, doc)
        meta = as_map(served.get("metadata"))
        raw_labels = as_map(meta.get("labels"))
        if not labels.matches({k: v for k, v in raw_labels.items() if isinstance(v, str)}):
            continue
        if not fields.matches(served):
            continue
        try:
            delete_doc(rt, resource, doc, options)
        except status.ApiError as error:
            if error.code != 404:
                raise
    details: dict[str, Any] = {"kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return Reply(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                       "details": details})
