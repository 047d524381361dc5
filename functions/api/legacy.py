"""The 2014 shapes (v1beta1: ``id``, ``desiredState``, ``replicaSelector``, ``podTemplate``).

The seed's objects are still accepted: they are converted on read into the v1 shape,
and anything the conversion does not place is kept for validation to report. The
user's document is never rewritten.

The functions write into a 2014 document where they write into a v1 one (a pod's
``spec.nodeName``, ``metadata.finalizers``, ``status``): every reader, the functions'
own raw reads included, finds those fields at one path whatever the shape. So the
conversion *merges*: a ``spec`` or ``metadata`` map stored beside ``desiredState`` is
the base the converted fields go over (what the user wrote in the 2014 fields wins a
key both hold), never a replacement of the converted ``spec``.
"""

from __future__ import annotations

from typing import Any

_TOP_LEVEL_META = ("creationTimestamp", "selfLink", "resourceVersion", "uid", "namespace", "annotations")


def kind_of_shape(doc: dict[str, Any]) -> str | None:
    """The kind a kind-less 2014 document is, by its shape (kubecfg took the kind from the
    command line): ``desiredState.replicaSelector`` / ``replicasInSet`` / ``podTemplate``
    a controller, ``desiredState.manifest`` a pod, ``port`` and ``selector`` at the top a
    service; None when it is none of them."""
    desired = doc.get("desiredState")
    if isinstance(desired, dict):
        if any(key in desired for key in ("replicaSelector", "replicasInSet", "podTemplate")):
            return "ReplicationController"
        if "manifest" in desired:
            return "Pod"
        return None
    if "spec" not in doc and "port" in doc and "selector" in doc:
        return "Service"
    return None


def is_legacy(doc: dict[str, Any]) -> bool:
    return "desiredState" in doc or ("id" in doc and "spec" not in doc)


def is_legacy_service(doc: dict[str, Any]) -> bool:
    return "spec" not in doc and any(k in doc for k in ("id", "port", "createExternalLoadBalancer"))


def _metadata(doc: dict[str, Any]) -> dict[str, Any]:
    """2014 top-level fields, merged over the ``metadata`` the functions write (uid, ...)."""
    raw = doc.pop("metadata", None)
    meta: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
    if "id" in doc:
        meta["name"] = doc.pop("id")
    if "labels" in doc:
        meta["labels"] = doc.pop("labels")
    for key in _TOP_LEVEL_META:
        if key in doc:
            meta[key] = doc.pop(key)
    return meta


def _containers(manifest: Any) -> Any:
    if not isinstance(manifest, dict):
        return manifest
    containers = manifest.get("containers")
    if not isinstance(containers, list):
        return containers
    converted = []
    for index, container in enumerate(containers):
        if isinstance(container, dict) and "name" not in container:
            container = {"name": f"container-{index}", **container}
        converted.append(container)
    return converted


def _pod_spec(desired_state: Any) -> Any:
    """``desiredState.manifest`` -> a v1 PodSpec map (``version``/``id`` dropped)."""
    if not isinstance(desired_state, dict):
        return desired_state
    manifest = desired_state.get("manifest", {})
    if not isinstance(manifest, dict):
        return manifest
    spec = {k: v for k, v in manifest.items() if k not in ("version", "id", "uuid")}
    spec["containers"] = _containers(manifest)
    if spec["containers"] is None:
        del spec["containers"]
    if "restartPolicy" in desired_state:
        spec["restartPolicy"] = desired_state["restartPolicy"]
    return spec


def _merged_spec(converted: Any, stored: Any) -> Any:
    """The converted spec over a ``spec`` the functions (or a client) wrote beside the 2014
    fields: both kept, the converted one winning a key both hold."""
    if isinstance(converted, dict) and isinstance(stored, dict):
        return {**stored, **converted}
    return converted if converted is not None else stored


def controller_from_legacy(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    doc.pop("currentState", None)
    doc.pop("kind", None)
    doc.pop("apiVersion", None)
    meta = _metadata(doc)
    desired = doc.pop("desiredState", {})
    spec: dict[str, Any] = {}
    if isinstance(desired, dict):
        desired = dict(desired)
        if "replicas" in desired:
            spec["replicas"] = desired.pop("replicas")
        for key in ("replicaSelector", "replicasInSet"):
            if key in desired:
                spec["selector"] = desired.pop(key)
        template = desired.pop("podTemplate", None)
        if isinstance(template, dict):
            template = dict(template)
            spec["template"] = {
                "metadata": {"labels": template.pop("labels", {})},
                "spec": _pod_spec(template.pop("desiredState", {})),
                **template,
            }
        elif template is not None:
            spec["template"] = template
        spec.update(desired)
    else:
        spec = desired
    spec = _merged_spec(spec, doc.pop("spec", None))
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": meta, "spec": spec, **doc}


def pod_from_legacy(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    doc.pop("currentState", None)
    doc.pop("kind", None)
    doc.pop("apiVersion", None)
    meta = _metadata(doc)
    spec = _merged_spec(_pod_spec(doc.pop("desiredState", {})), doc.pop("spec", None))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, **doc}


def service_from_legacy(doc: dict[str, Any]) -> dict[str, Any]:
    """``port`` / ``containerPort`` / ``selector`` / ``createExternalLoadBalancer`` -> v1."""
    doc = dict(doc)
    for key in ("kind", "apiVersion", "currentState"):
        doc.pop(key, None)
    meta = _metadata(doc)
    spec: dict[str, Any] = {}
    if "port" in doc:
        port: dict[str, Any] = {"port": doc.pop("port"), "protocol": doc.pop("protocol", "TCP")}
        if "containerPort" in doc:
            port["targetPort"] = doc.pop("containerPort")
        spec["ports"] = [port]
    if "selector" in doc:
        spec["selector"] = doc.pop("selector")
    if doc.pop("createExternalLoadBalancer", False) is True:
        spec["type"] = "LoadBalancer"
    spec = _merged_spec(spec, doc.pop("spec", None))
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec, **doc}
