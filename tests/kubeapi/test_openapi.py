"""kube_api's OpenAPI v3 documents: generated from the pinned kubernetes client, shaped so
kubectl 1.32 leaves strict validation to the server and computes strategic merge patches
from them, and the two questions the handlers ask (unknown fields, patch metadata).

The kubectl tests run the real /usr/bin/kubectl against a small werkzeug server that
serves discovery, these documents, and create/get/patch from memory (patches applied
by ``patch.apply_patch``), recording every request kubectl makes.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest
import yaml
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from functions.kubeapi import openapi, resources
from functions.kubeapi.patch import apply_patch
from tests.helpers import required_tool
from tools import gen_openapi

GUESTBOOK = Path(__file__).resolve().parent.parent / "fixtures" / "guestbook"
KUBECTL = shutil.which("kubectl")
Doc = dict[str, Any]


def manifests() -> list[Doc]:
    return [d for f in sorted(GUESTBOOK.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]


def gvk_of(obj: Doc) -> tuple[str, str, str]:
    group, _, version = obj["apiVersion"].rpartition("/")
    return group, version, obj["kind"]


# --- the documents ---

def test_committed_documents_are_what_the_generator_makes() -> None:
    """Run `.venv/bin/python tools/gen_openapi.py` when this fails (client or tables changed)."""
    for name, data in gen_openapi.generate().items():
        assert (openapi.HERE / name).read_bytes() == data, f"{name} is stale: run tools/gen_openapi.py"


def test_root_lists_each_document_with_its_hash() -> None:
    paths = openapi.root()["paths"]
    assert set(paths) == {"api/v1", "apis/apps/v1"}
    for gv, entry in paths.items():
        data = openapi.document_bytes(gv)
        assert data is not None
        assert entry["serverRelativeURL"] == f"/openapi/v3/{gv}?hash={hashlib.sha512(data).hexdigest()}"
    assert openapi.document("apis/batch/v1") is None
    assert openapi.document("batch/v1") is None
    assert openapi.document("v1") == openapi.document("api/v1")
    assert openapi.document("apps/v1") == openapi.document("/apis/apps/v1")


def _patch_operations(doc: Doc) -> Iterator[tuple[str, Doc]]:
    for path, item in doc["paths"].items():
        if "patch" in item:
            yield path, item["patch"]


@pytest.mark.parametrize("resource", resources.RESOURCES, ids=lambda r: r.kind)
def test_what_kubectl_looks_for_is_there(resource: resources.Resource) -> None:
    """kubectl's QueryParamVerifierV3 takes the first PATCH operation whose
    x-kubernetes-group-version-kind is the kind and looks for `fieldValidation` among its
    own parameters; apply's gvkSupportsPatchOpenAPIV3 wants the strategic merge patch
    type in its requestBody, then the component schema listing the GVK."""
    doc = openapi.document("api/v1" if not resource.group else f"apis/{resource.group}/{resource.version}")
    assert doc is not None
    gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
    ops = [op for _, op in _patch_operations(doc) if op["x-kubernetes-group-version-kind"] == gvk]
    assert ops if "patch" in resource.verbs else not ops
    for op in ops:
        assert "fieldValidation" in [p["name"] for p in op["parameters"]]
        assert "application/strategic-merge-patch+json" in op["requestBody"]["content"]
    for path, item in doc["paths"].items():
        for method in ("post", "put"):
            if method in item:
                assert "fieldValidation" in [p["name"] for p in item[method]["parameters"]], (path, method)
    listing = [name for name, s in doc["components"]["schemas"].items()
               if gvk in s.get("x-kubernetes-group-version-kind", [])]
    assert len(listing) == 1


def test_every_reference_resolves() -> None:
    for gv in openapi.FILES:
        doc = openapi.document(gv)
        assert doc is not None
        schemas = doc["components"]["schemas"]
        refs = {r for r in _refs(doc)}
        assert refs, gv
        missing = sorted(r for r in refs if r.removeprefix(openapi.REF_PREFIX) not in schemas)
        assert not missing, (gv, missing)


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref":
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


@pytest.mark.parametrize(("cls", "name"), [
    (k8s.V1Pod, "io.k8s.api.core.v1.Pod"), (k8s.V1Container, "io.k8s.api.core.v1.Container"),
    (k8s.V1ObjectMeta, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
    (k8s.V1Deployment, "io.k8s.api.apps.v1.Deployment"), (k8s.V1Scale, "io.k8s.api.autoscaling.v1.Scale"),
    (k8s.CoreV1Event, "io.k8s.api.core.v1.Event"), (k8s.V1ServicePort, "io.k8s.api.core.v1.ServicePort"),
])
def test_schemas_have_the_clients_fields_under_kubernetes_names(cls: Any, name: str) -> None:
    schema = openapi._schemas()[name]
    assert set(schema["properties"]) == set(cls.attribute_map.values())


def test_int_or_string_quantity_and_time_are_named_types() -> None:
    schemas = openapi._schemas()
    port = schemas["io.k8s.api.core.v1.ServicePort"]["properties"]
    assert port["targetPort"]["allOf"][0]["$ref"].endswith("intstr.IntOrString")
    assert port["port"]["type"] == "integer"
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["x-kubernetes-int-or-string"] is True
    limits = schemas["io.k8s.api.core.v1.ResourceRequirements"]["properties"]["limits"]
    assert limits["additionalProperties"]["allOf"][0]["$ref"].endswith("resource.Quantity")
    created = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["creationTimestamp"]
    assert created["allOf"][0]["$ref"].endswith("meta.v1.Time")
    event_time = schemas["io.k8s.api.core.v1.Event"]["properties"]["eventTime"]
    assert event_time["allOf"][0]["$ref"].endswith("meta.v1.MicroTime")


# --- patch metadata ---

@pytest.mark.parametrize(("gvk", "path", "strategies", "merge_key"), [
    (("", "v1", "Pod"), ["spec", "containers"], ("merge",), "name"),
    (("", "v1", "Pod"), ["spec", "containers", "ports"], ("merge",), "containerPort"),
    (("", "v1", "Pod"), ["spec", "containers", "env"], ("merge",), "name"),
    (("", "v1", "Pod"), ["spec", "containers", "volumeMounts"], ("merge",), "mountPath"),
    (("", "v1", "Pod"), ["spec", "volumes"], ("merge", "retainKeys"), "name"),
    (("", "v1", "Pod"), ["spec", "imagePullSecrets"], ("merge",), "name"),
    (("", "v1", "Pod"), ["status", "conditions"], ("merge",), "type"),
    (("", "v1", "Pod"), ["metadata", "finalizers"], ("merge",), ""),
    (("", "v1", "Pod"), ["metadata", "ownerReferences"], ("merge",), "uid"),
    (("", "v1", "Pod"), ["spec", "containers", "args"], (), ""),
    (("", "v1", "Service"), ["spec", "ports"], ("merge",), "port"),
    (("", "v1", "ReplicationController"), ["spec", "template", "spec", "containers"], ("merge",), "name"),
    (("apps", "v1", "Deployment"), ["spec", "strategy"], ("retainKeys",), ""),
    (("apps", "v1", "Deployment"), ["status", "conditions"], ("merge",), "type"),
    (("apps", "v1", "ReplicaSet"), ["spec", "template", "spec", "volumes"], ("merge", "retainKeys"), "name"),
])
def test_patch_meta(gvk: tuple[str, str, str], path: list[str], strategies: tuple[str, ...], merge_key: str) -> None:
    meta = openapi.patch_meta(gvk)
    found: tuple[tuple[str, ...], str] = ((), "")
    for key in path:
        meta, got_strategies, got_key = meta.field(key)
        found = (got_strategies, got_key)
    assert found == (strategies, merge_key)


def test_patch_meta_of_unknown_places_is_empty() -> None:
    assert openapi.patch_meta(("batch", "v1", "Job")) is openapi.UNKNOWN
    spec, _, _ = openapi.patch_meta(("", "v1", "Pod")).field("spec")
    assert spec.field("nonsense") == (openapi.UNKNOWN, (), "")


# --- unknown fields ---

def test_guestbook_manifests_have_no_unknown_fields() -> None:
    docs = manifests()
    assert len(docs) == 6
    for doc in docs:
        assert openapi.unknown_fields(gvk_of(doc), doc) == [], doc["metadata"]["name"]


def test_typos_are_reported_with_their_paths() -> None:
    doc = next(d for d in manifests() if d["kind"] == "Deployment")
    doc["spec"]["replicaz"] = 3
    doc["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = "x"
    doc["status"] = {"readyReplicas": 1, "happy": True}
    assert sorted(openapi.unknown_fields(gvk_of(doc), doc)) == [
        "spec.replicaz", "spec.template.spec.containers[0].imagePolicy", "status.happy"]


def test_maps_take_any_key_and_int_or_string_either_type() -> None:
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "s", "labels": {"any/key": "v"}, "annotations": {"x.io/y": "z"}},
           "spec": {"selector": {"whatever": "v"}, "ports": [{"port": 80, "targetPort": "http"},
                                                             {"port": 81, "targetPort": 8081}]}}
    assert openapi.unknown_fields(("", "v1", "Service"), svc) == []
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "i",
                                    "resources": {"limits": {"cpu": "100m", "memory": 1024, "vendor.io/gpu": 1}}}]}}
    assert openapi.unknown_fields(("", "v1", "Pod"), pod) == []


# --- the real kubectl against the documents ---

@dataclass
class FakeApi:
    """Discovery, the OpenAPI documents and objects in memory; every request recorded."""

    documents: Callable[[str], bytes | None] = openapi.document_bytes
    root: Callable[[], Doc] = openapi.root
    requests: list[tuple[str, str, str, str]] = field(default_factory=list)
    objects: dict[str, Doc] = field(default_factory=dict)

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(Request(environ))(environ, start_response)

    def app(self, request: Request) -> Response:
        self.requests.append((request.method, request.full_path.rstrip("?"),
                              request.headers.get("Content-Type", ""), request.get_data(as_text=True)))
        path = request.path
        if path == "/version":
            return _json({"major": "1", "minor": "32", "gitVersion": "v1.32.0-firecontrol"})
        if path == "/api":
            return _json({"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
                "name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]})
        if path in ("/api/v1", "/apis/apps/v1"):
            return _json(_resource_list(path.removeprefix("/api/").removeprefix("/apis/")))
        if path == "/openapi/v3":
            return _json(self.root())
        if path.startswith("/openapi/v3/") and (data := self.documents(path.removeprefix("/openapi/v3/"))):
            return Response(data, 200, mimetype="application/json")
        if "/namespaces/default/" in path:
            return self.object(request)
        return _json({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                      "code": 404, "message": "the server could not find the requested resource"}, 404)

    def object(self, request: Request) -> Response:
        path = request.path
        if request.method == "POST":
            obj = json.loads(request.get_data())
            obj["metadata"].update(namespace="default", uid="u-1", resourceVersion="1")
            if request.args.get("dryRun") != "All":
                self.objects[f"{path}/{obj['metadata']['name']}"] = obj
            return _json(obj, 201)
        if path not in self.objects:
            return _json({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                          "code": 404, "message": f'"{path.rsplit("/", 1)[-1]}" not found'}, 404)
        if request.method == "PATCH":
            current = self.objects[path]
            patched = apply_patch(current, request.get_data(), request.content_type or "", gvk_of(current))
            patched["metadata"]["resourceVersion"] = str(int(current["metadata"]["resourceVersion"]) + 1)
            self.objects[path] = patched
        return _json(self.objects[path])


def _json(body: Any, code: int = 200) -> Response:
    return Response(json.dumps(body), code, mimetype="application/json")


def _resource_list(group_version: str) -> Doc:
    listed = []
    for r in resources.of_group_version(group_version):
        listed.append({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                       "kind": r.kind, "verbs": list(r.verbs), "shortNames": list(r.short_names)})
        for sub in r.subresources:
            listed.append({"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                           "kind": "Scale" if sub == "scale" else r.kind, "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": listed}


@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[Callable[..., tuple[FakeApi, subprocess.CompletedProcess[str]]]]:
    """Run kubectl 1.32 against a fresh FakeApi (or the one passed), with its own HOME and cache."""
    required_tool("kubectl")
    servers = []

    def run(*args: str, api: FakeApi | None = None, stdin: str | None = None) -> tuple[FakeApi, subprocess.CompletedProcess[str]]:
        api = api if api is not None else FakeApi()
        server = make_server("127.0.0.1", 0, api, threaded=True)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        config = tmp_path / "kubeconfig"
        config.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u", "namespace": "default"}}],
            "users": [{"name": "u", "user": {}}]}))
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "KUBECONFIG": str(config),
               "KUBECACHEDIR": str(tmp_path / "cache")}
        done = subprocess.run([str(KUBECTL), *args], env=env, input=stdin, capture_output=True, text=True,
                              timeout=60, check=False)
        server.shutdown()
        return api, done

    yield run
    for server in servers:
        server.server_close()


def test_kubectl_leaves_strict_validation_to_the_server(kubectl: Any) -> None:
    """kubectl create (default --validate=strict) reads /openapi/v3 and the apps/v1
    document, finds fieldValidation on PATCH, and sends fieldValidation=Strict instead
    of validating on the client (which would need /openapi/v2, a 404 here)."""
    api, done = kubectl("create", "--dry-run=server", "-f", str(GUESTBOOK / "frontend-deployment.yaml"))
    assert done.returncode == 0, done.stderr
    assert "deployment.apps/frontend created (server dry run)" in done.stdout
    paths = [(method, path.split("?")[0]) for method, path, _, _ in api.requests]
    assert ("GET", "/openapi/v3") in paths
    assert ("GET", "/openapi/v3/apis/apps/v1") in paths
    assert not any(p.startswith("/openapi/v2") for _, p in paths)
    [post] = [r for r in api.requests if r[0] == "POST"]
    assert post[1].startswith("/apis/apps/v1/namespaces/default/deployments?")
    assert "fieldValidation=Strict" in post[1] and "dryRun=All" in post[1]


def test_without_field_validation_in_the_document_kubectl_falls_back_to_openapi_v2(kubectl: Any) -> None:
    """The control: take fieldValidation out of the PATCH operations and kubectl no longer
    trusts the server; it fetches /openapi/v2 for client-side validation (and fails here)."""
    def stripped(gv: str) -> bytes | None:
        doc = copy.deepcopy(openapi.document(gv))
        if doc is None:
            return None
        for item in doc["paths"].values():
            for op in item.values():
                if isinstance(op, dict) and "parameters" in op:
                    op["parameters"] = [p for p in op["parameters"] if p["name"] != "fieldValidation"]
        return json.dumps(doc).encode()

    api, done = kubectl("create", "--dry-run=server", "-f", str(GUESTBOOK / "frontend-deployment.yaml"),
                        api=FakeApi(documents=stripped))
    assert any(path.startswith("/openapi/v2") for _, path, _, _ in api.requests)
    assert not any(method == "POST" and "fieldValidation=Strict" in path for method, path, _, _ in api.requests)
    assert done.returncode != 0


def test_kubectl_apply_computes_its_strategic_merge_patch_from_the_documents(kubectl: Any, tmp_path: Path) -> None:
    """apply, then apply a changed manifest: kubectl sends a strategic merge patch built
    from our OpenAPI v3 (merge keys, $setElementOrder) with no fallback warning, and our
    strategic merge gives the object the manifest describes."""
    manifest = yaml.safe_load((GUESTBOOK / "redis-master-deployment.yaml").read_text())
    manifest["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox:1"})
    first = tmp_path / "first.yaml"
    first.write_text(yaml.safe_dump(manifest))
    api, done = kubectl("apply", "-f", str(first))
    assert done.returncode == 0, done.stderr
    assert "deployment.apps/redis-master created" in done.stdout

    containers = manifest["spec"]["template"]["spec"]["containers"]
    containers.reverse()  # the order changes ...
    containers[0]["image"] = "busybox:2"  # ... one image changes ...
    containers[1]["env"] = [{"name": "MODE", "value": "primary"}]  # ... and one gains an env var
    manifest["metadata"]["labels"] = {"app": "redis", "edited": "yes"}
    second = tmp_path / "second.yaml"
    second.write_text(yaml.safe_dump(manifest))
    api, done = kubectl("apply", "-f", str(second), api=api)
    assert done.returncode == 0, done.stderr
    assert "deployment.apps/redis-master configured" in done.stdout
    assert "warning" not in done.stderr.lower(), done.stderr
    [(_, path, content_type, body)] = [r for r in api.requests if r[0] == "PATCH"]
    assert path.startswith("/apis/apps/v1/namespaces/default/deployments/redis-master?")
    assert "fieldValidation=Strict" in path
    assert content_type == "application/strategic-merge-patch+json"
    pod_spec_patch = json.loads(body)["spec"]["template"]["spec"]
    assert pod_spec_patch["$setElementOrder/containers"] == [{"name": "sidecar"}, {"name": "master"}]

    stored = api.objects["/apis/apps/v1/namespaces/default/deployments/redis-master"]
    got = stored["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in got] == ["sidecar", "master"]
    assert got[0]["image"] == "busybox:2"
    assert got[1]["env"] == [{"name": "MODE", "value": "primary"}]
    assert got[1]["ports"] == containers[1]["ports"]
    assert stored["metadata"]["labels"] == {"app": "redis", "edited": "yes"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in stored["metadata"]["annotations"]
