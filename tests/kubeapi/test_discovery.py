"""Discovery as client-go reads it: each document deserializes into the official
client's model and serializes back to what we sent (nothing dropped or renamed)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from kubernetes.client import ApiClient

from emulator.firestore import FirestoreEmulator
from emulator.functions import FunctionServer
from functions.kubeapi import discovery
from functions.runtime import Runtime
from tests.helpers import rc_doc, required_tool, write_rc

CLIENT = ApiClient()


def roundtrip(data: dict[str, Any], model: str) -> dict[str, Any]:
    obj = CLIENT._ApiClient__deserialize(data, model)  # type: ignore[attr-defined]
    out: dict[str, Any] = CLIENT.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
    return out


def get(api: FlaskClient, path: str) -> dict[str, Any]:
    reply = api.get(path, headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                                             "application/json"})
    assert reply.status_code == 200, reply.data
    assert reply.mimetype == "application/json"  # plain: client-go falls back from aggregated discovery
    data: dict[str, Any] | None = reply.json
    assert data is not None
    return data


@pytest.mark.parametrize(("path", "model"), [
    ("/version", "VersionInfo"),
    ("/api", "V1APIVersions"),
    ("/apis", "V1APIGroupList"),
    ("/apis/apps", "V1APIGroup"),
    ("/api/v1", "V1APIResourceList"),
    ("/apis/apps/v1", "V1APIResourceList"),
])
def test_each_document_is_the_official_model_unchanged(api: FlaskClient, path: str, model: str) -> None:
    data = get(api, path)
    assert roundtrip(data, model) == data


def test_version_says_kubernetes_1_32(api: FlaskClient) -> None:
    data = get(api, "/version")
    assert (data["major"], data["minor"], data["gitVersion"]) == ("1", "32", "v1.32.0-firecontrol")


def test_core_resources_with_their_subresources(api: FlaskClient) -> None:
    data = get(api, "/api/v1")
    by_name = {r["name"]: r for r in data["resources"]}
    assert data["groupVersion"] == "v1"
    assert set(by_name) == {
        "namespaces", "namespaces/status", "pods", "pods/log", "pods/status", "replicationcontrollers",
        "replicationcontrollers/scale", "replicationcontrollers/status", "services", "services/status", "events",
        "resourcequotas", "resourcequotas/status",
    }
    rc = by_name["replicationcontrollers"]
    assert rc["shortNames"] == ["rc"] and rc["categories"] == ["all"] and rc["namespaced"] is True
    assert rc["singularName"] == "replicationcontroller" and rc["kind"] == "ReplicationController"
    assert rc["verbs"] == ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    scale = by_name["replicationcontrollers/scale"]
    assert (scale["group"], scale["version"], scale["kind"], scale["verbs"]) == (
        "autoscaling", "v1", "Scale", ["get", "patch", "update"])
    assert (by_name["pods/log"]["kind"], by_name["pods/log"]["verbs"]) == ("Pod", ["get"])
    assert by_name["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert "create" not in by_name["events"]["verbs"] and "delete" in by_name["events"]["verbs"]
    assert by_name["namespaces"]["namespaced"] is False and by_name["namespaces"]["shortNames"] == ["ns"]


def test_apps_group(api: FlaskClient) -> None:
    groups = get(api, "/apis")["groups"]
    assert [g["name"] for g in groups] == ["apps"]
    assert groups[0]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    resources = {r["name"]: r for r in get(api, "/apis/apps/v1")["resources"]}
    assert set(resources) == {"deployments", "deployments/scale", "deployments/status", "replicasets",
                              "replicasets/scale", "replicasets/status"}
    assert resources["deployments"]["shortNames"] == ["deploy"]
    assert resources["replicasets/scale"]["kind"] == "Scale"


def test_api_versions_name_the_server(api: FlaskClient) -> None:
    data = get(api, "/api")
    assert data["versions"] == ["v1"]
    assert data["serverAddressByClientCIDRs"][0]["serverAddress"] == "localhost"


@pytest.mark.parametrize("path", ["/apis/batch", "/apis/batch/v1", "/api/v2", "/openapi/v2", "/apis/apps/v2"])
def test_groups_we_do_not_serve_are_404(api: FlaskClient, path: str) -> None:
    reply = api.get(path)
    assert reply.status_code == 404
    assert reply.json is not None and reply.json["kind"] == "Status" and reply.json["reason"] == "NotFound"


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_health(api: FlaskClient, path: str) -> None:
    reply = api.get(path)
    assert (reply.status_code, reply.data) == (200, b"ok")


def test_discovery_is_read_only(api: FlaskClient) -> None:
    reply = api.post("/api/v1", data=b"{}")
    assert reply.status_code == 405 and reply.json is not None and reply.json["reason"] == "MethodNotAllowed"


def test_openapi_v3_documents_match_their_hash(api: FlaskClient) -> None:
    root = get(api, "/openapi/v3")
    assert set(root["paths"]) == {"api/v1", "apis/apps/v1"}
    for entry in root["paths"].values():
        url = entry["serverRelativeURL"]
        reply = api.get(url)
        assert reply.status_code == 200 and reply.mimetype == "application/json"
        assert hashlib.sha512(reply.data).hexdigest() == url.split("hash=", 1)[1]
        assert reply.headers["Cache-Control"] == "public, immutable"
        assert "components" in json.loads(reply.data)
    assert api.get("/openapi/v3/apis/batch/v1").status_code == 404


def test_kubectl_discovers_a_real_function_server(firestore_emulator: FirestoreEmulator, project: str,
                                                  rt: Runtime, tmp_path: Path) -> None:
    """The real kubectl against kube_api under functions-framework, as the local stack runs it."""
    required_tool("kubectl")
    write_rc(rt.store, rc_doc("web", 2))
    server = FunctionServer("kube_api", "http", {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
                                                 "GOOGLE_CLOUD_PROJECT": project},
                            log_path=tmp_path / "kube_api.log").start()
    env = {**os.environ, "HOME": str(tmp_path), "KUBECACHEDIR": str(tmp_path / "cache"), "KUBECONFIG": ""}

    def kubectl(*args: str) -> str:
        done = subprocess.run(["kubectl", "--server", server.url.rstrip("/"), *args], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        assert json.loads(kubectl("get", "--raw", "/api/v1")) == discovery.resource_list("v1")
        table = kubectl("api-resources")
        rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[1:]}
        assert rows["replicationcontrollers"] == ["rc", "v1", "true", "ReplicationController"]
        assert rows["deployments"] == ["deploy", "apps/v1", "true", "Deployment"]
        assert "Server Version: v1.32.0-firecontrol" in kubectl("version")
        assert kubectl("get", "rc").splitlines()[1].split()[:4] == ["web", "2", "0", "0"]
        assert kubectl("scale", "rc", "web", "--replicas=3") == "replicationcontroller/web scaled\n"
        assert kubectl("get", "rc", "web", "-o", "jsonpath={.spec.replicas}") == "3"
    finally:
        server.stop()
    logged = [json.loads(line) for line in (tmp_path / "kube_api.log").read_text().splitlines()
              if line.startswith('{"severity"')]
    asked = [entry["message"] for entry in logged if entry.get("logger") == "firecontrol.kube_api"]
    assert "PATCH /api/v1/namespaces/default/replicationcontrollers/web/scale 200" in asked
