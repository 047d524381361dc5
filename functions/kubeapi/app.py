"""The handler chain: decode, route, dispatch to a verb, encode; every error a ``Status``.

    handle(rt, request)
      body (≤ 3 MiB)  →  discovery / openapi / health paths
                      →  routes.parse → the Kubernetes verb (method and route) → 405 if not served
                      →  reads / writes / deletion / namespaces / subresources / watch
                      →  JSON (a Table when Accept asks for one), Warning headers
      ApiError → its Status; Firestore unavailable → 503; anything else → 500, logged

One JSON log line per request (``message`` = ``"{METHOD} {path} {code}"``), with the
Firestore operations it cost; a streamed reply (watch, ``logs -f``) logs when it ends.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Response
from google.api_core import exceptions as gexc

from functions.kubeapi import discovery, resources, routes, streams
from functions.kubeapi.objects import Query, Reply
from functions.kubeapi.routes import Route
from functions.kubeapi.status import (
    ApiError,
    internal,
    method_not_allowed,
    not_acceptable,
    too_large,
    unsupported_media_type,
)

if TYPE_CHECKING:
    from flask import Request

    from functions.runtime import Runtime

log = logging.getLogger("firecontrol.kube_api")

MAX_BODY = 3 * 1024 * 1024
JSON = "application/json"
HEALTH = ("healthz", "livez", "readyz")
NOT_ALLOWED = "the server does not allow this method on the requested resource"
# kubectl's generators (create namespace, create deployment) send their typed objects so.
PROTOBUF = "application/vnd.kubernetes.protobuf"
PROTOBUF_REFUSED = ("the body of the request was in an unknown format - accepted media types include: "
                    "application/json, application/yaml (firecontrol does not read protobuf: write the object as "
                    "a manifest and use kubectl create -f or kubectl apply -f)")


# -- content negotiation (pure) -------------------------------------------------------


@dataclass(frozen=True)
class Wanted:
    """What the client accepts: a Table (of which meta.k8s.io version) or the object."""

    table: str | None = None  # "v1" / "v1beta1": answer a Table of that version


def negotiate(accept: str) -> Wanted:
    """Read ``Accept`` as the apiserver does: the first media type we can serve wins.
    ``application/json;as=Table;v=v1;g=meta.k8s.io`` is kubectl get's first choice; a
    client that accepts nothing we serve gets 406."""
    if not accept.strip():
        return Wanted()
    for item in accept.split(","):
        kind, *raw = (part.strip() for part in item.split(";"))
        params = dict(p.split("=", 1) for p in raw if "=" in p)
        params = {k.strip().lower(): v.strip() for k, v in params.items()}
        if kind.lower() not in (JSON, "application/*", "*/*"):
            continue
        form = params.get("as")
        if form is None:
            return Wanted()
        if form == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            return Wanted(table=params["v"])
    raise not_acceptable(f"only the following media types are accepted: {JSON}")


def warning_header(message: str) -> str:
    """``299 - "text"`` (RFC 7234), as client-go prints it: ``Warning: text``."""
    text = message.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'299 - "{text}"'


# -- the request ---------------------------------------------------------------------


@dataclass
class Call:
    """One request as the verbs see it, and what its log line says."""

    method: str
    path: str
    query: dict[str, str]
    accept: str
    content_type: str
    server: str
    verb: str = ""
    route: Route | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    client_gone: streams.ClientGone = streams.never  # for a streamed reply: ends it when true


@dataclass
class Streamed:
    """A reply whose body comes as it is made (watch, ``logs -f``)."""

    lines: Iterator[bytes]
    mimetype: str


def handle(rt: Runtime, request: Request) -> Response:
    """The ``kube_api`` function's whole job: one request in, one response out."""
    started = time.monotonic()
    before = rt.store.ops.snapshot()
    call = Call(
        method="GET" if request.method == "HEAD" else request.method,
        path=request.path,
        query=request.args.to_dict(flat=True),
        accept=request.headers.get("Accept", ""),
        content_type=request.headers.get("Content-Type", ""),
        server=request.host,
        client_gone=streams.client_gone(request.environ),
    )
    try:
        body = request.stream.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise too_large(f"the request body is over the limit of {MAX_BODY} bytes")
        answer = _serve(rt, call, body)
    except ApiError as error:
        answer = _status_response(error)
    except (gexc.ServiceUnavailable, gexc.DeadlineExceeded) as error:
        answer = _status_response(_unavailable(error))
    except Exception as error:  # every failure answers a Status, and is logged
        log.exception("kube_api request failed", extra={"path": call.path, "method": call.method})
        answer = _status_response(internal(f"an error on the server ({type(error).__name__}) has prevented "
                                           "the request from succeeding"))
    if isinstance(answer, Streamed):
        response = Response(_logged(rt, call, answer.lines, started, before), status=200,
                            mimetype=answer.mimetype, direct_passthrough=True)
        response.headers["Cache-Control"] = "no-cache, private"
        return response
    _log(rt, call, answer.status_code, started, before)
    return answer


def _unavailable(error: Exception) -> ApiError:
    return ApiError(503, "ServiceUnavailable", f"Firestore is unavailable, retry: {error}", retry_after=1)


def _status_response(error: ApiError) -> Response:
    response = _json(error.code, error.to_status())
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _json(code: int, body: dict[str, Any], warnings: list[str] | None = None) -> Response:
    response = Response(json.dumps(body, separators=(",", ":")), status=code, mimetype=JSON)
    for message in warnings or []:
        response.headers.add("Warning", warning_header(message))
    return response


def _serve(rt: Runtime, call: Call, body: bytes) -> Response | Streamed:
    parts = [p for p in call.path.split("/") if p]
    if not parts:
        return _json(200, {"paths": ["/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/healthz",
                                     "/livez", "/openapi/v3", "/readyz", "/version"]})
    if len(parts) == 1 and parts[0] in HEALTH:
        return Response("ok", status=200, mimetype="text/plain")
    if parts[0] == "openapi":
        return _openapi(parts, call.query)
    found = discovery.answer(call.path, call.server)
    if found is not None:
        if call.method != "GET":
            raise method_not_allowed(NOT_ALLOWED)
        return _json(200, found)
    call.route = route = routes.parse(call.path)
    call.fields = {"resource": route.resource.qualified, "namespace": route.namespace or ""}
    if route.name:  # ``name`` is the logger's own field: the object as ref_fields names it
        call.fields["object"] = f"{route.resource.kind}/{route.namespace or ''}/{route.name}".replace("//", "/")
    return _dispatch(rt, call, route, body)


def _openapi(parts: list[str], query: Query) -> Response:
    """``/openapi/v3`` and one document per group version, served as the bytes its
    ``hash`` was made of (then immutable, as the apiserver marks it); ``/openapi/v2`` is
    404 (client-go then uses v3)."""
    from functions.kubeapi import openapi

    if parts[:2] != ["openapi", "v3"]:
        raise discovery.missing()
    if len(parts) == 2:
        return _json(200, openapi.root())
    group_version = "/".join(parts[2:])
    document = openapi.document_bytes(group_version)
    if document is None:
        raise discovery.missing()
    response = Response(document, status=200, mimetype=JSON)
    if query.get("hash") and query["hash"] == openapi.digest(group_version):
        response.headers["Cache-Control"] = "public, immutable"
    return response


def verb_of(method: str, route: Route, query: Query) -> str:
    """The Kubernetes verb a method names on a route (``deletecollection``, ``watch``, ...)."""
    if method == "GET":
        if route.watch_prefix or query.get("watch") in ("true", "1"):
            return "watch"
        return "list" if route.is_collection else "get"
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    verb = verbs.get(method)
    if verb is None:
        raise method_not_allowed(NOT_ALLOWED)
    if route.is_collection:
        if verb == "create":
            return verb
        if verb == "delete":
            return "deletecollection"
        raise method_not_allowed(NOT_ALLOWED)
    if verb == "create":
        raise method_not_allowed(NOT_ALLOWED)
    return verb


def _dispatch(rt: Runtime, call: Call, route: Route, body: bytes) -> Response | Streamed:
    if route.subresource is not None:
        return _subresource(rt, call, route, body)
    resource = route.resource
    call.verb = verb = verb_of(call.method, route, call.query)
    if verb not in resource.verbs:
        raise method_not_allowed(NOT_ALLOWED)
    if resource.namespaced and route.namespace is None and verb not in ("list", "watch"):
        raise method_not_allowed(NOT_ALLOWED)  # create and deletecollection need a namespace
    if verb == "watch":
        return _watch(rt, call, route)
    if verb in ("get", "list"):
        return _read(rt, call, route, verb)
    if call.content_type.split(";", 1)[0].strip().lower() == PROTOBUF and body:
        raise unsupported_media_type(PROTOBUF_REFUSED)
    return _reply(_write(rt, call, route, verb, body))


def _read(rt: Runtime, call: Call, route: Route, verb: str) -> Response:
    from functions.kubeapi import reads

    wanted = negotiate(call.accept)
    if verb == "get":
        obj = reads.get(rt, route, call.query)
        if wanted.table is None:
            return _json(200, obj)
        table = _table(rt, call, route, [obj], wanted.table)
        table["metadata"] = {"resourceVersion": obj.get("metadata", {}).get("resourceVersion", "")}
        return _json(200, table)
    listed = reads.list_objects(rt, route, call.query)
    if wanted.table is None:
        return _json(200, listed)
    table = _table(rt, call, route, listed["items"], wanted.table)
    table["metadata"] = listed["metadata"]
    return _json(200, table)


def _table(rt: Runtime, call: Call, route: Route, objects: list[dict[str, Any]], version: str) -> dict[str, Any]:
    from functions.kubeapi import tables

    table = tables.table(route.resource, objects, rt.clock(), call.query.get("includeObject", "Metadata"))
    table["apiVersion"] = f"meta.k8s.io/{version}"
    return table


def _watch(rt: Runtime, call: Call, route: Route) -> Streamed:
    from functions.kubeapi import watch

    query = dict(call.query)
    if route.name is not None:  # /watch/namespaces/ns/pods/x: the old watch of one object
        selector = f"metadata.name={route.name}"
        query["fieldSelector"] = f"{query['fieldSelector']},{selector}" if query.get("fieldSelector") else selector
        route = Route(route.resource, route.namespace, None, None, route.watch_prefix)
    wanted = negotiate(call.accept)
    return Streamed(watch.stream(rt, route, query, wanted.table is not None, call.client_gone), JSON)


def _write(rt: Runtime, call: Call, route: Route, verb: str, body: bytes) -> Reply:
    from functions.kubeapi import deletion, writes

    ct = call.content_type
    if route.resource is resources.NAMESPACES:
        from functions.kubeapi import namespaces

        if verb == "create":
            return namespaces.create(rt, route, body, ct, call.query)
        if verb == "update":
            return namespaces.update(rt, route, body, ct, call.query)
        if verb == "patch":
            return namespaces.patch(rt, route, body, ct, call.query)
        if verb == "delete":
            return namespaces.delete(rt, route, body, call.query)
        raise method_not_allowed(NOT_ALLOWED)
    if verb == "create":
        return writes.create(rt, route, body, ct, call.query)
    if verb == "update":
        return writes.update(rt, route, body, ct, call.query)
    if verb == "patch":
        return writes.patch(rt, route, body, ct, call.query)
    if verb == "delete":
        return deletion.delete(rt, route, body, call.query)
    return deletion.delete_collection(rt, route, body, call.query)


def _subresource(rt: Runtime, call: Call, route: Route, body: bytes) -> Response | Streamed:
    from functions.kubeapi import subresources

    sub = route.subresource
    verbs = {"GET": "get", "PUT": "update", "PATCH": "patch"}
    if call.method not in verbs or (sub == "log" and call.method != "GET"):
        raise method_not_allowed(NOT_ALLOWED)
    call.verb = verbs[call.method]
    call.fields["subresource"] = sub
    if sub == "log":
        return Streamed(subresources.log(rt, route, call.query, call.client_gone), "text/plain")
    negotiate(call.accept)
    if sub == "scale":
        return _reply(subresources.scale(rt, route, call.method, body, call.content_type, call.query))
    return _reply(subresources.status(rt, route, call.method, body, call.content_type, call.query))


def _reply(reply: Reply) -> Response:
    return _json(reply.code, reply.body, reply.warnings)


# -- the log line --------------------------------------------------------------------


def _log(rt: Runtime, call: Call, code: int, started: float, before: dict[str, int]) -> None:
    after = rt.store.ops.snapshot()
    severity = logging.ERROR if code >= 500 else logging.INFO
    log.log(severity, f"{call.method} {call.path} {code}", extra={
        "verb": call.verb or call.method.lower(), **call.fields, "code": code,
        "ms": round((time.monotonic() - started) * 1000, 1),
        "reads": after["reads"] - before["reads"],
        "writes": after["writes"] - before["writes"] + after["deletes"] - before["deletes"],
    })


def _logged(rt: Runtime, call: Call, lines: Iterator[bytes], started: float,
            before: dict[str, int]) -> Iterator[bytes]:
    """The stream's lines; its log line when it ends (or fails: the headers are gone, so
    the failure can only be logged and the stream cut). The headers go at once, as the
    apiserver flushes them, so the client knows its watch is on before the first event:
    an empty chunk makes the WSGI server send them and nothing else."""
    code = 200
    try:
        yield b""
        yield from lines
    except Exception:  # logged; the client sees the stream end and retries
        code = 500
        log.exception("kube_api stream failed", extra={"path": call.path, "method": call.method})
    finally:
        _log(rt, call, code, started, before)
