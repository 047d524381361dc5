"""``scale`` and ``delete``: the two changes the CLI makes besides ``apply``.

Both read, decide and write once with a precondition on the document's update time,
and read again if the functions wrote meanwhile. ``delete`` follows the two-phase
rule: a document holding finalizers is only marked (``metadata.deletionTimestamp``);
the function that owns the finalizer deletes the cloud resources, then the document.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from functions import fingerprint
from functions.api import shapes
from functions.api.shapes import as_list, as_map
from functions.cli import reads
from functions.cli.errors import CliError
from functions.cli.kinds import CONTROLLER, DEPLOYMENT, POD, REPLICA_SET, SCALABLE, Kind
from functions.cli.output import Output

if TYPE_CHECKING:
    from functions.store import Doc, Store, Write

ATTEMPTS = 3
POLL = 0.2


def commit_retrying(store: Store, decide: Callable[[], list[Write]]) -> None:
    """Commit what ``decide`` returns; decide again from a fresh read if it went stale."""
    from functions.store import StaleWrite

    for attempt in range(1, ATTEMPTS + 1):
        try:
            store.commit(decide(), datetime.now(UTC))
            return
        except StaleWrite:
            if attempt == ATTEMPTS:
                raise CliError("error: the document kept changing while it was written; try again") from None


def must_read(store: Store, kind: Kind, namespace: str, name: str) -> Doc:
    doc = reads.get(store, kind, namespace, name)
    if doc is None:
        raise CliError(f'error: {kind.qualified} "{name}" not found in namespace {namespace!r}')
    return doc


def scale(
    store: Store, kind: Kind, name: str, namespace: str, replicas: int, max_replicas: int, out: Output,
) -> int:
    """Set the replica count, validated with the installation's cap before anything is written."""
    from functions.store import Update

    def decide() -> list[Write]:
        doc = must_read(store, kind, namespace, name)
        new = copy.deepcopy(doc.data)
        field = "desiredState" if kind is CONTROLLER and shapes.is_legacy(CONTROLLER, doc.data) else "spec"
        new[field] = {**as_map(new.get(field)), "replicas": replicas}
        problems = kind.validate(new, namespace, name, max_replicas).errors if kind.validate else []
        if problems:
            ref = kind.ref(name)
            raise CliError(*(f"{ref}: {e}" for e in problems), "error: nothing was written")
        if as_map(doc.data.get(field)).get("replicas") == replicas:
            return []
        return [Update(doc.path, {f"{field}.replicas": replicas}, if_updated_at=doc.update_time)]

    commit_retrying(store, decide)
    out.line(f"{kind.ref(name)} scaled")
    return 0


# kubectl's --cascade, for the kinds that own others: the finalizer each policy writes
# (docs/kube-api.md §8; the owner's pass finishes the job). background: deleted at once.
CASCADE_FINALIZERS = {"orphan": "orphan", "foreground": "foregroundDeletion"}


def delete(
    store: Store, kind: Kind, name: str, namespace: str, wait: bool, timeout: float,
    ignore_not_found: bool, out: Output, cascade: str = "background",
) -> int:
    from functions.store import Delete, Update

    first = reads.get(store, kind, namespace, name)
    if first is None:
        if ignore_not_found:
            return 0
        must_read(store, kind, namespace, name)
    marked = False

    def decide() -> list[Write]:
        nonlocal marked
        doc = reads.get(store, kind, namespace, name)
        if doc is None:
            return []  # gone meanwhile: what was asked
        meta = as_map(doc.data.get("metadata"))
        finalizer = CASCADE_FINALIZERS.get(cascade) if kind in SCALABLE else None
        if (kind in SCALABLE and finalizer is None) or (kind not in SCALABLE and not meta.get("finalizers")):
            return [Delete(doc.path, if_updated_at=doc.update_time)]
        marked = True
        if meta.get("deletionTimestamp") is not None:
            return []
        fields: dict[str, Any] = {"metadata.deletionTimestamp": datetime.now(UTC)}
        if finalizer is not None:
            held = [f for f in as_list(meta.get("finalizers")) if isinstance(f, str)]
            fields["metadata.finalizers"] = held if finalizer in held else [*held, finalizer]
        if kind is POD:
            fields[fingerprint.FIELD] = fingerprint.LEAVING
        return [Update(doc.path, fields, if_updated_at=doc.update_time)]

    commit_retrying(store, decide)
    ref = kind.ref(name)
    if not wait:
        out.line(f"{ref} marked for deletion" if marked else f"{ref} deleted")
        return 0
    uid = as_map((first.data if first else {}).get("metadata")).get("uid")
    owned = _owned(store, kind, namespace, name, uid) if kind in SCALABLE and cascade != "orphan" else None
    wait_gone(store, kind, namespace, name, owned, timeout, out)
    out.line(f"{ref} deleted")
    return 0


def _owned(store: Store, kind: Kind, namespace: str, name: str, uid: Any) -> Callable[[], int]:
    """Counts what the object still controls (by uid; by name if it had none): a
    controller's or ReplicaSet's pods, a Deployment's ReplicaSets."""
    child = REPLICA_SET if kind is DEPLOYMENT else POD

    def owner(ref: dict[str, Any]) -> bool:
        if not ref.get("controller") or ref.get("kind") != kind.kind:
            return False
        return ref.get("uid") == uid if uid else ref.get("name") == name

    def count() -> int:
        pods = reads.list_docs(store, child, namespace)
        return sum(
            any(owner(as_map(r)) for r in as_list(as_map(p.data.get("metadata")).get("ownerReferences")))
            for p in pods
        )

    return count


def wait_gone(
    store: Store, kind: Kind, namespace: str, name: str, owned: Callable[[], int] | None,
    timeout: float, out: Output,
) -> None:
    """Poll until the document is gone and no owned pod is left; a CliError after ``timeout``."""
    deadline = time.monotonic() + timeout
    ref = kind.ref(name)
    with out.err.status(f"waiting for {ref} to be deleted") as status:
        while True:
            present = reads.get(store, kind, namespace, name) is not None
            left = owned() if owned is not None else 0
            state = ("the document is still there" if present else "the document is gone") + (
                f"; {left} {'replicaset' if kind is DEPLOYMENT else 'pod'}(s) left" if owned is not None else ""
            )
            if not present and not left:
                return
            if time.monotonic() >= deadline:
                raise CliError(f"error: timed out after {timeout:g} s waiting for {ref} to be deleted: {state}")
            status.update(f"waiting for {ref} to be deleted: {state}")
            time.sleep(POLL)


def delete_files(
    connect: Callable[[], Store], files: list[str], namespace: str | None, wait: bool, timeout: float,
    ignore_not_found: bool, cascade: str, out: Output,
) -> int:
    """``delete -f``: every object the manifests name (kind, name, namespace), in order, as
    ``delete KIND NAME`` would; one not found is an error (exit 1) unless ignored, and the
    others are still deleted. The manifests are read whole first: a file that cannot be read
    deletes nothing."""
    from functions.cli.apply import DEFAULT_NAMESPACE, kind_of
    from functions.cli.manifests import read

    manifests = read(files)
    targets: list[tuple[Kind, str, str]] = []
    errors = list(manifests.errors)
    for doc in manifests.documents:
        data = doc.data if isinstance(doc.data, dict) else {}
        kind, problem = kind_of(data, None)
        name = shapes.name_of(data)
        if kind is None or name is None:
            errors.append(f"{doc.where}: {problem or 'metadata.name is missing'}")
            continue
        written = shapes.namespace_of(data)
        if namespace is not None and written is not None and written != namespace:
            errors.append(f"{doc.where} {kind.kind}/{name}: metadata.namespace {written!r:.60} does not match "
                          f"the namespace given with -n ({namespace!r})")
            continue
        targets.append((kind, name, written if isinstance(written, str) else (namespace or DEFAULT_NAMESPACE)))
    if errors:
        raise CliError(*errors, f"error: nothing was deleted ({len(errors)} problem(s))")
    store = connect()
    failed: list[str] = []
    for kind, name, ns in targets:
        try:
            delete(store, kind, name, ns, wait, timeout, ignore_not_found, out, cascade)
        except CliError as error:
            failed += error.lines
    if failed:
        raise CliError(*failed)
    return 0
