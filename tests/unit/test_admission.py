"""Admission: what the pod runtime and Compute Engine would refuse, said before a VM is asked for."""

from __future__ import annotations

from typing import Any

import pytest

from functions.api.admission import (
    MAX_METADATA_TOTAL,
    RESERVED_METADATA,
    metadata_items,
    pod_problems,
)
from functions.api.parse import parse_pod
from functions.api.pod import Pod
from functions.config import Settings
from tests.helpers import pod_doc

SETTINGS = Settings(project="unit")


def pod(**changes: Any) -> Pod:
    doc = pod_doc("web-abcde", {"app": "web"})
    for path, value in changes.items():
        target = doc
        *parents, last = path.split("__")
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value
    parsed = parse_pod(doc, "default", "web-abcde")
    assert parsed.obj is not None, parsed.errors
    return parsed.obj


def problems(p: Pod, own_vm: Any = None, settings: Settings = SETTINGS) -> list[str]:
    return pod_problems(p, "default", "web-abcde", settings, own_vm)


def test_a_plain_pod_has_no_problems() -> None:
    assert problems(pod()) == []


def test_machine_type_outside_the_allowlist_lists_the_allowed_ones() -> None:
    [message] = problems(pod(metadata__annotations={"firecontrol.io/machine-type": "c3-standard-176"}))
    assert message.startswith("metadata.annotations['firecontrol.io/machine-type']: 'c3-standard-176' is not allowed")
    assert "e2-micro, e2-small, e2-medium, e2-standard-2" in message
    assert problems(pod(metadata__annotations={"firecontrol.io/machine-type": "e2-medium"})) == []
    wider = Settings(project="unit", machine_types=("n2-highmem-128",))
    assert problems(pod(metadata__annotations={"firecontrol.io/machine-type": "n2-highmem-128"}), settings=wider) == []


@pytest.mark.parametrize("zone", ["us-central1-\u0430", "US-CENTRAL1-A", "us-central1-a\n", "", "us-central1"])
def test_zone_that_is_not_a_zone(zone: str) -> None:
    [message] = problems(pod(metadata__annotations={"firecontrol.io/zone": zone}))
    assert message.startswith("metadata.annotations['firecontrol.io/zone']:") and "is not a zone" in message


def test_zone_out_of_the_region() -> None:
    [message] = problems(pod(metadata__annotations={"firecontrol.io/zone": "europe-west1-b"}))
    assert "is not in this installation's region 'us-central1'" in message
    assert problems(pod(metadata__annotations={"firecontrol.io/zone": "us-central1-f"})) == []


def test_node_name_is_refused_unless_it_is_the_pods_own_vm() -> None:
    [message] = problems(pod(spec__nodeName="someone-elses-vm"))
    assert message.startswith("spec.nodeName: 'someone-elses-vm' is not this pod's VM")
    assert problems(pod(spec__nodeName="fc-web-abcde-x"), own_vm="fc-web-abcde-x") == []
    assert problems(pod(spec__nodeName="old-name"), own_vm=("new-name", "old-name")) == []


def test_uid_that_cannot_label_a_vm() -> None:
    [message] = problems(pod(metadata__uid="Not A Label"))
    assert message.startswith("metadata.uid: 'Not A Label' cannot label the pod's VM")


@pytest.mark.parametrize("name", ["a", "x", "9"])
def test_one_character_container_name_is_refused_as_docker_does(name: str) -> None:
    doc = pod_doc("p", {"a": "b"})
    doc["spec"]["containers"][0]["name"] = name
    [message] = parse_pod(doc, "default", "p").errors
    assert message.startswith("spec.containers[0].name:") and "docker refuses a name of one character" in message


@pytest.mark.parametrize("image", ["NGINX", "nginx:", "a b", "-a", "nginx:тег"])
def test_image_docker_would_refuse(image: str) -> None:
    doc = pod_doc("p", {"a": "b"})
    doc["spec"]["containers"][0]["image"] = image
    [message] = parse_pod(doc, "default", "p").errors
    assert message.startswith("spec.containers[0].image:") and "not a docker image reference" in message


def test_env_over_the_vm_metadata_limit() -> None:
    env = [{"name": f"V{i}", "value": "x" * 30_000} for i in range(30)]  # 900 kB
    [message] = problems(pod(spec__containers=[{"name": "web", "image": "nginx", "env": env}]))
    assert message.startswith("spec.containers: the pod's names, images, commands, args and env come to")
    assert f"{MAX_METADATA_TOTAL} (512 KiB)" in message
    fits = [{"name": f"V{i}", "value": "x" * 30_000} for i in range(16)]  # 480 kB
    assert problems(pod(spec__containers=[{"name": "web", "image": "nginx", "env": fits}])) == []


def test_metadata_items_are_what_the_vm_carries() -> None:
    """The size check counts exactly the entries vm_spec makes from the pod, and what
    vm_spec and the provider add on their own fits in the reserve."""
    from functions.cloudprovider.gce import HARDENING_METADATA
    from functions.vm_spec import instance_spec, pod_metadata

    p = pod(spec__containers=[
        {"name": "web", "image": "nginx", "command": ["sh", "-c"], "args": ["a", "b"],
         "env": [{"name": "A", "value": "1"}]},
        {"name": "side", "image": "busybox:1.36", "restartPolicy": "x"},
    ], spec__restartPolicy="OnFailure")
    mine = {key: value for _, key, value in metadata_items(p, "default", "web-abcde")}
    assert mine == {"firecontrol-pod": "default/web-abcde", **pod_metadata(p)}
    vm = instance_spec(p, "fc").metadata
    own = {**{k: v for k, v in vm.items() if k not in mine}, **HARDENING_METADATA}
    assert sum(len(k.encode()) + len(v.encode()) for k, v in own.items()) <= RESERVED_METADATA


def test_host_ports_travel_as_one_entry_of_redirects() -> None:
    """A hostPort other than its containerPort is one line ``tcp|udp HOST_PORT CONTAINER_PORT``
    of ``fc-host-ports`` (the agent's REDIRECTs); one equal to it needs none; no line, no key."""
    from functions.vm_spec import pod_metadata

    p = pod(spec__containers=[
        {"name": "web", "image": "nginx", "ports": [{"containerPort": 80, "hostPort": 8000},
                                                    {"containerPort": 443, "hostPort": 443}]},
        {"name": "dns", "image": "coredns", "ports": [{"containerPort": 53, "hostPort": 5353, "protocol": "UDP"}]},
    ])
    entries = [(path, value) for path, key, value in metadata_items(p, "default", "web-abcde") if key == "fc-host-ports"]
    assert entries == [("spec.containers[*].ports[*].hostPort", "tcp 8000 80\nudp 5353 53")]
    assert pod_metadata(p)["fc-host-ports"] == "tcp 8000 80\nudp 5353 53"
    same = pod(spec__containers=[{"name": "web", "image": "nginx", "ports": [{"containerPort": 80, "hostPort": 80}]}])
    assert "fc-host-ports" not in pod_metadata(same)
