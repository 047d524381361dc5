"""Property: any template the controller accepts makes pods that the pod runtime, docker and
Compute Engine accept, so the controller can never create pods only to see them fail.

Templates are generated with the inputs that made the create, fail, delete loop: one-letter
and unicode container names, Cyrillic and out-of-region zones, ``spec.nodeName``,
machine types outside the allowlist, env near and over the VM metadata limits.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.compute import catalog, limits
from emulator.compute.errors import ApiError
from functions.api.admission import pod_problems
from functions.api.parse import parse_pod
from functions.cloudprovider.gce import HARDENING_METADATA
from functions.config import Settings
from functions.controllers.pods import PodSync
from functions.controllers.replication import plan_sync
from functions.store import Create, Doc
from functions.vm_spec import instance_spec

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(project="unit", cluster="fc", slow_start=False, burst=2)
DOCKER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")



def mostly(valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a valid value, so that many templates are accepted and their pods checked."""
    return st.integers(min_value=0, max_value=9).flatmap(lambda n: valid if n < 7 else hostile)


NAMES = mostly(
    st.sampled_from(["ab", "web", "web-1", "side-car", "a" * 63, "x9"]),
    st.sampled_from(["a", "x", "9", "-web", "web-", "Web", "w\u0435b", "\u0436", "web_1", "web.1", "a" * 64, ""])
    | st.text(max_size=6),
)
IMAGES = mostly(
    st.sampled_from(["nginx", "nginx:1.27", "busybox@sha256:" + "a" * 64, "localhost:5000/x/y:v1", "b"]),
    st.sampled_from(["NGINX", "nginx:", "a b", "nginx:\u0442\u0435\u0433", "nginx\n", " "]) | st.text(max_size=8),
)
ZONES = mostly(
    st.sampled_from(["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"]),
    st.sampled_from(["us-central1-\u0430", "\u0443s-central1-a", "europe-west1-b", "us-central1-a\n",
                     "us-central1", "", "US-CENTRAL1-A"]),
)
MACHINES = mostly(
    st.sampled_from(["e2-micro", "e2-small", "e2-medium", "e2-standard-2"]),
    st.sampled_from(["c3-standard-176", "n2-highmem-128", "E2-MICRO", "e2-micro ", ""]),
)
VALUES = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=1, max_value=32_768).map(lambda n: "x" * n),
    st.integers(min_value=1, max_value=16_384).map(lambda n: "\u0436" * n),  # 2 bytes a letter
    st.just("\U0001f600" * 32_768),  # 4 bytes a letter: 128 KiB in one value
)
ENV = st.lists(st.fixed_dictionaries({"name": st.sampled_from(["A", "B_1", "PATH"]), "value": VALUES}), max_size=8)


@st.composite
def templates(draw: st.DrawFn) -> dict[str, Any]:
    containers = [
        {"name": draw(NAMES), "image": draw(IMAGES), "env": draw(ENV),
         "args": draw(st.lists(VALUES, max_size=3))}
        for _ in range(draw(st.integers(min_value=1, max_value=2)))
    ]
    if len({c["name"] for c in containers}) < len(containers) and draw(st.booleans()):
        containers = containers[:1]
    spec: dict[str, Any] = {"containers": containers}
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        spec["nodeName"] = draw(st.sampled_from(["fc-web", "vm-1", ""]))
    annotations: dict[str, str] = {}
    if draw(st.booleans()):
        annotations["firecontrol.io/zone"] = draw(ZONES)
    if draw(st.booleans()):
        annotations["firecontrol.io/machine-type"] = draw(MACHINES)
    metadata: dict[str, Any] = {"labels": {"app": "web"}}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": draw(st.sampled_from(["web", "w", "web-frontend"]))},
        "spec": {"replicas": 2, "selector": {"app": "web"}, "template": {"metadata": metadata, "spec": spec}},
    }


def runtime_problems(create: Create, namespace: str, name: str) -> list[str]:
    """What the pod runtime itself says of the pod: parse, then its own check."""
    doc = Doc(create.path, create.data, NOW, NOW)
    parsed = parse_pod(doc.data, namespace, name)
    if parsed.obj is None:
        return parsed.errors
    runtime = PodSync(cast(Any, None), cast(Any, None), SETTINGS, lambda: NOW)
    return runtime._problems(doc, parsed.obj) + pod_problems(parsed.obj, namespace, name, SETTINGS)


def compute_refuses(create: Create, namespace: str, name: str) -> str | None:
    """What Compute Engine (the strict emulator's rules) would refuse in the pod's VM."""
    parsed = parse_pod(create.data, namespace, name)
    assert parsed.obj is not None
    vm = instance_spec(parsed.obj, SETTINGS.cluster, SETTINGS.machine_type, uid=str(create.data["metadata"]["uid"]))
    zone = vm.zone or SETTINGS.zone
    if catalog.machine_type(zone, vm.machine_type) is None:
        return f"machine type {vm.machine_type} in {zone}"
    items = [{"key": k, "value": v} for k, v in {**vm.metadata, **HARDENING_METADATA}.items()]
    try:
        limits.check_metadata({"items": items})
        limits.check_labels(vm.labels)
    except ApiError as error:
        return str(error)
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(doc=templates(), namespace=mostly(st.sampled_from(["default", "team-24"]), st.sampled_from(["Team", "t" * 64])))
def test_a_template_the_controller_accepts_makes_pods_everyone_accepts(doc: dict[str, Any], namespace: str) -> None:
    name = doc["metadata"]["name"]
    plan = plan_sync(Doc(f"namespaces/{namespace}/replicationControllers/{name}", doc, NOW, NOW), [], SETTINGS, NOW)
    creates = [w for w in plan.writes if isinstance(w, Create)]
    if plan.errors:
        assert creates == []  # refused: not one pod
        return
    assert creates, "a valid controller short of pods creates some"
    for create in creates:
        pod_name = create.path.rsplit("/", 1)[1]
        assert runtime_problems(create, namespace, pod_name) == []
        for container in create.data["spec"]["containers"]:
            assert DOCKER_NAME.fullmatch(container["name"]), container["name"]
        assert compute_refuses(create, namespace, pod_name) is None
