"""Discovery: what a client asks before anything else (``/version``, ``/api``, ``/apis``,
the resource lists), built from the one resources table.

Answered as plain ``application/json``: client-go first asks for the aggregated form
(``as=APIGroupDiscoveryList``), sees a plain answer and falls back to these documents,
which every client version reads.
"""

from __future__ import annotations

import platform
from typing import Any

from functions.kubeapi import resources
from functions.kubeapi.resources import Resource
from functions.kubeapi.status import ApiError, not_found

MAJOR, MINOR = "1", "32"
GIT_VERSION = "v1.32.0-firecontrol"
# The apiserver lists a subresource's verbs apart from its parent's.
SUBRESOURCE_VERBS = {"scale": ["get", "patch", "update"], "status": ["get", "patch", "update"], "log": ["get"]}


def version() -> dict[str, Any]:
    """``/version``: what ``kubectl version`` prints; Kubernetes' fields, our build."""
    return {
        "major": MAJOR,
        "minor": MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": "unknown",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": f"python{platform.python_version()}",
        "compiler": platform.python_implementation().lower(),
        "platform": f"{platform.system().lower()}/{platform.machine().lower()}",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    """``/api``: the core group's one version."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name: str) -> dict[str, Any]:
    versions = [
        {"groupVersion": gv, "version": gv.split("/", 1)[1]}
        for gv in resources.GROUP_VERSIONS if gv.startswith(f"{name}/")
    ]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def _groups() -> list[str]:
    return sorted({gv.split("/", 1)[0] for gv in resources.GROUP_VERSIONS if "/" in gv})


def api_group_list() -> dict[str, Any]:
    """``/apis``: the named groups (``apps``)."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g) for g in _groups()]}


def api_group(name: str) -> dict[str, Any] | None:
    """``/apis/{group}``, or None for a group we do not serve."""
    if name not in _groups():
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def _entries(resource: Resource) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": sorted(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    out = [entry]
    for sub in sorted(resource.subresources):
        item: dict[str, Any] = {
            "name": f"{resource.plural}/{sub}",
            "singularName": "",
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": SUBRESOURCE_VERBS[sub],
        }
        if sub == "scale":
            item.update(group="autoscaling", version="v1", kind="Scale")
        out.append(item)
    return out


def resource_list(group_version: str) -> dict[str, Any] | None:
    """``/api/v1`` or ``/apis/{group}/{version}``: every resource and subresource served."""
    served = resources.of_group_version(group_version)
    if not served:
        return None
    entries = [e for r in sorted(served, key=lambda r: r.plural) for e in _entries(r)]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}


def answer(path: str, server_address: str) -> dict[str, Any] | None:
    """The discovery document at ``path``, or None if it is not a discovery path.
    A discovery-shaped path for a group or version we do not serve is a 404."""
    parts = [p for p in path.split("/") if p]
    if parts == ["version"]:
        return version()
    if parts == ["api"]:
        return api_versions(server_address)
    if parts == ["apis"]:
        return api_group_list()
    if len(parts) == 2 and parts[0] == "api":
        return _or_missing(resource_list(parts[1]))
    if len(parts) == 2 and parts[0] == "apis":
        return _or_missing(api_group(parts[1]))
    if len(parts) == 3 and parts[0] == "apis":
        return _or_missing(resource_list(f"{parts[1]}/{parts[2]}"))
    return None


def _or_missing(found: dict[str, Any] | None) -> dict[str, Any]:
    if found is None:
        raise missing()
    return found


def missing() -> ApiError:
    """The apiserver's 404 for a path it does not serve at all."""
    error = not_found("", "")
    error.message = "the server could not find the requested resource"
    return error
