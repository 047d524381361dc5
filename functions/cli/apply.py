"""``apply -f``: validate every document, then write all of them, or nothing.

Each document goes through the same ``parse_*`` the functions run, so a manifest the
CLI accepts is one the functions accept, and the messages are theirs. Writing keeps
what the functions own (see ``shapes.merged``); each write is guarded by the stored
document's update time, so a status written meanwhile is never overwritten: the plan
is read again and retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from functions.api import shapes
from functions.api.storable import storage_problem
from functions.cli import kinds
from functions.cli.errors import CliError
from functions.cli.manifests import Document, read
from functions.cli.output import Output

if TYPE_CHECKING:
    from functions.cli.target import Target
    from functions.store import Store, Write

MAX_WRITES_PER_COMMIT = 400
ATTEMPTS = 3
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Valid:
    """A document that passed validation, and where it will be stored."""

    doc: Document
    kind: kinds.Kind
    namespace: str
    name: str

    @property
    def path(self) -> str:
        return f"namespaces/{self.namespace}/{self.kind.collection}/{self.name}"


UNRECOGNISED = (
    "kind is missing and the document is not a 2014 shape firecontrol recognises "
    "(desiredState.replicaSelector or podTemplate: a controller; desiredState.manifest: a pod; "
    "port and selector: a service); add kind: or pass --kind KIND"
)


def kind_of(data: dict[str, Any], given: kinds.Kind | None) -> tuple[kinds.Kind | None, str | None]:
    """The document's kind: its own ``kind``, else ``--kind``, else its 2014 shape; or the
    reason there is none. ``--kind`` never overrides a kind the document states."""
    from functions.api import legacy

    supported = ", ".join(kinds.WRITABLE)
    kind_name = data.get("kind")
    if kind_name is None:
        shaped = legacy.kind_of_shape(data)
        if given is not None and shaped is not None and shaped != given.kind:
            return None, f"--kind {given.kind} does not fit the document: its 2014 shape is a {shaped}"
        if given is not None:
            return given, None
        return (kinds.WRITABLE[shaped], None) if shaped else (None, UNRECOGNISED)
    kind = kinds.WRITABLE.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None or kind.validate is None:
        return None, f"kind {kind_name!r:.60} is not supported; supported kinds: {supported}"
    if given is not None and given is not kind:
        return None, f"kind {kind_name!r:.60} does not match --kind {given.kind}"
    return kind, None


def validate(documents: list[Document], namespace: str | None, max_replicas: int,
             given: kinds.Kind | None = None) -> tuple[list[Valid], list[str], list[str]]:
    """(valid documents, errors, warnings); the documents count only if errors is empty.
    ``given``: ``--kind``, the kind of documents that state none (2014 files)."""
    valid: list[Valid] = []
    errors: list[str] = []
    warnings: list[str] = []
    seen: dict[str, str] = {}
    for doc in documents:
        data = doc.data
        if not isinstance(data, dict):
            errors.append(f"{doc.where}: a document must be a map, not {type(data).__name__}")
            continue
        kind, problem = kind_of(data, given)
        if kind is None or kind.validate is None:
            errors.append(f"{doc.where}: {problem}")
            continue
        name = shapes.name_of(data)
        if name is None:
            errors.append(f"{doc.where} {kind.kind}: metadata.name is missing (or 'id' in the 2014 shape)")
            continue
        label = f"{doc.where} {kind.kind}/{name}"
        written_ns = shapes.namespace_of(data)
        if namespace is not None and written_ns is not None and written_ns != namespace:
            errors.append(
                f"{label}: metadata.namespace {written_ns!r:.60} does not match the namespace "
                f"given with -n/FIRECONTROL_NAMESPACE ({namespace!r})"
            )
            continue
        ns = written_ns if isinstance(written_ns, str) else (namespace or DEFAULT_NAMESPACE)
        parsed = kind.validate(data, ns, name, max_replicas)
        errors += [f"{label}: {message}" for message in parsed.errors]
        warnings += [f"{label}: unknown field {path} is kept but not used" for path in parsed.unknown]
        if parsed.errors:
            continue
        item = Valid(doc, kind, ns, name)
        if item.path in seen:
            errors.append(f"{label}: defined twice in the input (first at {seen[item.path]})")
            continue
        seen[item.path] = doc.where
        problem = storage_problem(item.doc.data) or _size_problem(item)
        if problem:
            errors.append(f"{label}: {problem}")
            continue
        valid.append(item)
    return valid, errors, warnings


def _size_problem(item: Valid) -> str | None:
    from functions.store import MAX_DOCUMENT_BYTES, document_size

    size = document_size(item.path, item.doc.data)
    if size > MAX_DOCUMENT_BYTES:
        return f"the document is {size} bytes; Firestore stores at most {MAX_DOCUMENT_BYTES} (1 MiB) per document"
    return None


IMMUTABLE_SELECTOR = ("Deployment", "ReplicaSet")  # apps/v1: spec.selector is set once


def selector_change(kind: kinds.Kind, name: str, written: dict[str, Any], stored: dict[str, Any]) -> str | None:
    """Kubernetes' refusal of a changed ``spec.selector`` of a Deployment or ReplicaSet,
    by the functions' own comparison (the Deployment pass refuses the same change)."""
    from functions.api.deployment import selector_change_problem

    if kind.kind not in IMMUTABLE_SELECTOR:
        return None
    problem = selector_change_problem(stored, written)
    return f'The {kind.kind} "{name}" is invalid: {problem}' if problem else None


def _as_written(item: Valid, stored: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest without what only serving adds (``get -o yaml`` output applied back):
    ``metadata.namespace`` naming the document's own namespace when the stored one has none."""
    data: dict[str, Any] = item.doc.data
    meta = shapes.as_map(data.get("metadata"))
    stored_meta = shapes.as_map((stored or {}).get("metadata"))
    if stored is None or meta.get("namespace") != item.namespace or "namespace" in stored_meta:
        return data
    return {**data, "metadata": {k: v for k, v in meta.items() if k != "namespace"}}


def plan(store: Store, items: list[Valid]) -> tuple[list[Write], list[str]]:
    """The writes and, per document, ``created``, ``configured`` or ``unchanged``; a
    CliError, before anything is written, for a field Kubernetes never lets change."""
    from google.cloud.firestore_v1 import DELETE_FIELD
    from google.cloud.firestore_v1.field_path import FieldPath

    from functions.store import Create, Update

    writes: list[Write] = []
    outcomes: list[str] = []
    refused: list[str] = []
    for item in items:
        stored = store.get(item.path)
        problem = selector_change(item.kind, item.name, item.doc.data, stored.data) if stored else None
        if problem:
            refused.append(f"{item.doc.where} {item.kind.kind}/{item.name}: {problem}")
            continue
        new = shapes.merged(item.kind, _as_written(item, stored.data if stored else None),
                            stored.data if stored else None)
        if stored is None:
            writes.append(Create(item.path, new))
            outcomes.append("created")
        elif new == stored.data:
            outcomes.append("unchanged")
        else:
            fields: dict[str, Any] = {FieldPath(key).to_api_repr(): value for key, value in new.items()}
            for gone in stored.data.keys() - new.keys():
                fields[FieldPath(gone).to_api_repr()] = DELETE_FIELD
            writes.append(Update(item.path, fields, if_updated_at=stored.update_time))
            outcomes.append("configured")
    if refused:
        raise CliError(*refused, f"error: nothing was written ({len(refused)} problem(s))")
    return writes, outcomes


def commit(store: Store, items: list[Valid]) -> list[str]:
    """Plan and write, again from a fresh read if anything changed meanwhile."""
    from functions.store import StaleWrite

    for attempt in range(1, ATTEMPTS + 1):
        writes, outcomes = plan(store, items)
        try:
            for start in range(0, len(writes), MAX_WRITES_PER_COMMIT):
                store.commit(writes[start:start + MAX_WRITES_PER_COMMIT], datetime.now(UTC))
        except StaleWrite:
            if attempt == ATTEMPTS:
                raise CliError(
                    f"error: the documents kept changing while they were written ({ATTEMPTS} attempts); try again"
                ) from None
            continue
        return outcomes
    raise AssertionError("unreachable")


def run(
    files: list[str], namespace: str | None, dry_run: bool, max_replicas: int,
    connect: Callable[[], Target], out: Output, given: kinds.Kind | None = None,
) -> int:
    manifests = read(files)
    valid, errors, warnings = validate(manifests.documents, namespace, max_replicas, given)
    errors = manifests.errors + errors
    for warning in warnings:
        out.warn(warning)
    if not errors and not valid:
        errors.append(f"no documents found in {', '.join(files)}")
    if errors:
        raise CliError(*errors, f"error: nothing was written ({len(errors)} problem(s))")
    store = connect().store()
    outcomes = plan(store, valid)[1] if dry_run else commit(store, valid)
    suffix = " (dry run)" if dry_run else ""
    for item, outcome in zip(valid, outcomes, strict=True):
        out.line(f"{item.kind.ref(item.name)} {outcome}{suffix}")
    return 0
