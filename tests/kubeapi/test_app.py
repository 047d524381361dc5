"""The handler chain itself: verbs a resource does not serve, bodies too large, errors
as Status objects (500 logged with its traceback, 503 when Firestore is unavailable),
Warning headers, content negotiation and the one log line per request."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from flask.testing import FlaskClient
from google.api_core import exceptions as gexc

from functions.kubeapi import app, reads
from functions.kubeapi.objects import Reply
from functions.kubeapi.routes import parse
from functions.kubeapi.status import ApiError
from functions.runtime import Runtime
from functions.store import PODS, doc_path
from tests.helpers import pod_doc


def status_of(reply: Any, code: int, reason: str) -> dict[str, Any]:
    assert reply.status_code == code, reply.data
    assert reply.json is not None and reply.json["kind"] == "Status"
    assert (reply.json["code"], reply.json["reason"]) == (code, reason)
    data: dict[str, Any] = reply.json
    return data


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/api/v1/namespaces/default/events"),  # events are the functions' to write
    ("PUT", "/api/v1/namespaces/default/events/e"),
    ("PUT", "/api/v1/namespaces/default/pods"),  # no update of a collection
    ("POST", "/api/v1/namespaces/default/pods/p"),  # no create on a name
    ("POST", "/api/v1/pods"),  # create needs a namespace
    ("DELETE", "/api/v1/pods"),
    ("OPTIONS", "/api/v1/namespaces/default/pods"),
    ("DELETE", "/api/v1/namespaces"),  # namespaces have no deletecollection
    ("POST", "/api/v1/namespaces/default/pods/p/log"),
])
def test_verbs_not_served_are_405(api: FlaskClient, method: str, path: str) -> None:
    body = status_of(api.open(path, method=method, data=b"{}"), 405, "MethodNotAllowed")
    assert body["message"] == "the server does not allow this method on the requested resource"


def test_a_body_over_3_mib_is_413(api: FlaskClient) -> None:
    reply = api.post("/api/v1/namespaces/default/pods", data=b"x" * (3 * 1024 * 1024 + 1),
                     content_type="application/json")
    status_of(reply, 413, "RequestEntityTooLarge")


def test_an_unexpected_error_is_a_500_status_and_logged(api: FlaskClient, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: Any) -> dict[str, Any]:
        raise KeyError("surprise")

    monkeypatch.setattr(reads, "get", broken)
    with caplog.at_level(logging.INFO, logger="firecontrol.kube_api"):
        reply = api.get("/api/v1/namespaces/default/pods/p")
    body = status_of(reply, 500, "InternalError")
    assert "KeyError" in body["message"] and "surprise" not in body["message"]  # no internals to the client
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert failures and "surprise" in str(failures[0].exc_info[1])  # type: ignore[index]


def test_firestore_unavailable_is_503_retryable(api: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: Any) -> dict[str, Any]:
        raise gexc.ServiceUnavailable("no backend")  # type: ignore[no-untyped-call]

    monkeypatch.setattr(reads, "list_objects", down)
    reply = api.get("/api/v1/namespaces/default/pods")
    body = status_of(reply, 503, "ServiceUnavailable")
    assert body["details"]["retryAfterSeconds"] == 1 and reply.headers["Retry-After"] == "1"


def test_one_log_line_per_request(api: FlaskClient, rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    rt.store.client.document(doc_path("default", PODS, "p")).set(pod_doc("p", {"app": "x"}))
    with caplog.at_level(logging.INFO, logger="firecontrol.kube_api"):
        api.get("/api/v1/namespaces/default/pods/p")
        api.get("/api/v1/namespaces/default/pods/nope")
    lines = [r for r in caplog.records if r.name == "firecontrol.kube_api"]
    assert [r.getMessage() for r in lines] == ["GET /api/v1/namespaces/default/pods/p 200",
                                               "GET /api/v1/namespaces/default/pods/nope 404"]
    first = vars(lines[0])
    assert (first["verb"], first["resource"], first["namespace"], first["object"], first["code"]) == (
        "get", "pods", "default", "Pod/default/p", 200)
    assert first["reads"] == 1 and first["writes"] == 0 and first["ms"] >= 0


def test_warnings_become_warning_headers(api: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.kubeapi import writes

    def create(*args: Any) -> Reply:
        return Reply(201, {"kind": "Pod"}, ['unknown field "spec.foo"', "second"])

    monkeypatch.setattr(writes, "create", create)
    reply = api.post("/api/v1/namespaces/default/pods", data=b"{}", content_type="application/json")
    assert reply.status_code == 201
    assert reply.headers.getlist("Warning") == ['299 - "unknown field \\"spec.foo\\""', '299 - "second"']


def test_an_api_error_from_a_verb_is_its_status(api: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> Reply:
        raise ApiError(409, "AlreadyExists", 'pods "p" already exists', "pods", "p")

    from functions.kubeapi import writes

    monkeypatch.setattr(writes, "create", refuse)
    body = status_of(api.post("/api/v1/namespaces/default/pods", data=json.dumps({}).encode()), 409,
                     "AlreadyExists")
    assert body["details"] == {"name": "p", "kind": "pods"}


def test_a_protobuf_body_is_415_saying_what_to_do(api: FlaskClient) -> None:
    """kubectl create namespace / create deployment send protobuf (seen with kubectl v1.32)."""
    reply = api.post("/api/v1/namespaces", data=b"k8s\x00\n\x0f\n\x02v1\x12\tNamespace",
                     content_type="application/vnd.kubernetes.protobuf")
    body = status_of(reply, 415, "UnsupportedMediaType")
    assert "kubectl create -f" in body["message"]


def test_the_root_lists_the_paths(api: FlaskClient) -> None:
    reply = api.get("/")
    assert reply.status_code == 200 and reply.json is not None and "/api/v1" in reply.json["paths"]


# -- pure parts ------------------------------------------------------------------------

KUBECTL_GET = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
               "application/json")


@pytest.mark.parametrize(("accept", "table"), [
    ("", None),
    ("application/json", None),
    ("*/*", None),
    (KUBECTL_GET, "v1"),
    ("application/json;as=Table;v=v1beta1;g=meta.k8s.io", "v1beta1"),
    ("application/vnd.kubernetes.protobuf, application/json", None),
    ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io, application/json", None),
    ("application/json ; as=Table ; v=v1 ; g=meta.k8s.io", "v1"),
])
def test_negotiate(accept: str, table: str | None) -> None:
    assert app.negotiate(accept).table == table


@pytest.mark.parametrize("accept", ["application/yaml", "application/vnd.kubernetes.protobuf",
                                    "application/json;as=Table;v=v2;g=meta.k8s.io"])
def test_negotiate_refuses_what_it_cannot_serve(accept: str) -> None:
    with pytest.raises(ApiError) as caught:
        app.negotiate(accept)
    assert caught.value.code == 406


@pytest.mark.parametrize(("method", "path", "query", "verb"), [
    ("GET", "/api/v1/namespaces/d/pods", {}, "list"),
    ("GET", "/api/v1/namespaces/d/pods", {"watch": "true"}, "watch"),
    ("GET", "/api/v1/namespaces/d/pods", {"watch": "1"}, "watch"),
    ("GET", "/api/v1/namespaces/d/pods", {"watch": "false"}, "list"),
    ("GET", "/api/v1/watch/namespaces/d/pods", {}, "watch"),
    ("GET", "/api/v1/namespaces/d/pods/p", {}, "get"),
    ("POST", "/api/v1/namespaces/d/pods", {}, "create"),
    ("PUT", "/api/v1/namespaces/d/pods/p", {}, "update"),
    ("PATCH", "/api/v1/namespaces/d/pods/p", {}, "patch"),
    ("DELETE", "/api/v1/namespaces/d/pods/p", {}, "delete"),
    ("DELETE", "/api/v1/namespaces/d/pods", {}, "deletecollection"),
])
def test_verb_of(method: str, path: str, query: dict[str, str], verb: str) -> None:
    assert app.verb_of(method, parse(path), query) == verb


def test_warning_header_escapes_quotes() -> None:
    assert app.warning_header('a "b" \\ c') == '299 - "a \\"b\\" \\\\ c"'
