"""The service controller: a Service of ``type: LoadBalancer`` gets a network load balancer.

Nothing in the cloud is forgotten (Kubernetes #2984, #4689, #53451): the finalizer
is on the document *before* the first cloud resource is made, and comes off only
after the load balancer is gone, so a deleted or changed service always leads back
here. ``decide`` is the pure decision; ``sync_service`` is the I/O around it.
Every member VM also carries the service's port map (``fc-svc-{h}``, read by the pod
agent, docs/agent-protocol.md); ``status.portMap`` records what was written where, so
a pass where nothing changed makes no Compute call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from functions.api.meta import Condition, selector_matches
from functions.api.names import GCE_NAME, zone_or_none
from functions.api.parse import parse_service, parse_service_status
from functions.api.service import (
    LoadBalancerIngress,
    LoadBalancerStatus,
    PortMapMember,
    PortMapStatus,
    Service,
    ServiceStatus,
)
from functions.cloudprovider import (
    CloudProvider,
    NameConflictError,
    NotFoundError,
    Owner,
    PermanentError,
    TCPLoadBalancer,
    TemporaryError,
)
from functions.cloudprovider import names as cloud_names
from functions.config import Settings
from functions.logs import ref_fields
from functions.objects import GuardedSync, Retry, doc_uid, set_condition
from functions.pod_policy import PodInfo, as_dict, as_list
from functions.quota import quota_problems_for_service
from functions.store import (
    SERVICES,
    Delete,
    Doc,
    Store,
    Update,
    Write,
    doc_path,
)

log = logging.getLogger("firecontrol.services")

KIND = "Service"
POD_KIND = "Pod"  # the kind written on a pod's VM (pods.py's KIND; not imported: pods imports us)
FINALIZER = "firecontrol.io/load-balancer"
READY = "LoadBalancerReady"

Action = Literal["invalid", "ensure", "teardown", "nothing"]


def load_balancer_name(namespace: str, name: str) -> str:
    """``{head of name}-{10 base36 of sha256("namespace/name")}``; the provider prefixes the
    cluster. Two services never share it in practice, and ownership is checked anyway."""
    return cloud_names.load_balancer_name(namespace, name)


def legacy_load_balancer_name(namespace: str, name: str) -> str:
    """``{4 hex of sha256(namespace)}-{name}``: the name older versions gave it."""
    return cloud_names.legacy_load_balancer_name(namespace, name)


def recorded_load_balancer_name(status: ServiceStatus, namespace: str, name: str) -> str | None:
    """The name ``status.loadBalancerName`` records, if it is one this service may use (the
    document is user-writable: anything but today's or the legacy name is ignored)."""
    recorded = status.load_balancer_name
    legal = (load_balancer_name(namespace, name), legacy_load_balancer_name(namespace, name))
    return recorded if recorded in legal else None


def choose_load_balancer_name(lb: TCPLoadBalancer, region: str, namespace: str, name: str,
                              status: ServiceStatus) -> str:
    """The recorded name; else, for a service that has an ingress IP from an older version,
    the legacy name when its forwarding rule is there at that IP (the load balancer and IP
    are kept, so DNS pointing at it does not break); else today's name."""
    recorded = recorded_load_balancer_name(status, namespace, name)
    if recorded is not None:
        return recorded
    ips = {i.ip for i in status.load_balancer.ingress if i.ip}
    if ips:
        legacy = legacy_load_balancer_name(namespace, name)
        if lb.get_load_balancer(legacy, region) in ips:
            return legacy
    return load_balancer_name(namespace, name)


def held_load_balancer_names(doc: Doc) -> set[str]:
    """The load balancer names a service may be using, for garbage collection: the recorded
    one; with no record yet, today's and (if it has an ingress IP) the legacy one."""
    status = parse_service_status(doc.data)
    recorded = recorded_load_balancer_name(status, doc.namespace, doc.name)
    if recorded is not None:
        return {recorded}
    held = {load_balancer_name(doc.namespace, doc.name)}
    if status.load_balancer.ingress:
        held.add(legacy_load_balancer_name(doc.namespace, doc.name))
    return held


def _delete_uid(name: str, namespace: str, service: str, uid: str | None) -> str | None:
    """The owner uid a teardown checks: none under the legacy name, whose older resources
    carry no uid (and whose name is this namespace's and service's alone)."""
    return None if name == legacy_load_balancer_name(namespace, service) else uid


def service_owner(doc: Doc, cluster: str) -> Owner:
    """Whose the load balancer is: written in every resource's description, checked before
    a resource is reused, repaired or deleted."""
    return Owner(cluster=cluster, namespace=doc.namespace, kind=KIND, name=doc.name, uid=doc_uid(doc))


def _finalizers(doc: Doc) -> list[str]:
    meta = doc.data.get("metadata")
    raw = meta.get("finalizers") if isinstance(meta, dict) else None
    return [f for f in raw if isinstance(f, str)] if isinstance(raw, list) else []


def _being_deleted(doc: Doc) -> bool:
    meta = doc.data.get("metadata")
    return isinstance(meta, dict) and meta.get("deletionTimestamp") is not None


@dataclass(frozen=True)
class Decision:
    action: Action
    service: Service | None = None
    add_finalizer: bool = False
    remove_document: bool = False  # after a teardown: the service was being deleted
    errors: list[str] = field(default_factory=list)


def decide(doc: Doc) -> Decision:
    """What a pass must do for a service document, from the document alone."""
    parsed = parse_service(doc.data, doc.namespace, doc.name)
    deleting = _being_deleted(doc)
    holds = FINALIZER in _finalizers(doc) or bool(parse_service_status(doc.data).load_balancer.ingress)
    if deleting:
        others = [f for f in _finalizers(doc) if f != FINALIZER]
        return Decision("teardown", parsed.obj, remove_document=not others)
    if parsed.obj is None or parsed.errors:
        return Decision("invalid", errors=parsed.errors)
    if parsed.obj.wants_load_balancer:
        return Decision("ensure", parsed.obj, add_finalizer=FINALIZER not in _finalizers(doc))
    if holds:
        return Decision("teardown", parsed.obj)
    return Decision("nothing", parsed.obj)


def _host(service: Service, pod: PodInfo) -> str | None:
    """The pod's VM as a load balancer host (``zones/Z/instances/N`` when the VM is in a
    zone of its own), if the pod is a Running one the selector matches."""
    if not pod.node_name or pod.phase != "Running" or pod.being_deleted:
        return None
    if not selector_matches(service.spec.selector, pod.labels):
        return None
    return f"zones/{pod.vm_zone}/instances/{pod.node_name}" if pod.vm_zone else pod.node_name


def hosts_for(service: Service, pods: list[PodInfo]) -> list[str]:
    """The VMs of the Running pods the selector matches, sorted, each once."""
    return sorted({h for h in (_host(service, p) for p in pods) if h is not None})


# -- port maps on the member VMs ---------------------------------------------------------


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
        host = _host(service, PodInfo.from_doc(doc))
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


def ready_status(old: ServiceStatus, ip: str, now: datetime, name: str | None = None) -> ServiceStatus:
    condition = Condition(type=READY, status="True", reason="EnsuredLoadBalancer", message=f"ingress {ip}")
    return old.model_copy(
        update={
            "load_balancer": LoadBalancerStatus(ingress=[LoadBalancerIngress(ip=ip)]),
            "load_balancer_name": name if name is not None else old.load_balancer_name,
            "conditions": set_condition(old.conditions, READY, condition, now),
        }
    )


def failed_status(old: ServiceStatus, reason: str, message: str, now: datetime) -> ServiceStatus:
    condition = Condition(type=READY, status="False", reason=reason, message=message[:1000])
    return old.model_copy(update={"conditions": set_condition(old.conditions, READY, condition, now)})


def torn_down_status(old: ServiceStatus, now: datetime) -> ServiceStatus:
    return old.model_copy(
        update={"load_balancer": LoadBalancerStatus(), "load_balancer_name": None, "port_map": None,
                "conditions": set_condition(old.conditions, READY, None, now)}
    )


@dataclass
class ServiceResult:
    action: Action = "nothing"
    ip: str | None = None
    error: str | None = None


Clock = Callable[[], datetime]


class ServiceSync(GuardedSync[ServiceResult]):
    """One service's pass: the I/O around ``decide``."""

    kind, collection = KIND, SERVICES

    def __init__(self, store: Store, lb: CloudProvider, settings: Settings, clock: Clock, settle: bool = True) -> None:
        super().__init__(store, clock)
        self.lb, self.settings, self.settle = lb, settings, settle

    def absent(self) -> ServiceResult:
        return ServiceResult()

    def _status_write(self, doc: Doc, status: ServiceStatus, extra: dict[str, Any] | None = None) -> list[Write]:
        fields = dict(extra or {})
        if status.to_doc() != doc.data.get("status"):
            fields["status"] = status.to_doc()
        return [Update(doc.path, fields, if_updated_at=doc.update_time)] if fields else []

    def one_pass(self, doc: Doc) -> ServiceResult:
        decision = decide(doc)
        old = parse_service_status(doc.data)
        now = self.clock()
        if decision.action == "invalid":
            message = "; ".join(decision.errors)
            writes = self._status_write(doc, failed_status(old, "InvalidSpec", message, now))
            if writes:
                self.commit([*writes, self.event(doc, "InvalidSpec", message, "Warning")])
            return ServiceResult("invalid", error=message)
        if decision.action == "ensure":
            return self._ensure(doc, decision, old, now)
        if decision.action == "teardown":
            return self._teardown(doc, decision, old, now)
        return ServiceResult()

    def _ensure(self, doc: Doc, decision: Decision, old: ServiceStatus, now: datetime) -> ServiceResult:
        service = decision.service
        assert service is not None
        if decision.add_finalizer:
            # Before any cloud resource exists, so no delete can miss it.
            self.commit([Update(doc.path, {"metadata.finalizers": [*_finalizers(doc), FINALIZER]}, doc.update_time)])
            raise Retry()
        if not old.load_balancer.ingress:  # one that has its load balancer keeps it
            over = quota_problems_for_service(self.store, doc.namespace, doc, self.settings)
            if over:
                return self._failed(doc, old, "ExceededQuota", "; ".join(over), now)
        members, left_out = self._members(doc, service)
        hosts = [m.host for m in members]
        name = choose_load_balancer_name(self.lb, self.settings.region, doc.namespace, doc.name, old)
        ports = [p.port for p in service.spec.ports]
        protocol = service.spec.ports[0].protocol
        try:
            ip = self.lb.ensure_load_balancer(
                name, self.settings.region, ports, hosts, owner=service_owner(doc, self.settings.cluster),
                protocol=protocol, load_balancer_ip=service.spec.load_balancer_ip,
                source_ranges=service.spec.source_ranges,
                session_affinity="CLIENT_IP" if service.spec.client_ip_affinity else "NONE",
            )
        except NameConflictError as error:
            return self._failed(doc, old, "NameConflict", str(error), now)
        except PermanentError as error:
            return self._failed(doc, old, "SyncLoadBalancerFailed", str(error), now)
        except TemporaryError as error:
            self._failed(doc, old, "SyncLoadBalancerFailed", f"will retry: {error}", now)
            raise
        if self.settle:
            members, left_out = self._settle_hosts(doc, service, name, members, left_out)
        port_map = self._apply_port_maps(doc, service, ip, members, left_out, old)
        status = ready_status(old, ip, now, name).model_copy(update={"port_map": port_map})
        writes = self._status_write(doc, status)
        if writes:
            previous = [i.ip for i in old.load_balancer.ingress]
            if previous != [ip]:
                writes.append(self.event(doc, "EnsuredLoadBalancer", f"load balancer {name} at {ip}"))
            newly_out = sorted(set(left_out) - set(old.port_map.left_out if old.port_map else []))
            if newly_out:
                shown = ", ".join(f"{pod} (no port {left_out[pod]!r})" for pod in newly_out[:10])
                writes.append(self.event(doc, "NamedPortNotFound", f"pods without the named target port get no "
                                         f"traffic: {shown}" + (" ..." if len(newly_out) > 10 else ""), "Warning"))
            self.commit(writes)
        log.info("load balancer ensured", extra=ref_fields(KIND, doc.namespace, doc.name, ip=ip, hosts=len(hosts), ports=ports))
        return ServiceResult("ensure", ip=ip)

    def _members(self, doc: Doc, service: Service) -> tuple[list[Member], dict[str, str]]:
        return members_of(service, self.store.pods_matching_or_owned(doc.namespace, service.spec.selector, None))

    def _settle_hosts(self, doc: Doc, service: Service, name: str, members: list[Member], left_out: dict[str, str],
                      rounds: int = 3) -> tuple[list[Member], dict[str, str]]:
        """Read the pods again after writing the hosts: a concurrent pass that read newer
        pods may have written before us, and ours, from older pods, must not stand."""
        for _ in range(rounds):
            now_members, now_left_out = self._members(doc, service)
            if [m.host for m in now_members] == [m.host for m in members]:
                return now_members, now_left_out
            members, left_out = now_members, now_left_out
            self.lb.update_hosts(name, self.settings.region, [m.host for m in members])
        return members, left_out

    def _apply_port_maps(self, doc: Doc, service: Service, ip: str, members: list[Member], left_out: dict[str, str],
                         old: ServiceStatus) -> PortMapStatus:
        """Write the port map where it is missing or stale, remove it from VMs that left;
        what stands is recorded, so the next pass writes nothing if nothing changed."""
        plan = plan_port_maps(service, ip, members, old.port_map.members if old.port_map else [])
        written = list(plan.keep)
        for member, value, digest in plan.write:
            if write_port_map(self.lb, self.settings.cluster, doc.namespace, doc.name, member.host, member.pod,
                              member.uid, value):
                written.append(PortMapMember(host=member.host, pod=member.pod, uid=member.uid, digest=digest))
        for gone in plan.remove:
            write_port_map(self.lb, self.settings.cluster, doc.namespace, doc.name, gone.host, gone.pod, gone.uid, None)
        if plan.write or plan.remove:
            log.info("port maps written", extra=ref_fields(KIND, doc.namespace, doc.name, writing=len(plan.write),
                                                          removing=len(plan.remove), members=len(written)))
        return PortMapStatus(members=sorted(written, key=lambda m: m.host), left_out=sorted(left_out))

    def _remove_port_maps(self, doc: Doc, old: ServiceStatus) -> None:
        """The service is going: its key leaves every VM it was written on."""
        recorded = old.port_map.members if old.port_map else []
        remove_port_maps(self.lb, self.settings.cluster, doc.namespace, doc.name, recorded)

    def _failed(self, doc: Doc, old: ServiceStatus, reason: str, message: str, now: datetime) -> ServiceResult:
        log.warning("load balancer failed", extra=ref_fields(KIND, doc.namespace, doc.name, error=message))
        writes = self._status_write(doc, failed_status(old, reason, message, now))
        if writes:
            self.commit([*writes, self.event(doc, reason, message, "Warning")])
        return ServiceResult("ensure", error=message)

    def _teardown(self, doc: Doc, decision: Decision, old: ServiceStatus, now: datetime) -> ServiceResult:
        had = FINALIZER in _finalizers(doc) or bool(old.load_balancer.ingress)
        name = load_balancer_name(doc.namespace, doc.name)
        conflict: list[Write] = []
        if had:
            try:
                name = choose_load_balancer_name(self.lb, self.settings.region, doc.namespace, doc.name, old)
                uid = _delete_uid(name, doc.namespace, doc.name, doc_uid(doc))
                self.lb.ensure_load_balancer_deleted(name, self.settings.region, owner_uid=uid)
            except NameConflictError as error:
                # Ours are gone; what is left under the name is someone else's and stays.
                log.warning("load balancer resources not ours: left alone", extra=ref_fields(KIND, doc.namespace, doc.name, error=str(error)))
                conflict = [self.event(doc, "NameConflict", str(error)[:1000], "Warning")]
            except PermanentError as error:
                return self._failed(doc, old, "DeleteLoadBalancerFailed", str(error), now)
            except TemporaryError as error:
                self._failed(doc, old, "DeleteLoadBalancerFailed", f"will retry: {error}", now)
                raise
        self._remove_port_maps(doc, old)
        writes: list[Write]
        if decision.remove_document:
            writes = [Delete(doc.path, if_updated_at=doc.update_time)]
        else:
            finalizers = [f for f in _finalizers(doc) if f != FINALIZER]
            writes = self._status_write(doc, torn_down_status(old, now), {"metadata.finalizers": finalizers})
        if had:
            writes += conflict or [self.event(doc, "DeletedLoadBalancer", f"load balancer {name} deleted")]
        self.commit(writes)
        log.info("load balancer deleted", extra=ref_fields(KIND, doc.namespace, doc.name, document_removed=decision.remove_document))
        return ServiceResult("teardown")


def services_selecting(store: Store, namespace: str, labels: dict[str, str]) -> list[str]:
    """Names of the services in a namespace with a load balancer whose selector matches these labels."""
    found = []
    for doc in store.in_namespace(namespace, SERVICES):
        decision = decide(doc)
        service = decision.service
        load_balanced = decision.action in ("ensure", "teardown") or FINALIZER in _finalizers(doc)
        if service is not None and load_balanced and selector_matches(service.spec.selector, labels):
            found.append(doc.name)
    return found


def remove_port_maps(cloud: CloudProvider, cluster: str, namespace: str, service: str,
                     recorded: list[PortMapMember]) -> None:
    for member in recorded:
        write_port_map(cloud, cluster, namespace, service, member.host, member.pod, member.uid, None)
    if recorded:
        log.info("port maps removed", extra=ref_fields(KIND, namespace, service, members=len(recorded)))


def sync_service(store: Store, lb: CloudProvider, settings: Settings, namespace: str, name: str, clock: Clock,
                 settle: bool = True) -> ServiceResult:
    """``settle``: read the pods again after writing the hosts (see ``_settle_hosts``);
    resync, which comes back every minute anyway, spares itself that read."""
    return ServiceSync(store, lb, settings, clock, settle).run(namespace, name)


def teardown_deleted(lb: CloudProvider, settings: Settings, namespace: str, name: str, old: dict[str, Any],
                     create_time: datetime | None = None) -> bool:
    """A service document deleted outright (no two-phase delete): still delete its load
    balancer, only the resources of that document (its uid, from ``metadata.uid`` or from
    the old document's ``create_time``); anything else under the name stays."""
    meta = old.get("metadata")
    finalizers = meta.get("finalizers") if isinstance(meta, dict) else None
    status = parse_service_status(old)
    if not (isinstance(finalizers, list) and FINALIZER in finalizers) and not status.load_balancer.ingress:
        return False
    uid: str | None = None
    if create_time is not None:
        uid = doc_uid(Doc(doc_path(namespace, SERVICES, name), old, create_time, create_time))
    elif isinstance(meta, dict) and isinstance(meta.get("uid"), str) and meta["uid"]:
        uid = meta["uid"]
    try:
        lb_name = choose_load_balancer_name(lb, settings.region, namespace, name, status)
        lb.ensure_load_balancer_deleted(lb_name, settings.region, owner_uid=_delete_uid(lb_name, namespace, name, uid))
    except NameConflictError as error:
        log.warning("deleted service's load balancer: resources not ours left alone",
                    extra=ref_fields(KIND, namespace, name, error=str(error)))
    remove_port_maps(lb, settings.cluster, namespace, name, status.port_map.members if status.port_map else [])
    log.info("deleted service's load balancer deleted", extra=ref_fields(KIND, namespace, name))
    return True
