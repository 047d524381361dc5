"""patch.apply_patch: the three patch types by Content-Type, and the apiserver's errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.kubeapi.patch import apply_patch
from functions.kubeapi.status import ApiError

RC = ("", "v1", "ReplicationController")


def current() -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "front"}},
        "spec": {"replicas": 2, "selector": {"app": "web"}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]},
                                    {"name": "log", "image": "busybox"}]}}},
    }


def patch(body: Any, content_type: str, obj: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return apply_patch(obj if obj is not None else current(), raw, content_type, RC)


def error(body: Any, content_type: str) -> ApiError:
    with pytest.raises(ApiError) as info:
        patch(body, content_type)
    return info.value


def test_json_patch_replaces_adds_and_leaves_the_input_alone() -> None:
    obj = current()
    out = patch([{"op": "replace", "path": "/spec/replicas", "value": 5},
                 {"op": "add", "path": "/metadata/labels/env", "value": "prod"},
                 {"op": "remove", "path": "/metadata/labels/tier"}], "application/json-patch+json", obj)
    assert out["spec"]["replicas"] == 5
    assert out["metadata"]["labels"] == {"app": "web", "env": "prod"}
    assert obj == current()


def test_json_patch_failing_test_op_is_422() -> None:
    e = error([{"op": "test", "path": "/spec/replicas", "value": 3}], "application/json-patch+json")
    assert (e.code, e.reason) == (422, "Invalid")


def test_json_patch_bad_pointer_is_422_and_bad_shape_is_400() -> None:
    assert error([{"op": "remove", "path": "/spec/nothing/here"}], "application/json-patch+json").code == 422
    assert error([{"op": "frobnicate", "path": "/spec"}], "application/json-patch+json").code == 400
    assert error({"op": "add"}, "application/json-patch+json").code == 400


def test_merge_patch_is_rfc_7386() -> None:
    out = patch({"metadata": {"labels": {"tier": None, "env": "prod"}},
                 "spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x"}]}}}},
                "application/merge-patch+json; charset=utf-8")
    assert out["metadata"]["labels"] == {"app": "web", "env": "prod"}
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "only", "image": "x"}], "lists are replaced"
    assert out["spec"]["replicas"] == 2


def test_strategic_merge_patch_merges_containers_by_name() -> None:
    out = patch({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}},
                "application/strategic-merge-patch+json")
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("web", "nginx:2"), ("log", "busybox")]
    assert containers[0]["ports"] == [{"containerPort": 80}]


def test_strategic_merge_patch_errors_are_400() -> None:
    e = error({"metadata": {"labels": {"$patch": "explode"}}}, "application/strategic-merge-patch+json")
    assert (e.code, e.reason) == (400, "BadRequest")
    assert "unknown patch type" in e.message
    assert error([1, 2], "application/strategic-merge-patch+json").code == 400


def test_malformed_json_is_400() -> None:
    for content_type in ("application/json-patch+json", "application/merge-patch+json",
                         "application/strategic-merge-patch+json"):
        e = error(b"{not json", content_type)
        assert (e.code, e.reason) == (400, "BadRequest")


def test_a_patch_that_makes_the_object_not_an_object_is_400() -> None:
    assert error([{"op": "replace", "path": "", "value": 3}], "application/json-patch+json").code == 400


def test_server_side_apply_is_415_with_the_way_out() -> None:
    e = error(b"apiVersion: v1", "application/apply-patch+yaml")
    assert (e.code, e.reason) == (415, "UnsupportedMediaType")
    assert "server-side apply is not supported by firecontrol; use client-side kubectl apply" in e.message


def test_other_types_are_415_listing_the_supported_ones() -> None:
    e = error({}, "application/json")
    assert e.code == 415
    for supported in ("application/json-patch+json", "application/merge-patch+json",
                      "application/strategic-merge-patch+json"):
        assert supported in e.message
