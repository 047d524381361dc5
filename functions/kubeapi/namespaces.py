"""The Namespace resource over firecontrol's implicit namespaces (docs/kube-api.md §9).

A namespace exists when ``namespaces/{ns}`` is a document (a ``create``), when anything
is stored under it (Firestore lists the parents of subcollections even without a
document), or when it is ``default``. Deleting one marks it ``Terminating``, deletes
what it holds as a ``Background`` delete would (pods and services two-phase), and its
document goes on the first read that finds it empty: the lazy form of the apiserver's
namespace controller. Nothing may be created in a terminating namespace (what it holds
may still be updated, as in Kubernetes).
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from functions.api.shapes import as_list, as_map
from functions.kubeapi import status
from functions.kubeapi.objects import Query, Reply, valid_namespace
from functions.kubeapi.resources import (
    DEPLOYMENTS,
    EVENTS,
    NAMESPACES,
    PODS,
    REPLICA_SETS,
    REPLICATION_CONTROLLERS,
    RESOURCE_QUOTAS,
    SERVICES,
)
from functions.kubeapi.status import ApiError, Cause

if TYPE_CHECKING:
    from functions.kubeapi.routes import Route
    from functions.runtime import Runtime
    from functions.store import Doc, Write

DEFAULT = "default"
COLLECTION = "namespaces"
NAME_LABEL = "kubernetes.io/metadata.name"  # the apiserver sets it on every namespace
IMPLICIT_VERSION = "1"  # the resourceVersion of a namespace with no document
# What a namespace holds, in the order a namespace delete empties it: owners first, so
# their passes find their dependents marked already.
HELD = (DEPLOYMENTS, REPLICA_SETS, REPLICATION_CONTROLLERS, PODS, SERVICES, RESOURCE_QUOTAS, EVENTS)
# A terminating namespace is empty when none of these is left (events and firecontrol's
# bookkeeping go with the document).
WORKLOADS = (DEPLOYMENTS, REPLICA_SETS, REPLICATION_CONTROLLERS, PODS, SERVICES, RESOURCE_QUOTAS)
MAX_WRITES_PER_COMMIT = 400


def path_of(name: str) -> str:
    return f"{COLLECTION}/{name}"


def implicit_uid(name: str) -> str:
    """The uid of a namespace that has no document: the same on every read."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"firecontrol:namespaces/{name}"))


def _terminating(data: dict[str, Any]) -> bool:
    meta, state = as_map(data.get("metadata")), as_map(data.get("status"))
    return meta.get("deletionTimestamp") is not None or state.get("phase") == "Terminating"


def serve_doc(doc: Doc) -> dict[str, Any]:
    """A ``namespaces/{ns}`` document as a v1 Namespace."""
    from functions.objects import object_uid
    from functions.served import resource_version

    meta = copy.deepcopy(as_map(doc.data.get("metadata")))
    uid = meta.get("uid")
    meta["uid"] = uid if isinstance(uid, str) and uid else object_uid(doc.path, doc.create_time)
    meta["resourceVersion"] = resource_version(doc.update_time)
    meta.setdefault("creationTimestamp", doc.create_time)
    return _namespace(doc.name, meta, doc.data.get("spec"), doc.data.get("status"))


def serve_implicit(name: str) -> dict[str, Any]:
    """A namespace with no document: ``Active``, its derived uid, no creation time."""
    return _namespace(name, {"uid": implicit_uid(name), "resourceVersion": IMPLICIT_VERSION}, None, None)


def _namespace(name: str, meta: dict[str, Any], spec: Any, state: Any) -> dict[str, Any]:
    from functions.served import rfc3339

    meta["name"] = name
    meta.pop("namespace", None)
    meta["labels"] = {**as_map(meta.get("labels")), NAME_LABEL: name}
    for key in ("creationTimestamp", "deletionTimestamp"):
        if hasattr(meta.get(key), "tzinfo"):
            meta[key] = rfc3339(meta[key])
    phase = "Terminating" if meta.get("deletionTimestamp") is not None else as_map(state).get("phase") or "Active"
    finalizers = as_list(as_map(spec).get("finalizers")) if isinstance(spec, dict) else ["kubernetes"]
    return {
        "apiVersion": "v1", "kind": "Namespace", "metadata": meta,
        "spec": {"finalizers": finalizers}, "status": {"phase": phase},
    }


# -- reads --


def _holds_objects(rt: Runtime, name: str) -> bool:
    """Anything stored under ``namespaces/{name}`` (one ListCollectionIds call)."""
    rt.store.ops.add(reads=1)
    return any(True for _ in rt.store.client.document(path_of(name)).collections())


def _finalized(rt: Runtime, doc: Doc) -> bool:
    """A terminating namespace that holds nothing any more loses its document (and the
    events and bookkeeping left under it): True if it is gone. One count per kind."""
    from functions.store import Delete, StaleWrite

    for resource in WORKLOADS:
        assert resource.stored is not None
        if rt.store.count_matching(doc.name, resource.stored.collection):
            return False
    leftovers: list[Write] = []
    for collection in rt.store.client.document(doc.path).collections():
        refs = list(collection.list_documents())
        rt.store.ops.add(reads=max(1, len(refs)))
        leftovers += [Delete(ref.path) for ref in refs]
    leftovers.append(Delete(doc.path, if_updated_at=doc.update_time))
    try:
        _commit_in_chunks(rt, leftovers)
    except StaleWrite:
        return False  # written meanwhile: the next read decides again
    return True


def _commit_in_chunks(rt: Runtime, writes: list[Write]) -> None:
    for start in range(0, len(writes), MAX_WRITES_PER_COMMIT):
        rt.store.commit(writes[start:start + MAX_WRITES_PER_COMMIT], rt.clock())


def _read(rt: Runtime, name: str) -> tuple[Doc | None, dict[str, Any] | None]:
    """(the document, the namespace as served), or (None, None) if there is none."""
    if not valid_namespace(name):
        return None, None  # no such namespace can hold anything (nor be a document id)
    doc = rt.store.get(path_of(name))
    if doc is not None:
        if _terminating(doc.data) and _finalized(rt, doc):
            return None, None
        return doc, serve_doc(doc)
    if name == DEFAULT or _holds_objects(rt, name):
        return None, serve_implicit(name)
    return None, None


def _must_read(rt: Runtime, name: str) -> tuple[Doc | None, dict[str, Any]]:
    doc, served = _read(rt, name)
    if served is None:
        raise status.not_found(NAMESPACES.plural, name)
    return doc, served


def get(rt: Runtime, route: Route, query: Query) -> dict[str, Any]:
    if route.name is None:
        return list_objects(rt, route, query)
    return _must_read(rt, route.name)[1]


def list_objects(rt: Runtime, route: Route, query: Query) -> dict[str, Any]:
    """Every namespace: the documents, the parents of stored objects, and ``default``."""
    from functions.kubeapi import field_selectors, label_selectors, reads
    from functions.served import resource_version

    labels = label_selectors.parse_label_selector(query.get("labelSelector") or "")
    fields = field_selectors.parse_field_selector(NAMESPACES, query.get("fieldSelector") or "")
    collection = rt.store.client.collection(COLLECTION)
    refs = list(collection.list_documents())  # existing documents and parents of subcollections
    snapshots = list(collection.stream())
    docs = {doc.name: doc for doc in (rt.store._doc(s) for s in snapshots)}
    rt.store.ops.add(reads=max(1, len(refs)) + max(1, len(docs)))
    # The version is Firestore's read time (the documents', or a count's when there are
    # none), never the host's clock, which may be ahead of it (docs/kube-api.md §4).
    times = [reads.as_datetime(s.read_time) for s in snapshots if s.read_time is not None]
    read_at = max(times) if times else reads.firestore_now(rt, collection)[0]
    items = []
    for name in sorted({ref.id for ref in refs} | set(docs) | {DEFAULT}):
        doc = docs.get(name)
        if doc is not None and _terminating(doc.data) and _finalized(rt, doc):
            continue
        served = serve_doc(doc) if doc is not None else serve_implicit(name)
        item_labels = as_map(served["metadata"].get("labels"))
        if labels.matches({k: v for k, v in item_labels.items() if isinstance(v, str)}) and fields.matches(served):
            items.append(served)
    return {
        "kind": "NamespaceList", "apiVersion": "v1",
        "metadata": {"resourceVersion": resource_version(read_at)}, "items": items,
    }


# -- writes --


def _forbidden(plural: str, name: str, why: str, group: str = "") -> ApiError:
    """The apiserver's ``NewForbidden`` wording."""
    resource = f"{plural}.{group}" if group else plural
    what = f'{resource} "{name}"' if name else resource
    return status.forbidden(f"{what} is forbidden: {why}", plural, name, group)


def check_creatable(rt: Runtime, namespace: str, plural: str = "", name: str = "", group: str = "") -> None:
    """What Kubernetes' NamespaceLifecycle admission says of a create: 404 for a namespace
    that cannot exist (its name is no namespace's); 403 while it is terminating, nothing
    new goes into what is being emptied. Updates, patches and scales of what it still
    holds are allowed, as in Kubernetes (a pass finishing a deletion writes them)."""
    if not valid_namespace(namespace):
        raise status.not_found(NAMESPACES.plural, namespace)
    doc = rt.store.get(path_of(namespace))
    if doc is not None and _terminating(doc.data):
        raise _forbidden(
            plural or NAMESPACES.plural, name,
            f"unable to create new content in namespace {namespace} because it is being terminated", group,
        )


def _user_part(obj: dict[str, Any]) -> dict[str, Any]:
    """What a client owns in a Namespace: its labels and annotations."""
    meta = as_map(obj.get("metadata"))
    out: dict[str, Any] = {}
    labels = {k: v for k, v in as_map(meta.get("labels")).items() if k != NAME_LABEL}
    if labels:
        out["labels"] = labels
    annotations = as_map(meta.get("annotations"))
    if annotations:
        out["annotations"] = annotations
    return out


def _check_name(name: Any) -> str:
    from functions.api.names import namespace_problem

    problem = namespace_problem(name)
    if problem:
        shown = name if isinstance(name, str) else ""
        raise status.invalid(NAMESPACES.kind, shown, [Cause(f'Invalid value: "{shown}": {problem}', "metadata.name")])
    assert isinstance(name, str)
    return name


def _decoded(body: bytes, content_type: str, name: str | None) -> dict[str, Any]:
    from functions.kubeapi import checks, writes

    obj = writes.decode(body, content_type, NAMESPACES.kind)
    checks.check_identity(obj, NAMESPACES, None, name)
    return obj


def create(rt: Runtime, route: Route, body: bytes, content_type: str, query: Query) -> Reply:
    """POST /api/v1/namespaces: the ``namespaces/{ns}`` document; 409 if it exists."""
    from functions.kubeapi.writes import WriteOptions, _generated
    from functions.served import rfc3339

    options = WriteOptions.from_query(query)
    obj = _decoded(body, content_type, None)
    meta = as_map(obj.get("metadata"))
    prefix = meta.get("generateName")
    name = meta.get("name") or (_generated(prefix) if isinstance(prefix, str) and prefix else None)
    if not name:
        raise status.invalid(NAMESPACES.kind, "", [Cause(
            "Required value: name or generateName is required", "metadata.name", "FieldValueRequired")])
    name = _check_name(name)
    if _read(rt, name)[1] is not None:
        raise status.already_exists(NAMESPACES.plural, name)
    now = rt.clock()
    meta = {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": now, **_user_part(obj)}
    data = {
        "apiVersion": "v1", "kind": "Namespace", "metadata": meta,
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
    }
    if options.dry_run:
        served = _namespace(name, {**copy.deepcopy(meta), "resourceVersion": IMPLICIT_VERSION}, None, None)
        served["metadata"]["creationTimestamp"] = rfc3339(now)
        return Reply(201, served)
    if not rt.store.create(path_of(name), data):
        raise status.already_exists(NAMESPACES.plural, name)
    return Reply(201, _must_read(rt, name)[1])


def _write(rt: Runtime, name: str, obj: dict[str, Any], options: Any, expected: str | None) -> Reply:
    """Store the namespace's labels and annotations (its document made if it had none)."""
    from functions.store import Create, StaleWrite, Update

    for _ in range(5):
        doc, served = _must_read(rt, name)
        if expected is not None and expected != served["metadata"]["resourceVersion"]:
            raise status.conflict(NAMESPACES.plural, name, status.STALE)
        user = _user_part(obj)
        current = _user_part(served)
        if user == current:
            return Reply(200, served)
        if options.dry_run:
            meta = {k: v for k, v in served["metadata"].items() if k not in ("labels", "annotations")}
            return Reply(200, _namespace(name, {**meta, **copy.deepcopy(user)}, served["spec"], served["status"]))
        write: Write
        if doc is None:
            data = {
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "uid": served["metadata"]["uid"], "creationTimestamp": rt.clock(),
                             **user},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
            }
            write = Create(path_of(name), data)
        else:
            from google.cloud.firestore_v1 import DELETE_FIELD

            fields = {f"metadata.{key}": user.get(key, DELETE_FIELD) for key in ("labels", "annotations")}
            write = Update(doc.path, fields, if_updated_at=doc.update_time)
        try:
            rt.store.commit([write], rt.clock())
        except StaleWrite:
            if expected is not None:
                raise status.conflict(NAMESPACES.plural, name, status.STALE) from None
            continue
        return Reply(200, _must_read(rt, name)[1])
    raise status.conflict(NAMESPACES.plural, name, status.STALE)


def update(rt: Runtime, route: Route, body: bytes, content_type: str, query: Query) -> Reply:
    """PUT: labels and annotations (the rest of a Namespace is the server's)."""
    from functions.kubeapi.writes import WriteOptions, _rv_of

    if route.name is None:
        raise status.method_not_allowed("namespaces are updated by name")
    options = WriteOptions.from_query(query)
    obj = _decoded(body, content_type, route.name)
    return _write(rt, route.name, obj, options, _rv_of(obj))


def patch(rt: Runtime, route: Route, body: bytes, content_type: str, query: Query) -> Reply:
    """PATCH: applied to the namespace as served, then stored as a PUT of it would be."""
    from functions.kubeapi import checks, writes
    from functions.kubeapi import patch as patching

    if route.name is None:
        raise status.method_not_allowed("namespaces are patched by name")
    media = writes.media_type(content_type)
    if media == writes.APPLY_PATCH:
        raise status.unsupported_media_type(patching.NO_SERVER_SIDE_APPLY)
    if media not in writes.PATCH_TYPES:
        raise status.unsupported_media_type(
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(writes.PATCH_TYPES)
        )
    options = writes.WriteOptions.from_query(query)
    served = _must_read(rt, route.name)[1]
    patched = patching.apply_patch(copy.deepcopy(served), body, media, ("", "v1", "Namespace"))
    version = writes._rv_of(patched)
    if version not in (None, served["metadata"]["resourceVersion"]):
        raise status.conflict(NAMESPACES.plural, route.name, status.STALE)
    checks.check_identity(patched, NAMESPACES, None, route.name)
    return _write(rt, route.name, patched, options, version)


def delete(rt: Runtime, route: Route, body: bytes, query: Query) -> Reply:
    """Mark the namespace ``Terminating`` and delete what it holds (``Background``);
    200 and the marked namespace. ``default`` cannot be deleted (403)."""
    from functions.kubeapi.deletion import DeleteOptions
    from functions.store import Create, StaleWrite, Update

    name = route.name
    if name is None:
        raise status.method_not_allowed("namespaces are deleted by name")
    options = DeleteOptions.parse(body, query)
    if name == DEFAULT:
        raise _forbidden(NAMESPACES.plural, name, "this namespace may not be deleted")
    for _ in range(5):
        doc, served = _must_read(rt, name)
        meta = served["metadata"]
        if options.uid is not None and options.uid != meta["uid"]:
            raise status.conflict(NAMESPACES.plural, name, f"Precondition failed: UID in precondition: {options.uid}, "
                                  f"UID in object meta: {meta['uid']}")
        if options.resource_version is not None and options.resource_version != meta["resourceVersion"]:
            raise status.conflict(NAMESPACES.plural, name, "Precondition failed: ResourceVersion in precondition: "
                                  f"{options.resource_version}, ResourceVersion in object meta: "
                                  f"{meta['resourceVersion']}")
        now = rt.clock()
        if options.dry_run:
            from functions.served import rfc3339

            marked = copy.deepcopy(served)
            marked["metadata"].setdefault("deletionTimestamp", rfc3339(now))
            marked["status"]["phase"] = "Terminating"
            return Reply(200, marked)
        writes: list[Write] = []
        if doc is None:
            data = {
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "uid": meta["uid"], "creationTimestamp": now, "deletionTimestamp": now,
                             **_user_part(served)},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"},
            }
            writes.append(Create(path_of(name), data))
        elif not _terminating(doc.data) or as_map(doc.data.get("metadata")).get("deletionTimestamp") is None:
            writes.append(Update(doc.path, {"metadata.deletionTimestamp": now, "status.phase": "Terminating"},
                                 if_updated_at=doc.update_time))
        try:
            rt.store.commit(writes, now)
        except StaleWrite:
            continue
        empty(rt, name)
        doc, served_after = _read(rt, name)
        return Reply(200, served_after if served_after is not None else _gone(served, now))
    raise status.conflict(NAMESPACES.plural, name, status.STALE)


def _gone(served: dict[str, Any], now: Any) -> dict[str, Any]:
    """The marked namespace when it went at once (it held nothing)."""
    from functions.served import rfc3339

    marked = copy.deepcopy(served)
    marked["metadata"].setdefault("deletionTimestamp", rfc3339(now))
    marked["status"]["phase"] = "Terminating"
    return marked


def empty(rt: Runtime, namespace: str) -> None:
    """Delete everything a namespace holds as a ``Background`` delete would: the writes of
    many objects in one commit; a commit that raced is done again one object at a time."""
    from functions.kubeapi.deletion import DeleteOptions, decide, delete_doc
    from functions.store import StaleWrite

    background = DeleteOptions("Background")
    for resource in HELD:
        assert resource.stored is not None
        docs = rt.store.in_namespace(namespace, resource.stored.collection)
        for start in range(0, len(docs), MAX_WRITES_PER_COMMIT):
            chunk = docs[start:start + MAX_WRITES_PER_COMMIT]
            now = rt.clock()
            writes = [w for doc in chunk for w in decide(resource, doc, background, now)]
            try:
                rt.store.commit(writes, now)
            except StaleWrite:
                for doc in chunk:
                    fresh = rt.store.get(doc.path)
                    if fresh is not None:
                        delete_doc(rt, resource, fresh, background)
