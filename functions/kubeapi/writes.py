"""create, update (PUT) and patch: the apiserver's write path over Firestore documents.

decode → check the object against the route → ``fieldValidation`` (fields Kubernetes
does not know) → the kind's parser (the same one the functions run) → store what the
user owns, keep what the functions own (``shapes.merged``) → one guarded write. The
resourceVersion a client sends is the document's update time (docs/kube-api.md §3), so
"stale" is Firestore's own precondition; a write that changes nothing writes nothing.
The checks on the object (route, unknown fields, generation rule) are ``checks``.
"""

from __future__ import annotations

import copy
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from functions.api import shapes
from functions.api.shapes import as_map
from functions.api.storable import storage_problem
from functions.kubeapi import codec, status
from functions.kubeapi.checks import check_identity, field_validation, next_generation
from functions.kubeapi.objects import Query, Reply, load, path_of, serve
from functions.kubeapi.status import ApiError, Cause
from functions.served import STATUS_ANNOTATION, served_object

if TYPE_CHECKING:
    from functions.api.kinds import Kind
    from functions.kubeapi.resources import Resource
    from functions.kubeapi.routes import Route
    from functions.runtime import Runtime
    from functions.store import Doc

ATTEMPTS = 5  # guarded writes without a client resourceVersion, retried on a race
FIELD_VALIDATION = ("Ignore", "Strict", "Warn")
SERVED_ONLY_METADATA = ("resourceVersion", "managedFields", "selfLink")
# Kept from the stored document besides ``shapes.merged``'s list: a pod's grace period is
# written by a DELETE and read by the pod pass.
KEPT_METADATA = ("deletionGracePeriodSeconds",)
# Kubernetes' generateName: utilrand's alphabet (no vowels, no 0/1/3), five of them,
# after a prefix cut to 58 characters.
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATED_SUFFIX = 5
MAX_GENERATE_PREFIX = 58
JSON_TYPES = ("application/json", "")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
PATCH_TYPES = (
    "application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json",
)
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class WriteOptions:
    """The query parameters every write takes (``CreateOptions``, ``UpdateOptions``, ``PatchOptions``)."""

    field_validation: str = "Warn"
    dry_run: bool = False

    @classmethod
    def from_query(cls, query: Query) -> WriteOptions:
        validation = query.get("fieldValidation") or "Warn"
        if validation not in FIELD_VALIDATION:
            raise status.bad_request(
                f'fieldValidation: Unsupported value: "{validation}": supported values: "Ignore", "Strict", "Warn"'
            )
        return cls(validation, dry_run_of(query.get("dryRun")))


def dry_run_of(value: str | None) -> bool:
    if not value:
        return False
    if value != "All":
        raise status.bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return True


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


# -- decoding the body, and what is stored (pure; the checks are ``checks``) --


def _summary(body: bytes) -> str:
    """The apiserver's ``summarizeData``: the start of the body, as text or hex."""
    if not body:
        return "<empty>"
    head = body[:30]
    text = head.decode("utf-8", "replace") if body[:1] == b"{" else head.hex()
    return text + (" ..." if len(body) > 30 else "")


def decode(body: bytes, content_type: str, kind: str) -> dict[str, Any]:
    """The object in a create or update body: JSON, or YAML for convenience. 400 with the
    decoder's message for what is not an object; 415 for another media type."""
    media = media_type(content_type)
    what = f"the {kind}"
    try:
        if media in JSON_TYPES:
            value = codec.loads_json(body, what)
        elif media in YAML_TYPES:
            value = codec.loads_yaml(body, what)
        else:
            raise status.unsupported_media_type(
                "the body of the request was in an unknown format - accepted media types include: "
                "application/json, application/yaml"
            )
    except (ValueError, UnicodeDecodeError) as error:
        raise status.bad_request(
            f"the object provided is unrecognized (must be of type {kind}): "
            f"couldn't get version/kind; json parse error: {error} ({_summary(body)})"
        ) from None
    except Exception as error:  # yaml.YAMLError, without importing yaml for JSON bodies
        if type(error).__module__.startswith("yaml"):
            raise status.bad_request(
                f"the object provided is unrecognized (must be of type {kind}): "
                f"couldn't get version/kind; yaml parse error: {error} ({_summary(body)})"
            ) from None
        raise
    if not isinstance(value, dict):
        raise status.bad_request(
            f"the object provided is unrecognized (must be of type {kind}): "
            f"couldn't get version/kind; json parse error: the body is not an object ({_summary(body)})"
        )
    return value


def written_part(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without what is served but never stored: ``status`` (the controllers
    write it), ``metadata.resourceVersion`` (the update time), ``managedFields``,
    ``selfLink`` and firecontrol's status annotation."""
    data = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    meta = as_map(data.get("metadata"))
    for key in SERVED_ONLY_METADATA:
        meta.pop(key, None)
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(STATUS_ANNOTATION, None)
        if not annotations:
            meta.pop("annotations")
    return data


def to_store(kind: Kind, written: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """The document to write: the user's part, the functions' part kept (``shapes.merged``
    and a pod's deletion grace period), the generation moved when ``spec`` changed."""
    new = shapes.merged(kind, written, stored)
    if stored is None:
        return new
    meta = as_map(new.get("metadata"))
    old_meta = as_map(stored.get("metadata"))
    for key in KEPT_METADATA:
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    generation = next_generation(kind, new, stored)
    if generation is not None:
        meta["generation"] = generation
    if meta:
        new["metadata"] = meta
    return new


def update_fields(new: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The whole document as an ``Update``'s field map: each top-level key set, each key
    the new document lacks deleted (``apply``'s ``plan`` writes the same)."""
    from google.cloud.firestore_v1 import DELETE_FIELD
    from google.cloud.firestore_v1.field_path import FieldPath

    fields: dict[str, Any] = {FieldPath(key).to_api_repr(): value for key, value in new.items()}
    for gone in stored.keys() - new.keys():
        fields[FieldPath(gone).to_api_repr()] = DELETE_FIELD
    return fields


# -- the verbs --


def _kind(resource: Resource) -> Kind:
    kind = resource.stored
    if kind is None or kind.validate is None:
        raise status.method_not_allowed(f"{resource.plural} cannot be written")
    return kind


def _validate(rt: Runtime, resource: Resource, obj: dict[str, Any], namespace: str, name: str) -> list[str]:
    """The parser's problems → 422 (one cause each); what it keeps but does not use → warnings."""
    kind = _kind(resource)
    assert kind.validate is not None
    parsed = kind.validate(obj, namespace, name, rt.settings.max_replicas)
    problems = list(parsed.errors)
    if not problems:
        problem = storage_problem(obj)
        if problem:
            problems.append(problem)
    if problems:
        raise status.invalid(resource.kind, name, status.causes_of(problems), resource.group)
    return [f"unknown field {path} is kept but not used" for path in parsed.unknown]


def _check_size(resource: Resource, path: str, data: dict[str, Any]) -> None:
    from functions.store import MAX_DOCUMENT_BYTES, document_size

    size = document_size(path, data)
    if size > MAX_DOCUMENT_BYTES:
        raise status.too_large(
            f"the {resource.singular} is {size} bytes as a document; Firestore stores at most "
            f"{MAX_DOCUMENT_BYTES} (1 MiB) per document"
        )


def _served_now(rt: Runtime, resource: Resource, path: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The object as it is after a write, read back (its resourceVersion is the write's
    time); what was written if it is gone already."""
    doc = rt.store.get(path)
    if doc is not None:
        return serve(resource, doc)
    assert resource.stored is not None
    return served_object(resource.stored, data, path, at, at)


def _generated(prefix: str) -> str:
    return prefix[:MAX_GENERATE_PREFIX] + "".join(secrets.choice(NAME_ALPHABET) for _ in range(GENERATED_SUFFIX))


def create(rt: Runtime, route: Route, body: bytes, content_type: str, query: Query) -> Reply:
    """POST to a collection: 201 and the object, stored with a uid, a creation time and
    generation 1; 409 if the name is taken (a generated name is drawn again)."""
    from functions.kubeapi import namespaces

    resource = route.resource
    kind = _kind(resource)
    namespace = route.namespace
    if namespace is None:
        raise status.method_not_allowed(f"{resource.plural} are created in a namespace")
    options = WriteOptions.from_query(query)
    obj = decode(body, content_type, resource.kind)
    check_identity(obj, resource, namespace, None)
    meta = as_map(obj.get("metadata"))
    name, prefix = meta.get("name"), meta.get("generateName")
    for field_name, value in (("name", name), ("generateName", prefix)):
        if value is not None and not isinstance(value, str):
            raise status.invalid(resource.kind, "", [Cause(
                f"Invalid value: {json.dumps(value)[:80]}: must be a string", f"metadata.{field_name}",
                "FieldValueInvalid",
            )], resource.group)
    if not name and not prefix:
        raise status.invalid(resource.kind, "", [Cause(
            "Required value: name or generateName is required", "metadata.name", "FieldValueRequired",
        )], resource.group)
    namespaces.check_creatable(rt, namespace, resource.plural, name or "", resource.group)
    warnings = field_validation(resource, obj, options.field_validation)
    for attempt in range(1, ATTEMPTS + 1):
        chosen = name if isinstance(name, str) and name else _generated(str(prefix))
        if not isinstance(name, str) or not name:
            meta["name"] = chosen
        written = written_part(obj)
        kept = _validate(rt, resource, written, namespace, chosen)
        now = rt.clock()
        data = to_store(kind, written, None)
        data_meta = as_map(data.get("metadata"))
        data_meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": now, "generation": 1})
        data["metadata"] = data_meta
        path = path_of(resource, namespace, chosen)
        _check_size(resource, path, data)
        if options.dry_run:
            if rt.store.get(path) is not None:
                raise status.already_exists(resource.plural, chosen, resource.group)
            return Reply(201, served_object(kind, data, path, now, now), warnings + kept)
        if rt.store.create(path, data):
            return Reply(201, _served_now(rt, resource, path, data, now), warnings + kept)
        if (isinstance(name, str) and name) or attempt == ATTEMPTS:
            raise status.already_exists(resource.plural, chosen, resource.group)
    raise AssertionError("unreachable")


def _rv_of(obj: dict[str, Any]) -> str | None:
    value = as_map(obj.get("metadata")).get("resourceVersion")
    return value if isinstance(value, str) and value else None


def write_over(
    rt: Runtime, route: Route, doc: Doc, obj: dict[str, Any], options: WriteOptions,
) -> tuple[Reply, bool]:
    """The update path for an object checked against the route: validate, merge with the
    stored document, write guarded by the read's update time. (The Reply, whether it
    wrote.) ``StaleWrite`` escapes: the caller decides between 409 and another read."""
    from functions.api.deployment import selector_change_problem
    from functions.store import Update

    resource = route.resource
    kind = _kind(resource)
    assert route.namespace is not None and route.name is not None
    written = written_part(obj)
    kept = _validate(rt, resource, written, route.namespace, route.name)
    if kind.kind in ("Deployment", "ReplicaSet"):
        problem = selector_change_problem(doc.data, written)
        if problem:
            raise status.invalid(resource.kind, route.name, status.causes_of([problem]), resource.group)
    new = to_store(kind, written, doc.data)
    _check_size(resource, doc.path, new)
    if _unchanged(kind, doc, new):
        return Reply(200, serve(resource, doc), kept), False
    if options.dry_run:
        return Reply(200, served_object(kind, new, doc.path, doc.create_time, doc.update_time), kept), False
    rt.store.commit([Update(doc.path, update_fields(new, doc.data), if_updated_at=doc.update_time)], rt.clock())
    return Reply(200, _served_now(rt, resource, doc.path, new, rt.clock()), kept), True


def _unchanged(kind: Kind, doc: Doc, new: dict[str, Any]) -> bool:
    """Nothing to write: the same document, or (a 2014 one) the same object served."""
    if new == doc.data:
        return True

    def served(data: dict[str, Any]) -> dict[str, Any]:
        return served_object(kind, data, doc.path, doc.create_time, doc.update_time)

    return served(new) == served(doc.data)


def _must_load(rt: Runtime, route: Route) -> Doc:
    assert route.namespace is not None and route.name is not None
    doc = load(rt.store, route.resource, route.namespace, route.name)
    if doc is None:
        raise status.not_found(route.resource.plural, route.name, route.resource.group)
    return doc


def _stale(route: Route) -> ApiError:
    return status.conflict(route.resource.plural, route.name or "", status.STALE, route.resource.group)


def update(rt: Runtime, route: Route, body: bytes, content_type: str, query: Query) -> Reply:
    """PUT of an object: the whole user part replaced. With ``metadata.resourceVersion``
    the write is conditioned on it (409 if the object moved); without, on the read,
    again on a race (these kinds allow unconditional updates). No create-on-update: 404."""
    from functions.store import StaleWrite

    resource = route.resource
    _kind(resource)
    if route.namespace is None or route.name is None:
        raise status.method_not_allowed(f"{resource.plural} are updated by name in a namespace")
    options = WriteOptions.from_query(query)
    obj = decode(body, content_type, resource.kind)
    check_identity(obj, resource, route.namespace, route.name)
    expected = _rv_of(obj)
    for _ in range(ATTEMPTS):
        doc = _must_load(rt, route)
        current = serve(resource, doc)
        if expected is not None and expected != current["metadata"]["resourceVersion"]:
            raise _stale(route)
        written = copy.deepcopy(obj)
        warnings = field_validation(resource, written, options.field_validation, current)
        try:
            reply, _wrote = write_over(rt, route, doc, written, options)
        except StaleWrite:
            if expected is not None:
                raise _stale(route) from None
            continue
        reply.warnings[:0] = warnings
        return reply
    raise _stale(route)


def patch(rt: Runtime, route: Route, body: bytes, content_type: str, query: Query) -> Reply:
    """PATCH: the patch applied to the object as served, then the update path, from a
    fresh read on a race. A patch that sets a resourceVersion other than the current
    one is stale (409); server-side apply is refused (415)."""
    from functions.kubeapi import patch as patching
    from functions.store import StaleWrite

    resource = route.resource
    _kind(resource)
    media = media_type(content_type)
    if media == APPLY_PATCH:
        raise status.unsupported_media_type(patching.NO_SERVER_SIDE_APPLY)
    if media not in PATCH_TYPES:
        raise status.unsupported_media_type(
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(PATCH_TYPES)
        )
    if route.namespace is None or route.name is None:
        raise status.method_not_allowed(f"{resource.plural} are patched by name in a namespace")
    options = WriteOptions.from_query(query)
    gvk = (resource.group, resource.version, resource.kind)
    for _ in range(ATTEMPTS):
        doc = _must_load(rt, route)
        served = serve(resource, doc)
        patched = patching.apply_patch(copy.deepcopy(served), body, media, gvk)
        if _rv_of(patched) not in (None, served["metadata"]["resourceVersion"]):
            raise _stale(route)
        check_identity(patched, resource, route.namespace, route.name)
        codec.checked(patched, "the patched object")
        warnings = field_validation(resource, patched, options.field_validation, served)
        try:
            reply, _wrote = write_over(rt, route, doc, patched, options)
        except StaleWrite:
            continue
        reply.warnings[:0] = warnings
        return reply
    raise _stale(route)
