"""Documents in, Kubernetes objects out, for the resource a route names.

The codec itself is ``functions.served`` (shared with the CLI's ``get -o json``);
this adds where a resource's documents live and the reads every verb starts from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from functions.kubeapi.resources import Resource
from functions.served import served_object

if TYPE_CHECKING:
    from functions.store import Doc, Store

Query = Mapping[str, str]  # the request's query parameters, first value of each


@dataclass
class Reply:
    """What a verb answers: the code, the JSON body, and ``Warning`` headers to add
    (each a message; ``app`` formats them as ``299 - "message"``)."""

    code: int
    body: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def collection_of(resource: Resource) -> str:
    if resource.stored is None:
        raise ValueError(f"{resource.plural} are not stored per namespace")
    return resource.stored.collection


def path_of(resource: Resource, namespace: str, name: str) -> str:
    return f"namespaces/{namespace}/{collection_of(resource)}/{name}"


MAX_ID_BYTES = 1500  # Firestore's limit on a document id


def valid_id(name: str) -> bool:
    """A name Firestore can hold as a document id: not empty, no ``/``, not ``.`` or
    ``..``, not ``__x__``, at most 1,500 bytes. Anything else is stored nowhere, so it
    reads as absent (and a query naming it would be refused: InvalidArgument)."""
    return (
        bool(name) and "/" not in name and name not in (".", "..")
        and not (name.startswith("__") and name.endswith("__"))
        and len(name.encode("utf-8", "surrogatepass")) <= MAX_ID_BYTES
    )


def valid_namespace(namespace: str) -> bool:
    """A name a namespace can have (a DNS label, so also a document id): no other one
    exists, so what is addressed in it is not found (docs/kube-api.md §9)."""
    from functions.api.names import namespace_problem

    return valid_id(namespace) and namespace_problem(namespace) is None


def load(store: Store, resource: Resource, namespace: str, name: str) -> Doc | None:
    """The stored document, or None; a name or namespace that cannot be stored reads as absent."""
    if not valid_namespace(namespace) or not valid_id(name):
        return None
    return store.get(path_of(resource, namespace, name))


def serve(resource: Resource, doc: Doc) -> dict[str, Any]:
    """The object a client sees for a stored document."""
    if resource.stored is None:
        raise ValueError(f"{resource.plural} are not served from a kind's documents")
    return served_object(resource.stored, doc.data, doc.path, doc.create_time, doc.update_time)
