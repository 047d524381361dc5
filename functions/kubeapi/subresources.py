"""Subresources: ``scale`` (what ``kubectl scale`` and autoscalers write), ``status``
(read-only here: the controllers own it) and ``pods/{name}/log``.

A scale write changes one field, ``spec.replicas`` (a 2014 document's
``desiredState.replicas``), checked by the kind's own parser, so the replica cap and
every other rule say what they say on ``apply``; it is a guarded write like any update
(docs/kube-api.md §6.7, §7). Logs are the VM's serial port 2, read through the cloud
provider as ``python main.py logs`` reads them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from functions.api import kinds, legacy
from functions.api.shapes import as_int, as_list, as_map
from functions.kubeapi import codec, resources
from functions.kubeapi.objects import Query, Reply, load, path_of, serve
from functions.kubeapi.resources import Resource
from functions.kubeapi.routes import Route
from functions.kubeapi.status import (
    STALE,
    bad_request,
    causes_of,
    conflict,
    forbidden,
    invalid,
    method_not_allowed,
    not_found,
)
from functions.kubeapi.streams import ClientGone, never
from functions.served import resource_version
from functions.store import Doc, StaleWrite, Update

if TYPE_CHECKING:
    from functions.runtime import Runtime

SCALE_GVK = ("autoscaling", "v1", "Scale")
ATTEMPTS = 5  # a write without a resourceVersion is retried from a fresh read this often


# -- scale ---------------------------------------------------------------------------


def selector_text(resource: Resource, obj: dict[str, Any]) -> str:
    """``status.selector`` of a Scale: a controller's map (its template's labels when the
    selector was left out, as the apiserver defaults it), or an apps/v1 LabelSelector,
    in ``labels.Selector.String()`` form; "" when there is none."""
    from pydantic import ValidationError

    from functions.api.selector import LabelSelector

    spec = as_map(obj.get("spec"))
    try:
        if resource is resources.REPLICATION_CONTROLLERS:
            chosen = as_map(spec.get("selector")) or as_map(as_map(as_map(spec.get("template")).get("metadata"))
                                                             .get("labels"))
            selector = LabelSelector.of({str(k): str(v) for k, v in chosen.items()})
        else:
            selector = LabelSelector.model_validate(as_map(spec.get("selector")))
    except ValidationError:
        return ""
    return "" if selector.empty else selector.text()


def scale_of(resource: Resource, doc: Doc) -> dict[str, Any]:
    """The ``autoscaling/v1`` Scale of a controller, ReplicaSet or Deployment."""
    obj = serve(resource, doc)
    meta = obj["metadata"]
    replicas = as_int(as_map(obj.get("spec")).get("replicas"))
    observed = as_int(as_map(obj.get("status")).get("replicas"))
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": 1 if replicas is None else replicas},
        "status": {"replicas": observed or 0, "selector": selector_text(resource, obj)},
    }


def scale(rt: Runtime, route: Route, method: str, body: bytes, content_type: str, query: Query) -> Reply:
    """GET the Scale; PUT a Scale or PATCH it (merge, JSON or strategic patch)."""
    resource, name, namespace = route.resource, route.name, route.namespace
    assert name is not None and namespace is not None
    doc = _load(rt, resource, namespace, name)
    if method == "GET":
        return Reply(200, scale_of(resource, doc))
    current = scale_of(resource, doc)
    if method == "PUT":
        wanted = _decode(body)
    elif method == "PATCH":
        from functions.kubeapi import patch

        wanted = patch.apply_patch(current, body, content_type, SCALE_GVK)
    else:
        raise method_not_allowed("the server does not allow this method on the requested resource")
    replicas, version = _requested(wanted, name)
    if method == "PATCH" and not _names_a_version(current, body, content_type):
        version = None  # the version read is not the user's condition: a race is retried
    dry_run = query.get("dryRun") == "All"
    return _write_replicas(rt, resource, namespace, name, replicas, version, doc, dry_run)


def _names_a_version(current: dict[str, Any], body: bytes, content_type: str) -> bool:
    """Whether a patch sets ``metadata.resourceVersion`` (``kubectl scale
    --resource-version=X``, X the current one included): applied to the Scale without
    one, the result has one. A patch that cannot apply so (a JSON patch testing the
    version) speaks of it too."""
    from functions.kubeapi import patch
    from functions.kubeapi.status import ApiError

    meta = {k: v for k, v in current["metadata"].items() if k != "resourceVersion"}
    try:
        probe = patch.apply_patch({**current, "metadata": meta}, body, content_type, SCALE_GVK)
    except ApiError:
        return True
    return bool(as_map(probe.get("metadata")).get("resourceVersion"))


def _load(rt: Runtime, resource: Resource, namespace: str, name: str) -> Doc:
    doc = load(rt.store, resource, namespace, name)
    if doc is None:
        raise not_found(resource.plural, name, resource.group)
    return doc


def _decode(body: bytes) -> dict[str, Any]:
    try:
        found = codec.loads_json(body or b"{}", "the Scale")
    except (ValueError, UnicodeDecodeError) as error:
        raise bad_request(f"the body of the request was in an unknown format: {error}") from None
    if not isinstance(found, dict):
        raise bad_request("the body of the request must be a JSON object (a Scale)")
    return found


def _requested(scale_obj: dict[str, Any], name: str) -> tuple[int, str | None]:
    """The replicas a Scale asks for (Kubernetes' default: 0) and its resourceVersion."""
    kind, version = scale_obj.get("kind", "Scale"), scale_obj.get("apiVersion", "autoscaling/v1")
    if (kind, version) != ("Scale", "autoscaling/v1"):
        raise bad_request(f"the body must be an autoscaling/v1 Scale, not {version}/{kind}")
    meta = as_map(scale_obj.get("metadata"))
    if meta.get("name") not in (None, "", name):
        raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
    replicas = as_map(scale_obj.get("spec")).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise bad_request(f"spec.replicas: must be an integer, not {json.dumps(replicas)[:80]}")
    version = meta.get("resourceVersion")
    return replicas, version if isinstance(version, str) and version else None


def _with_replicas(resource: Resource, data: dict[str, Any], replicas: int) -> tuple[dict[str, Any], str]:
    """The document with its replicas set, and the field path written (a 2014
    controller keeps its shape: ``desiredState.replicas``)."""
    new = dict(data)
    if resource.stored is kinds.CONTROLLER and legacy.is_legacy(data):
        new["desiredState"] = {**as_map(data.get("desiredState")), "replicas": replicas}
        return new, "desiredState.replicas"
    new["spec"] = {**as_map(data.get("spec")), "replicas": replicas}
    return new, "spec.replicas"


def kind_of(resource: Resource) -> kinds.Kind:
    assert resource.stored is not None
    return resource.stored


def _problems(rt: Runtime, resource: Resource, namespace: str, name: str, data: dict[str, Any]) -> list[str]:
    validate = kind_of(resource).validate
    assert validate is not None
    return list(validate(data, namespace, name, rt.settings.max_replicas).errors)


def _write_replicas(rt: Runtime, resource: Resource, namespace: str, name: str, replicas: int,
                    version: str | None, doc: Doc, dry_run: bool) -> Reply:
    """Set the replicas with the update's rules: a stale ``version`` is 409; without one,
    a race is retried from a fresh read. What the parser refuses (the cap, a negative
    count) is 422; problems the stored document already had are not this write's."""
    for attempt in range(ATTEMPTS):
        if attempt:
            doc = _load(rt, resource, namespace, name)
        if version is not None and version != resource_version(doc.update_time):
            raise conflict(resource.plural, name, STALE, resource.group)
        new, field_path = _with_replicas(resource, doc.data, replicas)
        before = set(_problems(rt, resource, namespace, name, doc.data))
        fresh = [p for p in _problems(rt, resource, namespace, name, new) if p not in before]
        if fresh:
            error = invalid("Scale.autoscaling", name, causes_of(fresh))
            error.kind, error.group = "Scale", "autoscaling"
            raise error
        if new == doc.data or dry_run:
            return Reply(200, _scale_with(resource, doc, new))
        from functions.kubeapi.checks import next_generation

        fields: dict[str, Any] = {field_path: replicas}
        generation = next_generation(kind_of(resource), new, doc.data)  # spec moved: so does generation
        if generation is not None:
            fields["metadata.generation"] = generation
        try:
            rt.store.commit([Update(path_of(resource, namespace, name), fields, if_updated_at=doc.update_time)],
                            rt.clock())
        except StaleWrite:
            if version is not None:
                raise conflict(resource.plural, name, STALE, resource.group) from None
            continue
        return Reply(200, scale_of(resource, _load(rt, resource, namespace, name)))
    raise conflict(resource.plural, name, STALE, resource.group)


def _scale_with(resource: Resource, doc: Doc, data: dict[str, Any]) -> dict[str, Any]:
    """The Scale of ``doc`` as it would be holding ``data`` (a dry run, or nothing to write)."""
    return scale_of(resource, Doc(doc.path, data, doc.update_time, doc.create_time))


# -- status --------------------------------------------------------------------------


def status(rt: Runtime, route: Route, method: str, body: bytes, content_type: str, query: Query) -> Reply:
    """GET answers the object; writes are refused: the controllers own status."""
    resource, name = route.resource, route.name
    assert name is not None
    if method != "GET":
        raise forbidden(f'{resource.qualified} "{name}" is forbidden: status is written by firecontrol\'s '
                        "controllers only", resource.plural, name, resource.group)
    from functions.kubeapi import reads

    return Reply(200, reads.get(rt, Route(resource, route.namespace, name), query))


# -- pods/{name}/log -----------------------------------------------------------------

PORT = 2  # the agent's output port (docs/agent-protocol.md §2)
PREFIX = "fc-log "
FOLLOW_INTERVAL = 1.0
MAX_READS = 16  # reads in a row that each bring new bytes before what we have is sent


def container_names(pod: dict[str, Any]) -> list[str]:
    spec = as_map(pod.get("spec"))
    return [str(as_map(c).get("name")) for c in as_list(spec.get("containers")) if as_map(c).get("name")]


def choose_container(pod_name: str, names: list[str], wanted: str | None) -> str:
    """The container asked for, or the pod's only one; 400 in the apiserver's words."""
    if wanted:
        if wanted not in names:
            raise bad_request(f"container {wanted} is not valid for pod {pod_name}")
        return wanted
    if len(names) == 1:
        return names[0]
    raise bad_request(f"a container name must be specified for pod {pod_name}, choose one of: [{' '.join(names)}]")


class LineCutter:
    """Serial output fed in pieces, cut into whole lines; one container's texts out."""

    def __init__(self, container: str) -> None:
        self.prefix = f"{PREFIX}{container} "
        self.bare = f"{PREFIX}{container}"
        self.partial = ""

    def feed(self, text: str) -> list[str]:
        whole, newline, self.partial = (self.partial + text).rpartition("\n")
        if not newline:
            return []
        out = []
        for raw in whole.split("\n"):
            raw = raw.removesuffix("\r")
            if raw == self.bare:
                out.append("")
            elif raw.startswith(self.prefix):
                out.append(raw[len(self.prefix):])
        return out


def _int_param(query: Query, name: str) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"{name}: invalid value {text!r}: must be an integer") from None
    if value < 0 and name != "tailLines":
        raise bad_request(f"{name}: Invalid value: {value}: must be greater than 0")
    return value


def _true(query: Query, name: str) -> bool:
    return query.get(name, "").lower() in ("true", "1")


def log(rt: Runtime, route: Route, query: Query, client_gone: ClientGone = never) -> Iterator[bytes]:
    """The container's output as ``text/plain`` lines. Everything that can be refused is
    checked before the first byte: a 404 or 400 is a Status, not a cut stream.
    ``tailLines``, ``limitBytes`` and ``follow`` are honoured; the port's lines carry no
    time, so ``timestamps`` and ``sinceSeconds`` cannot be, and are ignored."""
    name, namespace = route.name, route.namespace
    assert name is not None and namespace is not None
    doc = _load(rt, resources.PODS, namespace, name)
    pod = serve(resources.PODS, doc)
    container = choose_container(name, container_names(pod), query.get("container"))
    tail, limit = _int_param(query, "tailLines"), _int_param(query, "limitBytes")
    if _true(query, "previous"):
        raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
    node = as_map(doc.data.get("spec")).get("nodeName")
    if not isinstance(node, str) or not node:
        raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
    follow = _true(query, "follow")
    reader = _PortReader(rt, doc, container)
    first = reader.first()  # errors (no VM and nothing kept) before the stream starts
    return _limited(_lines(reader, first, tail, follow, _follow_bound(rt), client_gone), limit)


def _follow_bound(rt: Runtime) -> float:
    """As long as a watch may run (``FIRECONTROL_WATCH_SECONDS``), under the function's timeout."""
    return rt.settings.watch_seconds


class _PortReader:
    """The pod's VM's port 2, read on from where the last read stopped; the output the
    pod runtime kept when the VM is gone."""

    def __init__(self, rt: Runtime, doc: Doc, container: str) -> None:
        from functions.controllers.pods import vm_name_of, vm_zone_of

        self.rt, self.doc = rt, doc
        self.vm, self.zone = vm_name_of(doc, rt.settings.cluster), vm_zone_of(doc)
        self.cutter = LineCutter(container)
        self.start = 0
        self.gone = False

    def more(self) -> list[str]:
        from functions.cloudprovider.errors import NotFoundError

        found = []
        try:
            for _ in range(MAX_READS):
                text, after = self.rt.provider.get_serial_output(self.vm, self.zone, PORT, self.start)
                found.append(text)
                if after <= self.start or not text:
                    break
                self.start = after
        except NotFoundError:
            self.gone = True
        return self.cutter.feed("".join(found))

    def first(self) -> list[str]:
        lines = self.more()
        if not self.gone:
            return lines
        from functions.controllers.pod_logs import saved_text
        from functions.objects import doc_uid

        saved = saved_text(self.rt.store, self.doc.namespace, self.doc.name, doc_uid(self.doc))
        if saved is None:
            raise bad_request(f'the VM {self.vm} of pod "{self.doc.name}" is gone: its output went with it')
        return self.cutter.feed(saved[0])


def _lines(reader: _PortReader, first: list[str], tail: int | None, follow: bool, bound: float,
           client_gone: ClientGone = never, sleep: Callable[[float], None] = time.sleep) -> Iterator[str]:
    yield from first if tail is None or tail < 0 else (first[-tail:] if tail else [])
    deadline = time.monotonic() + bound
    while follow and not reader.gone and not client_gone() and time.monotonic() < deadline:
        sleep(FOLLOW_INTERVAL)
        yield from reader.more()


def _limited(lines: Iterator[str], limit: int | None) -> Iterator[bytes]:
    """The lines as bytes, cut after ``limitBytes`` as the kubelet cuts them."""
    sent = 0
    for line in lines:
        data = (line + "\n").encode("utf-8")
        if limit is not None and sent + len(data) > limit:
            if limit - sent > 0:
                yield data[: limit - sent]
            return
        sent += len(data)
        yield data

