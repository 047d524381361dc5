"""``get``: documents as a table or as data, and ``-w`` to follow their changes.

The watch is a Firestore snapshot listener on the collection: the first snapshot
is the table, and every later change prints one more row (with ADDED, MODIFIED or
DELETED in front), as ``kubectl get -w`` does.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from functions.api import columns
from functions.cli import reads
from functions.cli.errors import INTERRUPTED, CliError
from functions.cli.kinds import QUOTA, Kind
from functions.cli.output import Output, dump

if TYPE_CHECKING:
    from functions.store import Doc, Store


def parse_selector(text: str | None) -> dict[str, str]:
    """``k=v,k2==v2`` -> {k: v, k2: v2}; anything else is a usage error."""
    selector: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        key, sep, value = part.replace("==", "=").partition("=")
        if not sep or not key.strip() or "!" in key:
            raise CliError(f"error: selector {part!r}: only equality (key=value) is supported", code=2)
        selector[key.strip()] = value.strip()
    return selector


def run(
    store: Store, kind: Kind, names: list[str], namespace: str | None, selector: Mapping[str, str],
    fmt: str | None, watch: bool, timeout: float | None, out: Output,
) -> int:
    # A watch starts before the first read, so no change falls between the two.
    watcher = Watcher(store, kind, namespace) if watch else None
    try:
        code = show(store, kind, names, namespace, selector, fmt, watch, out)
        if watcher is None:
            return code
        wanted = set(names)
        return watcher.follow(
            lambda d: (not wanted or d.name in wanted) and reads.matches(kind, d.data, selector),
            fmt, timeout, out,
        )
    finally:
        if watcher is not None:
            watcher.stop()


def show(
    store: Store, kind: Kind, names: list[str], namespace: str | None, selector: Mapping[str, str],
    fmt: str | None, watch: bool, out: Output,
) -> int:
    all_namespaces = namespace is None
    missing: list[str] = []
    if names:
        docs = []
        for name in names:
            doc = reads.get(store, kind, namespace or "default", name)
            if doc is None:
                missing.append(f'error: {kind.qualified} "{name}" not found in namespace {namespace or "default"!r}')
            elif reads.matches(kind, doc.data, selector):
                docs.append(doc)
    else:
        docs = reads.list_docs(store, kind, namespace, selector)
    if kind is QUOTA:
        from functions.cli.quotas import with_usage

        docs = with_usage(store, docs)
    if fmt in ("json", "yaml"):
        show_data(kind, docs, fmt, single=len(names) == 1 and not watch, out=out)
    elif docs:
        wide = fmt == "wide"
        out.table(columns.headers(kind, wide, all_namespaces),
                  [columns.row(kind, d, datetime.now(UTC), wide, all_namespaces) for d in docs])
    elif not missing:
        where = "any namespace" if all_namespaces else f"namespace {namespace!r}"
        out.note(f"No {kind.plural} found in {where}.")
    if missing and not watch:
        raise CliError(*missing)
    return 0


def served(kind: Kind, doc: Doc) -> dict[str, Any]:
    """The Kubernetes object a document is, as ``kube_api`` serves it (functions/served.py):
    2014 documents converted, firecontrol's bookkeeping under its annotation."""
    from functions.served import served_object

    return served_object(kind, doc.data, doc.path, doc.create_time, doc.update_time)


def show_data(kind: Kind, docs: list[Doc], fmt: str, single: bool, out: Output) -> None:
    """One object as itself; several as a v1 ``List``, as kubectl prints them."""
    if single and docs:
        out.raw(dump(served(kind, docs[0]), fmt))
    else:
        out.raw(dump({"apiVersion": "v1", "kind": "List", "items": [served(kind, d) for d in docs]}, fmt))


# Firestore's change types in kubectl's words (its watch event types): a document that
# is gone is REMOVED to Firestore and DELETED to kubectl.
WATCH_EVENT = {"ADDED": "ADDED", "MODIFIED": "MODIFIED", "REMOVED": "DELETED"}


class Watcher:
    """A snapshot listener whose first snapshot (the state as it is) is awaited and dropped."""

    FIRST_SNAPSHOT_TIMEOUT = 30.0

    def __init__(self, store: Store, kind: Kind, namespace: str | None) -> None:
        self.kind, self.namespace = kind, namespace
        self.changes: queue.Queue[tuple[str, Doc]] = queue.Queue()
        self._ready = threading.Event()
        self._handle = reads.collection(store, kind, namespace).on_snapshot(self._on_snapshot)
        if not self._ready.wait(self.FIRST_SNAPSHOT_TIMEOUT):
            self.stop()
            raise CliError("error: the watch did not start: Firestore sent no snapshot in 30 s")

    def _on_snapshot(self, _snapshots: Any, changed: Any, _read_time: Any) -> None:
        if not self._ready.is_set():
            self._ready.set()
            return
        for change in changed:
            self.changes.put((WATCH_EVENT.get(change.type.name, change.type.name), reads.to_doc(change.document)))

    def stop(self) -> None:
        self._handle.unsubscribe()

    def follow(self, wanted: Callable[[Doc], bool], fmt: str | None, timeout: float | None, out: Output) -> int:
        """Print every change until Ctrl-C (exit 130) or ``timeout`` seconds (exit 0)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        wide, all_namespaces = fmt == "wide", self.namespace is None
        try:
            while deadline is None or time.monotonic() < deadline:
                wait = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
                try:
                    change, doc = self.changes.get(timeout=wait)
                except queue.Empty:
                    continue
                if not wanted(doc):
                    continue
                if fmt in ("json", "yaml"):
                    text = dump({"type": change, "object": served(self.kind, doc)}, fmt)
                    out.raw(text + "---" if fmt == "yaml" else text)
                else:
                    cells = columns.row(self.kind, doc, datetime.now(UTC), wide, all_namespaces)
                    out.line("  ".join([change, *cells]))
        except KeyboardInterrupt:
            return INTERRUPTED
        return 0
