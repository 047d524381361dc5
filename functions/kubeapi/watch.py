"""``?watch=true``: a Firestore listener streamed as Kubernetes watch events, one JSON
object per line (docs/kube-api.md §5).

The listener (``on_snapshot`` on the collection, or the collection group for every
namespace) runs on the client library's thread and puts each snapshot on a queue; the
generator ``stream`` returns takes them off, turns changes into events (through the
selectors: an object leaving the selection is DELETED, one entering it ADDED) and
yields lines. A watch from a resourceVersion R is inclusive of R: it reads the
collection as it was just before R and at R and compares both with the listener's first
snapshot (``watch_diff.catch_up``), so nothing between R and the listener is lost, not
even the rest of a commit whose first document the client saw (every document of one
commit has the same update time). The client may see again an event it had; it never
misses one. Events are in version order, and a removal, whose time Firestore does not
tell, carries the earliest it can have (``watch_diff.live``), so any event's version is
one to resume from. An object that left a selector pushed into the listened query is
sent DELETED with its new state, read once at the snapshot's read time. The stream
ends at ``timeoutSeconds`` or ``Settings.watch_seconds`` (``FIRECONTROL_WATCH_SECONDS``),
whichever is sooner, and the client re-watches from the last version it saw. A client that went away ends it too:
the server closing the generator, or ``client_gone`` (``streams``: asked each time the
generator wakes, at least once a second, since a quiet watch writes nothing that would
fail) saying so; either way the listener is unsubscribed and the thread given back.

Namespaces (docs/kube-api.md §9) are watched on the root ``namespaces`` collection: their
documents, served by ``namespaces.serve_doc``. The initial set also has the namespaces
with no document (what is stored under them, and ``default``), as
``namespaces.serve_implicit`` serves them; a listener hears of documents only, so one
appearing implicitly later is not an event (a list shows it).
"""

from __future__ import annotations

import json
import logging
import queue
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import And, BaseFilter, FieldFilter

from functions.kubeapi import namespaces, objects, streams, watch_diff
from functions.kubeapi.objects import Query, serve
from functions.kubeapi.resources import NAMESPACES, REPLICATION_CONTROLLERS
from functions.kubeapi.status import ApiError, gone, method_not_allowed, not_found
from functions.kubeapi.watch_diff import Change, Membership, WatchOptions
from functions.served import resource_version
from functions.store import Doc

if TYPE_CHECKING:
    from functions.kubeapi.routes import Route
    from functions.runtime import Runtime

log = logging.getLogger("firecontrol.kubeapi.watch")
TICK = 1.0  # wake up at least this often to check the deadline, the listener and the client
CLIENT_GONE = "client gone"


@dataclass(frozen=True)
class Snapshot:
    """One delivery of the listener: the changes since the last, and (the first only)
    every document."""

    docs: list[Doc]
    changes: list[Change]
    read_time: datetime


def stream(rt: Runtime, route: Route, query: Query, as_table: bool,
           client_gone: streams.ClientGone = streams.never) -> Generator[bytes, None, None]:
    """The watch's lines. Everything that can be refused is checked here, before the
    generator starts, so a bad request is an HTTP error and not an event. The stream
    ends soon after ``client_gone`` says true."""
    if route.resource.stored is None and route.resource != NAMESPACES:
        raise method_not_allowed(f"watch is not supported on {route.resource.plural}")
    if route.namespace is not None and not objects.valid_namespace(route.namespace):
        raise not_found("namespaces", route.namespace)  # no such namespace can exist
    options = watch_diff.parse_options(query)
    selection = _selection(route, query)
    include_object = query.get("includeObject", "Metadata")
    if as_table:
        from functions.kubeapi import tables

        include_object = tables.check_include_object(include_object)
    seconds = watch_diff.duration(options, rt.settings.watch_seconds)
    watch = _Watch(rt, route, options, selection, as_table, include_object, seconds, query, client_gone)
    return watch.lines()


@dataclass(frozen=True)
class Selection:
    """What the watch sends: ``matches`` over served objects (every selector term, and the
    name when the path names one object), and what Firestore can narrow the listener to
    (equality terms, one namespace, one document) so it does not stream what is dropped."""

    matches: Callable[[Mapping[str, Any]], bool]
    filters: tuple[BaseFilter, ...] = ()
    namespace: str | None = None
    name: str | None = None


def _selection(route: Route, query: Query) -> Selection:
    """The selectors of the query, parsed (a bad one is a 400 before streaming)."""
    tests: list[Callable[[Mapping[str, Any]], bool]] = []
    filters: list[BaseFilter] = []
    namespace, name = route.namespace, route.name
    if name is not None:
        named = name
        tests.append(lambda obj: (obj.get("metadata") or {}).get("name") == named)
    label_text = query.get("labelSelector", "")
    field_text = query.get("fieldSelector", "")
    if label_text.strip() or field_text.strip():
        from functions.kubeapi import field_selectors, label_selectors

        labels = label_selectors.parse_label_selector(label_text)
        fields = field_selectors.parse_field_selector(route.resource, field_text)
        if not labels.empty:
            tests.append(lambda obj: labels.matches((obj.get("metadata") or {}).get("labels") or {}))
            if route.resource != REPLICATION_CONTROLLERS:  # an RC without labels is served with its template's
                filters.extend(label_selectors.label_filters(labels))
        if not fields.empty:
            tests.append(lambda obj: fields.matches(dict(obj)))
            filters.extend(FieldFilter(path, "==", value) for path, value in sorted(fields.equal.items()))
            if fields.namespace is not None and not objects.valid_namespace(fields.namespace):
                tests.append(lambda obj: False)  # a namespace no object can be in
            else:
                namespace = namespace or fields.namespace
            name = name or fields.name
    return Selection(lambda obj: all(test(obj) for test in tests), tuple(filters), namespace, name)


def _doc(snapshot: Any) -> Doc:
    return Doc(snapshot.reference.path, snapshot.to_dict() or {}, snapshot.update_time, snapshot.create_time)


def _changes(changes: list[Any], previous: datetime | None, read_time: datetime) -> list[Change]:
    """A listener's document changes as events (``watch_diff.live``): REMOVED carries the
    last state the listener had."""
    kinds: dict[str, watch_diff.ListenerKind] = {"ADDED": "ADDED", "MODIFIED": "MODIFIED", "REMOVED": "REMOVED"}
    return watch_diff.live([(kinds[change.type.name], _doc(change.document)) for change in changes],
                           previous, read_time)


class _Watch:
    def __init__(
        self, rt: Runtime, route: Route, options: WatchOptions, selection: Selection,
        as_table: bool, include_object: str, seconds: float, query: Query, client_gone: streams.ClientGone,
    ) -> None:
        self.rt = rt
        self.route = route
        self.resource = route.resource
        self.options = options
        self.selection = selection
        self.membership = Membership(selection.matches)
        self.namespaces = route.resource == NAMESPACES
        self.as_table = as_table
        self.include_object = include_object
        self.seconds = seconds
        self.query = query
        self.client_gone = client_gone
        self.ending = "timeout"  # why the stream ends; the log line says
        self.read_time: datetime | None = None
        self.sent = 0

    def _source(self) -> Any:
        """The listened query: one namespace's collection (one document of it when a name
        is asked for), with the selectors' equality terms; or the whole collection group;
        or the namespaces' documents (matched on what is served: the name label is not
        stored)."""
        collection = self.resource.stored.collection if self.resource.stored else ""
        client = self.rt.store.client
        filters = list(self.selection.filters)
        namespace, name = self.selection.namespace, self.selection.name
        source: Any
        if self.namespaces:
            source = client.collection(namespaces.COLLECTION)
            filters = []
        elif namespace is None:  # collection-group queries on fields need indexes we do not make
            source = client.collection_group(collection)
            filters, name = [], None
        else:
            source = client.collection(f"namespaces/{namespace}/{collection}")
        if name is not None and objects.valid_id(name):
            filters.append(FieldFilter("__name__", "==", source.document(name)))
        if filters:
            source = source.where(filter=filters[0] if len(filters) == 1 else And(filters))
        return source

    # -- the stream --

    def lines(self) -> Generator[bytes, None, None]:
        started = time.monotonic()
        deadline = started + self.seconds
        inbox: queue.Queue[Snapshot] = queue.Queue()
        listener: Any = None
        self._log("watch started", seconds=self.seconds)
        try:
            since = self.options.since
            if self.client_gone():  # waited for a thread behind others: nothing to start
                self.ending = CLIENT_GONE
                return
            if since is not None and watch_diff.too_old(since, self.rt.clock()):
                self.ending = "expired"
                yield self._error(self._expired())
                return

            delivered: list[datetime] = []  # the read times so far

            def on_snapshot(docs: list[Any], changes: list[Any], read_time: datetime) -> None:
                # every document only once (the first snapshot): later ones carry changes alone
                current = [] if delivered else [_doc(d) for d in docs]
                previous = delivered[-1] if delivered else None
                delivered.append(read_time)
                inbox.put(Snapshot(current, _changes(changes, previous, read_time), read_time))

            listener = self._source().on_snapshot(on_snapshot)
            first = self._next(inbox, listener, deadline)
            if first is None:
                if self.ending != CLIENT_GONE:
                    self.ending = "no snapshot"
                return
            self.read_time = first.read_time
            try:
                start = self._start(first)
            except ApiError as error:
                self.ending = error.reason
                yield self._error(error)
                return
            yield from start
            while (snapshot := self._next(inbox, listener, deadline)) is not None:
                self.read_time = snapshot.read_time
                for change in self._left(snapshot.changes, snapshot.read_time):
                    line = self._event(change)
                    if line is not None:
                        yield line
            if self.options.bookmarks and self.ending != CLIENT_GONE:
                yield self._bookmark()
        except GeneratorExit:
            self.ending = "client closed"
            raise
        finally:
            if listener is not None:
                listener.unsubscribe()
            self._log("watch ended", events=self.sent, ending=self.ending, ms=round((time.monotonic() - started) * 1000))

    def _next(self, inbox: queue.Queue[Snapshot], listener: Any, deadline: float) -> Snapshot | None:
        """The next snapshot; None at the deadline, when the listener stopped or when the
        client is gone (``self.ending`` says which)."""
        while (remaining := deadline - time.monotonic()) > 0:
            if self.client_gone():
                self.ending = CLIENT_GONE
                return None
            try:
                return inbox.get(timeout=min(TICK, remaining))
            except queue.Empty:
                if not listener.is_active:
                    self.ending = "listener stopped"
                    return None
        self.ending = "timeout"
        return None

    def _start(self, first: Snapshot) -> list[bytes]:
        """The events that bring the client from where it starts to the first snapshot."""
        options = self.options
        implicit = self._implicit(first.docs)
        if options.initial_events:
            lines = [line for obj in implicit if (line := self._send("ADDED", obj))]  # version "1": first
            lines += [line for change in watch_diff.initial(first.docs) if (line := self._event(change))]
            if options.initial_end_bookmark:
                lines.append(self._bookmark(initial_end=True))
            return lines
        since = options.since
        if since is None:
            self.membership.seed([*implicit, *(self._serve(doc) for doc in first.docs)])
            return []
        # The listener's first snapshot can come short of documents while others are being
        # written (the client sends the rest as ADDED later): the state to compare with is
        # a consistent read at its read time, so nothing the client has is called deleted.
        current = self._read_at(first.read_time)
        before, at = self._past(since, first.read_time, current)
        # the client has the implicit namespaces (a list serves them): one that got its
        # document since is MODIFIED
        self.membership.seed([*implicit, *(self._serve(doc) for doc in before)],
                             maybe=[*implicit, *(self._serve(doc) for doc in at)])
        changes = self._left(watch_diff.catch_up(before, at, current, since), first.read_time)
        return [line for change in changes if (line := self._event(change))]

    def _past(self, since: datetime, read_time: datetime, current: list[Doc]) -> tuple[list[Doc], list[Doc]]:
        """The states a watch from ``since`` starts from: just before it, and at it. A
        version the current state (read at ``read_time``) is not older than needs no read
        (nothing in it is stamped with it or later); one it was read at, one read."""
        mark, read = watch_diff.version_number(since), watch_diff.version_number(read_time)
        if mark > read:
            return current, current
        before = self._read_at(watch_diff.just_before(since))
        return before, current if mark == read else self._read_at(since)

    def _left(self, changes: list[Change], read_time: datetime) -> list[Change]:
        """DELETEDs with the object's new state when it still exists (the same object, not
        one made again under its name) and only left the listened query (its selector terms are in it): one read at the snapshot's read
        time for all of them, as the apiserver's watch cache sends the new object. The
        version stays the removal's (``watch_diff.live``)."""
        removed = [change for change in changes if change.type == "DELETED"]
        if not removed or not self._pushed:
            return changes
        client = self.rt.store.client
        try:
            found = {snap.reference.path: _doc(snap) for snap in client.get_all(
                [client.document(change.doc.path) for change in removed], read_time=read_time) if snap.exists}
        except gexc.GoogleAPICallError as error:  # the old state still says which object is gone
            log.info("new state of removed objects not read", extra={"error": str(error)})
            return changes
        finally:
            self.rt.store.ops.add(reads=len(removed))
        return [replace(change, doc=new) if change.type == "DELETED" and (new := found.get(change.doc.path))
                and new.create_time == change.doc.create_time else change  # not a new object of the same name
                for change in changes]

    @property
    def _pushed(self) -> bool:
        """Whether the listened query has selector terms (``_source``): a document can
        leave it and still exist."""
        return bool(self.selection.filters) and not self.namespaces and self.selection.namespace is not None

    def _implicit(self, docs: list[Doc]) -> list[dict[str, Any]]:
        """The namespaces with no document, served as ``namespaces.py`` serves them: the
        parents of stored objects (Firestore lists them) and ``default``. None for other
        kinds."""
        if not self.namespaces:
            return []
        refs = list(self.rt.store.client.collection(namespaces.COLLECTION).list_documents())
        self.rt.store.ops.add(reads=max(1, len(refs)))
        names = ({ref.id for ref in refs} | {namespaces.DEFAULT}) - {doc.name for doc in docs}
        if self.selection.name is not None:  # the listener holds that document alone
            names &= {self.selection.name}
        return [namespaces.serve_implicit(name) for name in sorted(names)]

    def _read_at(self, since: datetime) -> list[Doc]:
        """The collection as it was at ``since`` (Firestore's point-in-time read)."""
        try:
            docs = [_doc(snapshot) for snapshot in self._source().stream(read_time=since)]
            self.rt.store.ops.add(reads=max(1, len(docs)))
            return docs
        except (gexc.FailedPrecondition, gexc.InvalidArgument) as error:
            log.info("past read refused", extra={"error": str(error)})
            raise self._expired() from None
        except gexc.GoogleAPICallError as error:
            raise ApiError(503, "ServiceUnavailable", f"Firestore: {error}", retry_after=1) from None

    def _expired(self) -> ApiError:
        now = resource_version(self.rt.clock())
        return gone(f"too old resource version: {self.options.since_text} ({now})")

    # -- encoding --

    def _serve(self, doc: Doc) -> dict[str, Any]:
        return namespaces.serve_doc(doc) if self.namespaces else serve(self.resource, doc)

    def _event(self, change: Change) -> bytes | None:
        obj = self._serve(change.doc)
        if change.type == "DELETED":
            obj["metadata"]["resourceVersion"] = resource_version(change.at)
        return self._send(change.type, obj)

    def _send(self, change: watch_diff.EventType, obj: dict[str, Any]) -> bytes | None:
        """The line for a change of a served object, through the selectors (None: the
        client must not hear of it)."""
        kind = self.membership.event(change, obj)
        if kind is None:
            return None
        return self._line(kind, self._table(obj) if self.as_table else obj)

    def _table(self, obj: dict[str, Any]) -> dict[str, Any]:
        from functions.kubeapi import tables

        table: dict[str, Any] = tables.table(self.resource, [obj], self.rt.clock(), self.include_object)
        return table

    def _bookmark(self, initial_end: bool = False) -> bytes:
        version = resource_version(self.read_time or self.rt.clock())
        if self.as_table:
            obj: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                                   "metadata": {"resourceVersion": version}, "columnDefinitions": [], "rows": []}
        else:
            obj = watch_diff.bookmark(self.resource.group_version, self.resource.kind, version, initial_end)
        return self._line("BOOKMARK", obj)

    def _error(self, error: ApiError) -> bytes:
        return self._line("ERROR", error.to_status())

    def _line(self, kind: str, obj: dict[str, Any]) -> bytes:
        self.sent += 1
        return (json.dumps({"type": kind, "object": obj}, separators=(",", ":")) + "\n").encode()

    def _log(self, message: str, **fields: Any) -> None:
        log.info(message, extra={
            "verb": "WATCH", "resource": self.resource.qualified, "namespace": self.route.namespace or "",
            "resourceVersion": self.options.since_text, "labelSelector": self.query.get("labelSelector", ""),
            "fieldSelector": self.query.get("fieldSelector", ""), **fields,
        })
