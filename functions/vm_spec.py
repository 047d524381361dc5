"""A pod as a Compute Engine VM: its name, machine, labels, and containers as metadata.

The VM boots Container-Optimized OS; cloud-init (``user-data``) installs a fixed
systemd unit and launcher (``functions/vm/launch.sh``) that starts the containers.
The user's strings never enter the cloud-config or the script: each one is its own
metadata value (``fc-c0-image``, ``fc-c0-arg1``, ...) that the launcher reads as data.
The ``gce-container-declaration`` agent is deprecated and is not used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import yaml

from functions.api.names import zone_or_none
from functions.api.pod import Pod
from functions.cloudprovider import names
from functions.cloudprovider.interface import InstanceSpec, Owner

COS_IMAGE = "projects/cos-cloud/global/images/family/cos-stable"
DEFAULT_MACHINE_TYPE = "e2-small"
MACHINE_TYPE_ANNOTATION = "firecontrol.io/machine-type"
PREEMPTIBLE_ANNOTATION = "firecontrol.io/preemptible"
ZONE_ANNOTATION = "firecontrol.io/zone"
POD_LABEL = names.POD_LABEL
NAMESPACE_LABEL = names.NAMESPACE_LABEL
_RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}
_LAUNCHER = Path(__file__).parent / "vm" / "launch.sh"
_UNIT = """[Unit]
Description=firecontrol pod containers
Wants=network-online.target docker.service
After=network-online.target docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/bash /var/lib/firecontrol/launch.sh

[Install]
WantedBy=multi-user.target
"""


def instance_name(cluster: str, namespace: str, pod: str) -> str:
    """``{cluster}-{head of pod}-{10 base36 of sha256("namespace/pod")}``, at most 63
    characters, the same every time; pods in two namespaces never share it in practice."""
    return names.instance_name(cluster, namespace, pod)


def legacy_instance_name(cluster: str, namespace: str, pod: str) -> str:
    """The name versions before issue 10 gave a pod's VM (4 hex of the namespace: they
    collide); a pod whose ``spec.nodeName`` is this keeps its VM."""
    name = f"{cluster}-{hashlib.sha256(namespace.encode()).hexdigest()[:4]}-{pod}"
    if len(name) <= 63:
        return name
    return f"{name[: 63 - 9].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def own_vm_names(cluster: str, namespace: str, pod: str) -> tuple[str, ...]:
    """The names firecontrol may have given this pod's VM: today's, then the legacy one."""
    return instance_name(cluster, namespace, pod), legacy_instance_name(cluster, namespace, pod)


@cache
def cloud_config() -> str:
    """The VM's ``user-data``: identical for every pod, built from no user input."""
    config = {
        "write_files": [
            {"path": "/var/lib/firecontrol/launch.sh", "permissions": "0755", "content": _LAUNCHER.read_text()},
            {"path": "/etc/systemd/system/firecontrol-pod.service", "permissions": "0644", "content": _UNIT},
        ],
        "runcmd": [["systemctl", "daemon-reload"], ["systemctl", "start", "firecontrol-pod.service"]],
    }
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)


def pod_metadata(pod: Pod) -> dict[str, str]:
    """The containers as flat metadata values: one key per string, counts as digits."""
    items: dict[str, str] = {
        "fc-containers": str(len(pod.spec.containers)),
        "fc-restart-policy": _RESTART[pod.spec.restart_policy],
    }
    for i, container in enumerate(pod.spec.containers):
        prefix = f"fc-c{i}"
        items[f"{prefix}-name"] = container.name
        items[f"{prefix}-image"] = container.image
        items[f"{prefix}-env"] = str(len(container.env))
        for j, env in enumerate(container.env):
            items[f"{prefix}-env{j}-name"] = env.name
            items[f"{prefix}-env{j}-value"] = env.value
        items[f"{prefix}-command"] = str(len(container.command))
        for j, word in enumerate(container.command):
            items[f"{prefix}-command{j}"] = word
        items[f"{prefix}-args"] = str(len(container.args))
        for j, word in enumerate(container.args):
            items[f"{prefix}-arg{j}"] = word
    return items


def machine_type(pod: Pod, default: str = DEFAULT_MACHINE_TYPE) -> str:
    return pod.metadata.annotations.get(MACHINE_TYPE_ANNOTATION, default)


def pod_zone(annotations: Mapping[str, str]) -> str | None:
    """The zone a pod asks for (None: the configured one); ValueError names a bad one."""
    asked = annotations.get(ZONE_ANNOTATION)
    zone = zone_or_none(asked)
    if asked is not None and zone is None:
        raise ValueError(f"metadata.annotations[{ZONE_ANNOTATION!r}]: {str(asked)[:80]!r} is not a zone such as 'us-central1-a'")
    return zone


def instance_spec(pod: Pod, cluster: str, default_machine_type: str = DEFAULT_MACHINE_TYPE, *, uid: str = "",
                  vm_name: str | None = None, external_ip: bool = False,
                  service_account: str | None = None) -> InstanceSpec:
    """The VM for ``pod`` (whose uid is ``uid``), named ``vm_name`` or ``instance_name``."""
    namespace, name = pod.metadata.namespace or "default", pod.name
    return InstanceSpec(
        name=vm_name or instance_name(cluster, namespace, name),
        machine_type=machine_type(pod, default_machine_type),
        image=COS_IMAGE,
        metadata={"user-data": cloud_config(), "firecontrol-pod": f"{namespace}/{name}", **pod_metadata(pod)},
        labels={POD_LABEL: name, NAMESPACE_LABEL: namespace},
        preemptible=pod.metadata.annotations.get(PREEMPTIBLE_ANNOTATION, "false").lower() == "true",
        zone=pod_zone(pod.metadata.annotations),
        owner=Owner(cluster=cluster, namespace=namespace, kind="Pod", name=name, uid=uid),
        external_ip=external_ip,
        service_account=service_account,
    )
