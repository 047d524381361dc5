"""Small test helpers: controller documents, waiting, and reading pods back."""

from __future__ import annotations

import copy
import json
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from functions.cloudprovider.errors import TemporaryError
from functions.pod_policy import PodInfo, filter_active_pods
from functions.store import CONTROLLERS, PODS, Store, doc_path

FIXTURES = Path(__file__).parent / "fixtures"
T = TypeVar("T")


def fixture(name: str) -> dict[str, Any]:
    text = (FIXTURES / name).read_text()
    data: dict[str, Any] = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
    return data


def rc_doc(name: str, replicas: int, app: str | None = None, **spec: Any) -> dict[str, Any]:
    app = app or name
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"app": app},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
            **spec,
        },
    }


def pod_doc(name: str, labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        "status": {"phase": "Pending"},
    }
    for key, value in extra.items():
        doc[key] = value
    return doc


def write_rc(store: Store, doc: dict[str, Any], namespace: str = "default") -> str:
    path = doc_path(namespace, CONTROLLERS, doc["metadata"]["name"] if "metadata" in doc else doc["id"])
    store.client.document(path).set(doc)
    return path


def pods(store: Store, namespace: str = "default") -> list[PodInfo]:
    from functions.store import Doc

    snapshots = store.client.collection(f"namespaces/{namespace}/{PODS}").stream()
    return [
        PodInfo.from_doc(Doc(s.reference.path, s.to_dict() or {}, s.update_time, s.create_time))
        for s in snapshots
    ]


def active(store: Store, namespace: str = "default") -> list[PodInfo]:
    return filter_active_pods(pods(store, namespace))


def rc_data(store: Store, name: str, namespace: str = "default") -> dict[str, Any]:
    snapshot = store.client.document(doc_path(namespace, CONTROLLERS, name)).get()
    return snapshot.to_dict() or {}


def wait_for(check: Callable[[], T], timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll until ``check`` returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    assert value, f"condition not met in {timeout} s (last value: {value!r})"
    return value


class CrashAfter:
    """A real cloud provider, except that the pass dies right after one call succeeded."""

    def __init__(self, real: Any, method: str) -> None:
        self.real, self.method = real, method

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.real, name)
        if name != self.method:
            return call

        def crashing(*args: Any, **kwargs: Any) -> Any:
            call(*args, **kwargs)
            raise TemporaryError(f"killed after {name}")

        return crashing


class CrashBefore(CrashAfter):
    """A real cloud provider, except that the pass dies just before one call."""

    def __getattr__(self, name: str) -> Any:
        if name != self.method:
            return getattr(self.real, name)

        def crashing(*args: Any, **kwargs: Any) -> Any:
            raise TemporaryError(f"killed before {name}")

        return crashing


def required_tool(name: str) -> str:
    """The path of a tool the suite needs (kubectl comes with the Google Cloud CLI on every
    machine of this project): a missing one fails the test loudly, never skips it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed, and this test needs the real {name}")
    return path


_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def instants(value: Any) -> Any:
    """Timestamps as instants, so ``...Z`` and ``...+00:00`` compare equal."""
    from datetime import datetime

    if isinstance(value, dict):
        return {k: instants(v) for k, v in value.items()}
    if isinstance(value, list):
        return [instants(v) for v in value]
    if isinstance(value, str) and _TIME.match(value):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def client_round_trip(value: dict[str, Any], model: str) -> Any:
    """``value`` through the official kubernetes client's model ``model`` and back: the
    schema oracle (a field the model lacks, or names otherwise, does not come back)."""
    from kubernetes.client import ApiClient

    client = ApiClient()
    typed = client._ApiClient__deserialize(copy.deepcopy(value), model)  # type: ignore[attr-defined]
    return client.sanitize_for_serialization(typed)  # type: ignore[no-untyped-call]


def ok_json(reply: Any) -> dict[str, Any]:
    """The JSON body of a 200 reply from a Flask test client (its code checked first)."""
    assert reply.status_code == 200, reply.data
    assert reply.json is not None
    data: dict[str, Any] = reply.json
    return data
