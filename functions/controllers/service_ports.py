"""Service port maps on the member VMs (docs/agent-protocol.md §1): which pods are behind a
service, each service port's target port on each of them (a named ``targetPort`` resolved
against that pod's container ports, as Kubernetes' ``FindPort``), and the ``fc-svc-{h}``
metadata line the pod agent turns into iptables redirects. ``plan_port_maps`` is the pure
decision; ``write_port_map`` the one Compute call, owner-checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from functions.api.meta import selector_matches
from functions.api.names import GCE_NAME, zone_or_none
from functions.api.service import PortMapMember, Service
from functions.cloudprovider import CloudProvider, NotFoundError, Owner, PermanentError
from functions.cloudprovider import names as cloud_names
from functions.logs import ref_fields
from functions.objects import doc_uid
from functions.pod_policy import PodInfo, as_dict, as_list
from functions.store import Doc

log = logging.getLogger("firecontrol.services")

KIND = "Service"
POD_KIND = "Pod"  # the kind written on a pod's VM (pods.py's KIND; not imported: pods imports services)


def host_of(service: Service, pod: PodInfo) -> str | None:
    """The pod's VM as a load balancer host (``zones/Z/instances/N`` when the VM is in a
    zone of its own), if the pod is a Running one the selector matches."""
    if not pod.node_name or pod.phase != "Running" or pod.being_deleted:
        return None
    if not selector_matches(service.spec.selector, pod.labels):
        return None
    return f"zones/{pod.vm_zone}/instances/{pod.node_name}" if pod.vm_zone else pod.node_name


@dataclass(frozen=True)
class Member:
    """A pod behind the service: its VM, whose it is, and each service port's target there."""

    host: str
    pod: str
    uid: str
    vm_id: str
    targets: tuple[int, ...]


def _container_ports(data: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(name, number, protocol) of every named container port of a pod document."""
    found = []
    for container in as_list(as_dict(data.get("spec")).get("containers")):
        for port in as_list(as_dict(container).get("ports")):
            port = as_dict(port)
            name, number, protocol = port.get("name"), port.get("containerPort"), port.get("protocol", "TCP")
            if isinstance(name, str) and type(number) is int and 1 <= number <= 65535:
                found.append((name, number, protocol))
    return found


def resolve_targets(service: Service, data: dict[str, Any]) -> tuple[int, ...] | str:
    """Each service port's target port on this pod, in order; or the first named target it
    lacks (a container port of that name and protocol), as Kubernetes' ``FindPort``."""
    ports = _container_ports(data)
    targets = []
    for port in service.spec.ports:
        target = port.target
        if isinstance(target, str):
            number = next((n for name, n, proto in ports if name == target and proto == port.protocol), None)
            if number is None:
                return target
            target = number
        targets.append(target)
    return tuple(targets)


def members_of(service: Service, docs: list[Doc]) -> tuple[list[Member], dict[str, str]]:
    """The service's member pods, by host; and the pods left out for want of a named target
    port (pod -> the port name): Kubernetes gives such a pod no endpoint."""
    members: dict[str, Member] = {}
    left_out: dict[str, str] = {}
    for doc in docs:
        host = host_of(service, PodInfo.from_doc(doc))
        if host is None:
            continue
        targets = resolve_targets(service, doc.data)
        if isinstance(targets, str):
            left_out[doc.name] = targets
            continue
        vm_id = as_dict(doc.data.get("status")).get("vmId")
        members[host] = Member(host, doc.name, doc_uid(doc), vm_id if isinstance(vm_id, str) else "", targets)
    return [members[h] for h in sorted(members)], left_out


def port_map_value(service: Service, ip: str, targets: tuple[int, ...]) -> str:
    """The metadata value: ``tcp|udp LB_IP PORT TARGET``, one line per service port."""
    return "\n".join(f"{p.protocol.lower()} {ip} {p.port} {t}" for p, t in zip(service.spec.ports, targets, strict=True))


def port_map_digest(vm_id: str, value: str) -> str:
    """Changes when the lines do or when the VM was made again under its name."""
    return cloud_names.name_hash(f"{vm_id}\n{value}", 12)


@dataclass(frozen=True)
class PortMapPlan:
    write: list[tuple[Member, str, str]]  # (member, value, digest)
    remove: list[PortMapMember]  # VMs that left: their key goes
    keep: list[PortMapMember]  # written before and still right


def plan_port_maps(service: Service, ip: str, members: list[Member], applied: list[PortMapMember]) -> PortMapPlan:
    """Which member VMs need the port map written, and which lost it."""
    before = {m.host: m for m in applied}
    write, keep = [], []
    for member in members:
        value = port_map_value(service, ip, member.targets)
        digest = port_map_digest(member.vm_id, value)
        had = before.get(member.host)
        if had is not None and (had.pod, had.uid, had.digest) == (member.pod, member.uid, digest):
            keep.append(had)
        else:
            write.append((member, value, digest))
    hosts = {m.host for m in members}
    return PortMapPlan(write, [m for h, m in sorted(before.items()) if h not in hosts], keep)


def _vm_of(host: str) -> tuple[str, str | None] | None:
    """(name, zone or None) of a host as recorded; None for anything malformed (the
    status is user-writable: nothing but a plain VM name reaches Compute)."""
    parts = host.split("/")
    if len(parts) == 4 and parts[0] == "zones" and parts[2] == "instances" and zone_or_none(parts[1]):
        name, zone = parts[3], parts[1]
    elif len(parts) == 1:
        name, zone = host, None
    else:
        return None
    return (name, zone) if GCE_NAME.match(name) and len(name) <= cloud_names.MAX_NAME else None


def write_port_map(cloud: CloudProvider, cluster: str, namespace: str, service: str, host: str, pod: str,
                   uid: str, value: str | None) -> bool:
    """Set (or, with None, remove) the service's key on the pod's VM, only if the VM is that
    pod's. False when it was not written: the VM is gone or not that pod's (logged)."""
    vm = _vm_of(host)
    if vm is None:
        return False
    owner = Owner(cluster=cluster, namespace=namespace, kind=POD_KIND, name=pod, uid=uid)
    key = cloud_names.service_ports_key(namespace, service)
    try:
        cloud.set_instance_metadata(vm[0], vm[1], {key: value}, owner=owner)
    except NotFoundError:
        return False  # the VM is gone: nothing to map, nothing to clean
    except PermanentError as error:
        log.warning("port map not written", extra=ref_fields(KIND, namespace, service, vm=host, pod=pod, error=str(error)))
        return False
    return True


def remove_port_maps(cloud: CloudProvider, cluster: str, namespace: str, service: str,
                     recorded: list[PortMapMember]) -> None:
    for member in recorded:
        write_port_map(cloud, cluster, namespace, service, member.host, member.pod, member.uid, None)
    if recorded:
        log.info("port maps removed", extra=ref_fields(KIND, namespace, service, members=len(recorded)))
