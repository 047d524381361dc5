"""Helpers for the CLI tests: fixture paths, the result of a run, reading Firestore back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_FIXTURES = Path(__file__).parent.parent / "fixtures"


@dataclass
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]


def data(store: Store, path: str) -> dict[str, Any] | None:
    snapshot = store.client.document(path).get()
    return snapshot.to_dict() if snapshot.exists else None


def names(store: Store, collection: str, namespace: str = "default") -> list[str]:
    return sorted(s.id for s in store.client.collection(f"namespaces/{namespace}/{collection}").stream())


def nothing_written(store: Store) -> bool:
    """Not one document of any kind in any namespace."""
    return all(not list(store.client.collection_group(c).limit(1).stream())
               for c in ("replicationControllers", "pods", "services", "events"))
