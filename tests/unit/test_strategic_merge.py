"""Strategic merge patch (functions/kubeapi/strategic.py) against Kubernetes' documented
behaviour (k8s.io/apimachinery strategicpatch and the apiserver; the cases of
docs "Update API Objects in Place Using kubectl patch" and the SMP design notes),
with merge keys from our generated OpenAPI schema."""

from __future__ import annotations

from typing import Any

import pytest

from functions.kubeapi import openapi, strategic

POD = ("", "v1", "Pod")
DEPLOYMENT = ("apps", "v1", "Deployment")


def smp(current: dict[str, Any], patch: dict[str, Any], gvk: tuple[str, str, str] = POD) -> dict[str, Any]:
    return strategic.apply(current, patch, openapi.patch_meta(gvk))


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": list(containers), **spec}}


def names(obj: dict[str, Any], field: str = "containers") -> list[str]:
    return [c["name"] for c in obj["spec"][field]]


def test_containers_merge_by_name() -> None:
    current = pod({"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"})
    out = smp(current, {"spec": {"containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]}})
    assert out["spec"]["containers"] == [
        {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]
    assert current["spec"]["containers"][1]["image"] == "b:1", "the input is not modified"


def test_nested_lists_merge_by_their_own_keys() -> None:
    current = pod({"name": "a", "image": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                   "ports": [{"containerPort": 80}]})
    out = smp(current, {"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "3"}],
                                                 "ports": [{"containerPort": 443}]}]}})
    container = out["spec"]["containers"][0]
    assert container["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}]
    # Without $setElementOrder, items the server order cannot place go first (as Kubernetes does).
    assert container["ports"] == [{"containerPort": 443}, {"containerPort": 80}]


def test_patch_delete_directive_removes_a_list_item() -> None:
    current = pod({"name": "a", "image": "a"}, {"name": "b", "image": "b"})
    out = smp(current, {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}})
    assert names(out) == ["b"]


def test_patch_replace_directive_in_a_list_replaces_it() -> None:
    current = pod({"name": "a", "image": "a"}, {"name": "b", "image": "b"})
    out = smp(current, {"spec": {"containers": [{"name": "c", "image": "c"}, {"$patch": "replace"}]}})
    assert out["spec"]["containers"] == [{"name": "c", "image": "c"}]


def test_patch_replace_directive_in_a_map_replaces_it() -> None:
    current = {"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}}
    out = smp(current, {"metadata": {"labels": {"c": "3", "$patch": "replace"}}})
    assert out["metadata"]["labels"] == {"c": "3"}


def test_patch_delete_directive_in_a_map_empties_it() -> None:
    current = {"metadata": {"name": "p", "labels": {"a": "1"}}}
    assert smp(current, {"metadata": {"labels": {"$patch": "delete"}}})["metadata"]["labels"] == {}


def test_lists_without_a_strategy_are_replaced() -> None:
    current = pod({"name": "a", "image": "a", "args": ["x", "y"]})
    out = smp(current, {"spec": {"containers": [{"name": "a", "args": ["z"]}]}})
    assert out["spec"]["containers"][0]["args"] == ["z"]


def test_null_deletes_a_key_and_maps_merge() -> None:
    current = {"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}}
    out = smp(current, {"metadata": {"labels": {"a": None, "c": "3"}, "annotations": None}})
    assert out["metadata"] == {"name": "p", "labels": {"b": "2", "c": "3"}}


def test_null_inside_a_new_value_is_dropped() -> None:
    out = smp({"metadata": {"name": "p"}}, {"metadata": {"labels": {"a": "1", "b": None}}})
    assert out["metadata"]["labels"] == {"a": "1"}


def test_finalizers_are_a_union_and_delete_from_primitive_list_removes() -> None:
    current = {"metadata": {"name": "p", "finalizers": ["a", "b"]}}
    out = smp(current, {"metadata": {"finalizers": ["b", "c"]}})
    assert out["metadata"]["finalizers"] == ["a", "b", "c"]
    out = smp(current, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["d"]}})
    assert out["metadata"]["finalizers"] == ["d", "b"]


def test_set_element_order_orders_the_result() -> None:
    """What kubectl apply sends when a manifest reorders containers and changes one."""
    current = pod({"name": "a", "image": "a"}, {"name": "b", "image": "b"}, {"name": "c", "image": "c"})
    patch = {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
                      "containers": [{"name": "a", "image": "a:2"}]}}
    out = smp(current, patch)
    assert names(out) == ["c", "a", "b"]
    assert out["spec"]["containers"][1]["image"] == "a:2"


def test_set_element_order_with_server_only_items_keeps_them_in_place() -> None:
    current = pod({"name": "a", "image": "a"}, {"name": "server", "image": "s"}, {"name": "b", "image": "b"})
    patch = {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}
    assert names(smp(current, patch)) == ["server", "b", "a"]


def test_set_element_order_interleaves_an_item_added_on_the_server() -> None:
    """Applied [3, 1, 2] over [1, 2] while the server added 4 between them: 4 stays after 1."""
    current = {"metadata": {"finalizers": ["1", "4", "2"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["3", "1", "2"], "finalizers": ["3"]}}
    assert smp(current, patch)["metadata"]["finalizers"] == ["3", "1", "4", "2"]


def test_set_element_order_for_primitive_lists() -> None:
    current = {"metadata": {"name": "p", "finalizers": ["a", "b"]}}
    out = smp(current, {"metadata": {"$setElementOrder/finalizers": ["b", "a", "c"], "finalizers": ["c"]}})
    assert out["metadata"]["finalizers"] == ["b", "a", "c"]


def test_set_element_order_that_contradicts_the_patch_is_refused() -> None:
    current = pod({"name": "a", "image": "a"}, {"name": "b", "image": "b"})
    patch = {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                      "containers": [{"name": "b", "image": "b2"}, {"name": "a", "image": "a2"}]}}
    with pytest.raises(strategic.PatchError, match="doesn't match"):
        smp(current, patch)


def test_retain_keys_drops_the_other_keys() -> None:
    """Deployment.spec.strategy is retainKeys: switching to Recreate drops rollingUpdate."""
    current = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    out = smp(current, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}, DEPLOYMENT)
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_must_list_every_patched_key() -> None:
    current = {"spec": {"strategy": {"type": "RollingUpdate"}}}
    with pytest.raises(strategic.PatchError, match="retainKeys"):
        smp(current, {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}, DEPLOYMENT)


def test_volumes_merge_by_name_with_retain_keys() -> None:
    current = pod({"name": "a", "image": "a"}, volumes=[{"name": "v", "emptyDir": {}}])
    patch = {"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}]}}
    assert smp(current, patch)["spec"]["volumes"] == [{"name": "v", "hostPath": {"path": "/x"}}]


def test_unknown_directive_is_refused() -> None:
    with pytest.raises(strategic.PatchError, match="unknown patch type"):
        smp({"metadata": {"labels": {}}}, {"metadata": {"labels": {"$patch": "explode"}}})
    with pytest.raises(strategic.PatchError, match="unknown directive"):
        smp({"metadata": {}}, {"metadata": {"$frobnicate/labels": []}})
    with pytest.raises(strategic.PatchError, match="merging lists cannot yet"):
        smp(pod({"name": "a"}), {"spec": {"containers": [{"$patch": "merge"}]}})


def test_delete_item_without_merge_key_is_refused() -> None:
    with pytest.raises(strategic.PatchError, match="merge key"):
        smp(pod({"name": "a"}), {"spec": {"containers": [{"$patch": "delete"}]}})


def test_service_ports_merge_by_port_and_owner_references_by_uid() -> None:
    current = {"spec": {"ports": [{"port": 80, "targetPort": 8080}]},
               "metadata": {"ownerReferences": [{"uid": "1", "name": "x"}]}}
    out = smp(current, {"spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 443}]},
                        "metadata": {"ownerReferences": [{"uid": "2", "name": "y"}]}}, ("", "v1", "Service"))
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": "http"}, {"port": 443}]
    assert [r["uid"] for r in out["metadata"]["ownerReferences"]] == ["2", "1"]


def test_fields_the_schema_does_not_know_merge_like_a_merge_patch() -> None:
    current = {"spec": {"foo": {"a": 1, "b": [1, 2]}}}
    out = smp(current, {"spec": {"foo": {"a": None, "b": [3]}}})
    assert out["spec"]["foo"] == {"b": [3]}


def test_directives_never_reach_a_new_value() -> None:
    out = smp({"spec": {}}, {"spec": {"containers": [{"name": "a", "$setElementOrder/env": [{"name": "X"}],
                                                      "env": [{"name": "X", "value": "1"}]}]}})
    assert out["spec"]["containers"] == [{"name": "a", "env": [{"name": "X", "value": "1"}]}]
