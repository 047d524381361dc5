"""``get`` and ``list``: documents read from Firestore, served as Kubernetes objects.

A list is one consistent snapshot, however many pages it takes: the first page's read
time is the List's ``resourceVersion`` and rides in the ``continue`` token, and every
later page is read with Firestore's ``read_time`` set to it (docs/kube-api.md §4).
An empty first page has no read time from its query (the client library drops it): a
count of at most one document gives Firestore's, never the host's clock. Pages are
ordered by document path, so the token's other half, the last path served, is a
cursor. Selectors' equality terms go into the query where the stored field is the
served field; everything is then matched again on the served object, so what is pushed
down only saves reads and never decides.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.api_core.datetime_helpers import DatetimeWithNanoseconds
from google.cloud.firestore_v1.base_query import BaseFilter, FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from functions.kubeapi import resources
from functions.kubeapi.objects import Query, collection_of, load, serve, valid_id, valid_namespace
from functions.kubeapi.resources import Resource
from functions.kubeapi.routes import Route
from functions.kubeapi.status import bad_request, gone, not_found
from functions.served import resource_version, update_time_of
from functions.store import Doc

if TYPE_CHECKING:
    from functions.runtime import Runtime

# Firestore reads back an hour; a token this old may not be readable by the next page.
CONTINUE_TTL = timedelta(minutes=55)
EXPIRED = ("The provided continue parameter is too old to display a consistent list result. "
           "You can start a new list without the continue parameter.")


def get(rt: Runtime, route: Route, query: Query) -> dict[str, Any]:
    """The object, or 404 ``pods "x" not found`` (a name Firestore cannot hold included)."""
    if route.resource is resources.NAMESPACES:
        from functions.kubeapi.namespaces import get as get_namespace

        return get_namespace(rt, route, query)
    assert route.name is not None and route.namespace is not None
    doc = load(rt.store, route.resource, route.namespace, route.name)
    if doc is None:
        raise not_found(route.resource.plural, route.name, route.resource.group)
    return serve(route.resource, doc)


# -- the continue token --------------------------------------------------------------


@dataclass(frozen=True)
class Continue:
    """Where the next page starts: the list's read time and the last path served."""

    rv: str
    start: str

    def encode(self) -> str:
        text = json.dumps({"v": "meta.k8s.io/v1", "rv": self.rv, "start": self.start}, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @property
    def read_time(self) -> datetime:
        found = update_time_of(self.rv)
        assert found is not None  # decode checked it
        return found


def decode_continue(token: str, prefix: str) -> Continue:
    """The token a previous page gave, checked: 400 if it is not one of ours or not for
    this collection (``prefix``: the paths this list may start after)."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise bad_request(f"continue key is not valid: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("rv"), str) or not isinstance(raw.get("start"), str):
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    if update_time_of(raw["rv"]) is None:
        raise bad_request(f"continue key is not valid: invalid resource version {raw['rv']!r}")
    start = raw["start"]
    if not start.startswith(prefix) or ".." in start.split("/"):
        raise bad_request("continue key is not valid: the key is not for this list")
    return Continue(raw["rv"], start)


# -- what the query is ---------------------------------------------------------------


@dataclass
class ListPlan:
    """The Firestore query a list runs and what is matched after it (pure: no I/O)."""

    namespace: str | None  # None: every namespace (a collection-group query)
    filters: list[BaseFilter] = field(default_factory=list)  # equalities Firestore applies
    name: str | None = None  # metadata.name=x: the one document id worth reading
    nothing: bool = False  # the selectors contradict the route: an empty list
    label_match: Callable[[dict[str, Any]], bool] | None = None
    field_match: Callable[[dict[str, Any]], bool] | None = None

    @property
    def filtered(self) -> bool:
        """Whether what the query returns is matched again (so a page may hold fewer)."""
        return self.label_match is not None or self.field_match is not None


def plan_list(resource: Resource, namespace: str | None, label_text: str, field_text: str) -> ListPlan:
    """What to ask Firestore for a list with these selectors (400 on a bad one)."""
    from functions.kubeapi import field_selectors, label_selectors

    plan = ListPlan(namespace)
    pushed: list[BaseFilter] = []
    if label_text.strip():
        labels = label_selectors.parse_label_selector(label_text)
        plan.label_match = labels.matches
        if resource is not resources.REPLICATION_CONTROLLERS:
            # A controller stored without labels is served with its template's
            # (``served.labels_of``): only the served object can say it matches.
            pushed += label_selectors.label_filters(labels)
    if field_text.strip():
        fields = field_selectors.parse_field_selector(resource, field_text)
        plan.field_match = fields.matches
        if fields.namespace is not None:
            if plan.namespace is None:
                plan.namespace = fields.namespace
            elif plan.namespace != fields.namespace:
                plan.nothing = True
        plan.name = fields.name
        pushed += [FieldFilter(path, "==", value) for path, value in sorted(fields.equal.items())]
    if plan.namespace is not None and not valid_namespace(plan.namespace):
        plan.nothing = True  # no namespace has that name: nothing is stored in it
    if plan.name is not None and not valid_id(plan.name):
        plan.nothing = True  # nor is anything under a name Firestore cannot hold
    if plan.namespace is not None:  # collection-group queries on fields need indexes we do not make
        plan.filters = pushed
    return plan


# -- the read ------------------------------------------------------------------------


@dataclass
class Page:
    items: list[dict[str, Any]]
    read_time: datetime
    next_start: str | None  # the last path served when more may follow
    remaining: int | None = None


def list_objects(rt: Runtime, route: Route, query: Query) -> dict[str, Any]:
    """A ``{Kind}List``: one page of the collection (every namespace when the route has
    none), its ``resourceVersion`` the snapshot's read time (docs/kube-api.md §4)."""
    resource = route.resource
    if resource is resources.NAMESPACES:
        from functions.kubeapi.namespaces import list_objects as list_namespaces

        return list_namespaces(rt, route, query)
    page = read_page(rt, route, query)
    meta: dict[str, Any] = {"resourceVersion": resource_version(page.read_time)}
    if page.next_start is not None:
        meta["continue"] = Continue(meta["resourceVersion"], page.next_start).encode()
        if page.remaining is not None:
            meta["remainingItemCount"] = page.remaining
    return {"kind": f"{resource.kind}List", "apiVersion": resource.group_version, "metadata": meta,
            "items": page.items}


def parse_limit(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    try:
        limit = int(text)
    except ValueError:
        raise bad_request(f"limit: invalid value {text!r}: must be an integer") from None
    return limit if limit > 0 else None  # as the apiserver: 0 or less is no limit


def read_page(rt: Runtime, route: Route, query: Query) -> Page:
    """The objects of one page as served, with the read time they are a snapshot at."""
    resource = route.resource
    plan = plan_list(resource, route.namespace, query.get("labelSelector", ""), query.get("fieldSelector", ""))
    limit = parse_limit(query.get("limit"))
    prefix = "namespaces/" if plan.namespace is None else f"namespaces/{plan.namespace}/{collection_of(resource)}/"
    token = decode_continue(query["continue"], prefix) if query.get("continue") else None
    read_time = _requested_time(rt, query, token)
    reader = _Reader(rt, resource, plan, read_time)
    if plan.nothing:
        return Page([], read_time or reader.now(reader.anywhere())[0], None)
    try:
        return reader.page(limit, token.start if token else None)
    except gexc.FailedPrecondition as error:
        if "read_time" in str(error) and reader.read_time is not None:
            raise gone(EXPIRED) from None  # older than Firestore keeps versions
        raise


def _requested_time(rt: Runtime, query: Query, token: Continue | None) -> datetime | None:
    """The read time a request fixes: its continue token's, or an ``Exact`` resourceVersion."""
    version = query.get("resourceVersion", "")
    if token is not None:
        if version not in ("", "0"):
            raise bad_request("specifying resource version is not allowed when using continue")
        if rt.clock() - token.read_time > CONTINUE_TTL:
            raise gone(EXPIRED)
        return token.read_time
    if query.get("resourceVersionMatch") == "Exact":
        when = update_time_of(version)
        if when is None:
            raise bad_request(f'invalid resource version "{version}"')
        if rt.clock() - when > CONTINUE_TTL:
            raise gone(f"too old resource version: {version}")
        return when
    return None


class _Reader:
    """Runs a plan's query page by page at one read time, counting the reads."""

    def __init__(self, rt: Runtime, resource: Resource, plan: ListPlan, read_time: datetime | None) -> None:
        self.rt, self.resource, self.plan, self.read_time = rt, resource, plan, read_time
        self.client = rt.store.client

    def _base(self) -> Any:
        collection = collection_of(self.resource)
        if self.plan.namespace is None:
            query: Any = self.client.collection_group(collection)
        else:
            query = self.client.collection(f"namespaces/{self.plan.namespace}/{collection}")
        for condition in self.plan.filters:
            query = query.where(filter=condition)
        if self.plan.name is not None and self.plan.namespace is not None:
            path = f"namespaces/{self.plan.namespace}/{collection}/{self.plan.name}"
            query = query.where(filter=FieldFilter(FieldPath.document_id(), "==", self.client.document(path)))
        return query.order_by(FieldPath.document_id())

    def anywhere(self) -> Any:
        """A query any read time can come from, whatever the plan names (a namespace no
        namespace can be is no collection Firestore would query)."""
        return self.client.collection(collection_of(self.resource))

    def _after(self, start: str | None) -> Any:
        query = self._base()
        if start is not None:
            query = query.start_after({"__name__": self.client.document(start)})
        return query

    def now(self, query: Any = None) -> tuple[datetime, bool]:
        """A read time of Firestore's, and whether ``query`` (the plan's, by default) has
        nothing then: one cheap read, a count of at most one document. What an empty list
        is a snapshot at; never the host's clock, which may be ahead of Firestore's (a
        watch from a version later than a write it has not seen takes that write as
        known)."""
        return firestore_now(self.rt, self._base() if query is None else query)

    def _docs(self, query: Any) -> Iterator[Doc]:
        """The query's documents; the first read fixes the read time of the rest."""
        count = 0
        latest: datetime | None = None
        try:
            for snapshot in query.stream(read_time=self.read_time):
                count += 1
                if self.read_time is None and snapshot.read_time is not None:
                    at = as_datetime(snapshot.read_time)
                    latest = at if latest is None else max(latest, at)
                yield Doc(snapshot.reference.path, snapshot.to_dict() or {}, as_datetime(snapshot.update_time),
                          as_datetime(snapshot.create_time))
        finally:
            self.rt.store.ops.add(reads=max(1, count))
        if self.read_time is None and latest is not None:
            # Each later document is unchanged between an earlier one's read time and its
            # own, so the last read time is one all of them hold at.
            self.read_time = latest

    def _fresh(self, query: Any) -> list[Doc]:
        """The documents of a query, fixing the read time when none is. Nothing read has
        no read time (the client library drops it): Firestore's ``now``, and the query
        read again at it only when something was written meanwhile."""
        docs = list(self._docs(query))
        if self.read_time is None:
            self.read_time, empty = self.now(query)
            if not empty:
                docs = list(self._docs(query))
        return docs

    def _matches(self, obj: dict[str, Any]) -> bool:
        if self.plan.label_match is not None:
            labels = obj.get("metadata", {}).get("labels")
            if not self.plan.label_match(labels if isinstance(labels, dict) else {}):
                return False
        return self.plan.field_match is None or self.plan.field_match(obj)

    def _served(self, doc: Doc) -> dict[str, Any] | None:
        obj = serve(self.resource, doc)
        return obj if self._matches(obj) else None

    def page(self, limit: int | None, start: str | None) -> Page:
        items: list[dict[str, Any]] = []
        if limit is None:
            items = [obj for doc in self._fresh(self._after(start)) if (obj := self._served(doc)) is not None]
            assert self.read_time is not None
            return Page(items, self.read_time, None)
        cursor = start
        while True:
            chunk = self._fresh(self._after(cursor).limit(limit + 1))
            for doc in chunk:
                if len(items) == limit:  # full, and this document is past the last served
                    return self._full(items, cursor)
                obj = self._served(doc)
                cursor = doc.path
                if obj is not None:
                    items.append(obj)
            if len(chunk) <= limit:  # the query has nothing after this chunk
                assert self.read_time is not None
                return Page(items, self.read_time, None)

    def _full(self, items: list[dict[str, Any]], last: str | None) -> Page:
        """A full page with more after it; how many more when counting is exact."""
        assert self.read_time is not None and last is not None
        remaining = None if self.plan.filtered else self._remaining(last)
        return Page(items, self.read_time, last, remaining)

    def _remaining(self, last: str) -> int | None:
        """How many follow the page (a count at the same read time: one read per 1,000)."""
        aggregate: Any = self._after(last).count(alias="n")
        try:
            rows = aggregate.get(read_time=self.read_time)
        except gexc.GoogleAPICallError:
            return None  # a count is a courtesy; the page stands without it
        total = next((int(r.value) for row in rows for r in row if r.alias == "n"), None)
        self.rt.store.ops.add(reads=max(1, -(-(total or 0) // 1000)))
        return total



def firestore_now(rt: Runtime, query: Any) -> tuple[datetime, bool]:
    """Firestore's read time now, and whether ``query`` has nothing then: a count of at
    most one document (one read). What a list that read nothing is a snapshot at."""
    aggregate: Any = query.limit(1).count(alias="n")
    rows = aggregate.get()
    rt.store.ops.add(reads=1)
    result = next(r for row in rows for r in row)
    return as_datetime(result.read_time), not result.value


def as_datetime(value: Any) -> datetime:
    """A snapshot's read time: a datetime from some queries, a protobuf Timestamp from others."""
    if isinstance(value, datetime):
        return value
    result: datetime = DatetimeWithNanoseconds.from_timestamp_pb(value)  # type: ignore[no-untyped-call]
    return result
