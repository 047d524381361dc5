"""A request path as the apiserver reads it: which resource, namespace, name, subresource.

    /api/v1/namespaces/{ns}/{plural}[/{name}[/{subresource}]]
    /apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}[/{subresource}]]
    /api/v1/{plural}                  (every namespace: list and watch)
    /api/v1/namespaces[/{name}[/status]]
    /api/v1/watch/...                 (the old watch prefix: the same with watch=true)
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.kubeapi import resources
from functions.kubeapi.resources import Resource
from functions.kubeapi.status import ApiError, not_found


@dataclass(frozen=True)
class Route:
    resource: Resource
    namespace: str | None  # None: every namespace (or a namespace itself, which has none)
    name: str | None
    subresource: str | None = None
    watch_prefix: bool = False

    @property
    def is_collection(self) -> bool:
        return self.name is None


def _missing(path: str) -> ApiError:
    error = not_found("", "")
    error.message = "the server could not find the requested resource"
    error.kind = ""
    return error


def parse(path: str) -> Route:
    """The route of a resource path; ``ApiError`` 404 for anything we do not serve."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise _missing(path)
    watch_prefix = bool(rest) and rest[0] == "watch"
    if watch_prefix:
        rest = rest[1:]
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and resources.find(group, version, rest[2]) is not None:
        namespace, rest = rest[1], rest[2:]  # /namespaces/{ns}/{plural}...; else the namespace itself
    if not rest or len(rest) > 3:
        raise _missing(path)
    resource = resources.find(group, version, rest[0])
    if resource is None:
        raise _missing(path)
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) == 3 else None
    if sub is not None and sub not in resource.subresources:
        raise _missing(path)
    if resource.namespaced and namespace is None and name is not None:
        raise _missing(path)  # a namespaced object is always addressed in its namespace
    if not resource.namespaced and namespace is not None:
        raise _missing(path)
    return Route(resource, namespace, name, sub, watch_prefix)
