"""A pod as a Compute Engine VM: its name, machine, labels, and containers as metadata.

The VM boots Container-Optimized OS; cloud-init (``user-data``) installs a fixed
systemd unit and the pod agent (``functions/vm/agent.sh``), which runs the containers
for the VM's life (docs/agent-protocol.md). The user's strings never enter the
cloud-config or the script: each one is its own metadata value (``fc-c0-image``,
``fc-c0-arg1``, ...) that the agent reads as data. The ``gce-container-declaration``
agent is deprecated and is not used.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import yaml

from functions.api.names import zone_or_none
from functions.api.pod import Pod
from functions.api.vm_metadata import metadata_entries
from functions.cloudprovider import names
from functions.cloudprovider.interface import InstanceSpec, Owner

COS_IMAGE = "projects/cos-cloud/global/images/family/cos-stable"
DEFAULT_MACHINE_TYPE = "e2-small"
MACHINE_TYPE_ANNOTATION = "firecontrol.io/machine-type"
PREEMPTIBLE_ANNOTATION = "firecontrol.io/preemptible"
ZONE_ANNOTATION = "firecontrol.io/zone"
POD_LABEL = names.POD_LABEL
NAMESPACE_LABEL = names.NAMESPACE_LABEL
AGENT_VERSION = "1"
_AGENT = Path(__file__).parent / "vm" / "agent.sh"
_AGENT_PATH = "/var/lib/firecontrol/agent.sh"
_UNIT = f"""[Unit]
Description=firecontrol pod agent (runs, probes and reports the pod's containers)
Wants=network-online.target docker.service
After=network-online.target docker.service

[Service]
Type=simple
Restart=always
RestartSec=5
ExecStart=/bin/bash {_AGENT_PATH}

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


def _packed_agent() -> str:
    """The agent gzipped (with no timestamp, so every VM gets the same bytes) in base64."""
    return base64.b64encode(gzip.compress(_AGENT.read_bytes(), mtime=0)).decode()


@cache
def cloud_config() -> str:
    """The VM's ``user-data``: identical for every pod, built from no user input."""
    config = {
        "write_files": [
            # Compressed: the agent is ~24 KB and all of firecontrol's own metadata must
            # fit admission's reserve (functions/api/admission.py RESERVED_METADATA).
            {"path": _AGENT_PATH, "permissions": "0755", "encoding": "gz+b64", "content": _packed_agent()},
            {"path": "/etc/systemd/system/firecontrol-agent.service", "permissions": "0644", "content": _UNIT},
        ],
        "runcmd": [["systemctl", "daemon-reload"], ["systemctl", "start", "firecontrol-agent.service"]],
    }
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)


def pod_metadata(pod: Pod) -> dict[str, str]:
    """The pod's spec as flat metadata values (``metadata_entries``)."""
    return {key: value for _, key, value in metadata_entries(pod)}


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
                  service_account: str | None = None, status_url: str | None = None,
                  heartbeat: int = 60) -> InstanceSpec:
    """The VM for ``pod`` (whose uid is ``uid``), named ``vm_name`` or ``instance_name``.

    With ``status_url`` the agent reports there every ``heartbeat`` seconds (and on every
    change); without it, it runs the containers and reports nothing (no ``fc-agent``)."""
    namespace, name = pod.metadata.namespace or "default", pod.name
    agent = {"fc-agent": AGENT_VERSION, "fc-status-url": status_url,
             "fc-heartbeat-seconds": str(heartbeat)} if status_url else {}
    return InstanceSpec(
        name=vm_name or instance_name(cluster, namespace, name),
        machine_type=machine_type(pod, default_machine_type),
        image=COS_IMAGE,
        metadata={"user-data": cloud_config(), "firecontrol-pod": f"{namespace}/{name}", **agent,
                  **pod_metadata(pod)},
        labels={POD_LABEL: name, NAMESPACE_LABEL: namespace},
        preemptible=pod.metadata.annotations.get(PREEMPTIBLE_ANNOTATION, "false").lower() == "true",
        zone=pod_zone(pod.metadata.annotations),
        owner=Owner(cluster=cluster, namespace=namespace, kind="Pod", name=name, uid=uid),
        external_ip=external_ip,
        service_account=service_account,
    )
