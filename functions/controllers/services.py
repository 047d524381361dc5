"""The service controller: a Service of ``type: LoadBalancer`` gets a network load balancer.

Nothing in the cloud is forgotten (Kubernetes #2984, #4689, #53451): the finalizer
is on the document *before* the first cloud resource is made, and comes off only
after the load balancer is gone, so a deleted or changed service always leads back
here; and a whole-document write that drops the finalizer with the type is caught from
the event's old value (or, its event lost, by resync's listing of load balancers).
``decide`` is the pure decision; ``sync_service`` is the I/O around it.
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

from functions.api.meta import Condition, selector_matches, set_condition
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
    Owner,
    PermanentError,
    TCPLoadBalancer,
    TemporaryError,
)
from functions.cloudprovider import names as cloud_names
from functions.config import Settings
from functions.controllers.service_ports import (
    Member,
    host_of,
    members_of,
    plan_port_maps,
    remove_port_maps,
    write_port_map,
)
from functions.logs import ref_fields
from functions.objects import GuardedSync, Retry, doc_uid, event_for
from functions.pod_policy import PodInfo
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
FINALIZER = "firecontrol.io/load-balancer"
READY = "LoadBalancerReady"

Action = Literal["invalid", "ensure", "teardown", "probe", "nothing"]
UNSUPPORTED = "UnsupportedFields"
UPDATED = ("UpdatedLoadBalancer", "Updated load balancer with new hosts")  # Kubernetes' service controller's words


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
    # A teardown the document alone no longer asks for (a whole-document write dropped the
    # finalizer and the status): what the old value recorded, and whose the resources are.
    was: ServiceStatus | None = None
    owner_uid: str | None = None


def _holds(data: dict[str, Any]) -> bool:
    """The document says a load balancer may exist: our finalizer, or an ingress IP."""
    meta = data.get("metadata")
    raw = meta.get("finalizers") if isinstance(meta, dict) else None
    return (isinstance(raw, list) and FINALIZER in raw) or bool(parse_service_status(data).load_balancer.ingress)


def _wanted(data: dict[str, Any], namespace: str, name: str) -> bool:
    parsed = parse_service(data, namespace, name)
    return parsed.obj is not None and parsed.obj.wants_load_balancer


def decide(doc: Doc, previous: dict[str, Any] | None = None) -> Decision:
    """What a pass must do for a service document: from the document, and from
    ``previous`` (the event's old value) when the document alone no longer says a load
    balancer may exist."""
    parsed = parse_service(doc.data, doc.namespace, doc.name)
    deleting = _being_deleted(doc)
    holds = _holds(doc.data)
    if deleting:
        others = [f for f in _finalizers(doc) if f != FINALIZER]
        return Decision("teardown", parsed.obj, remove_document=not others)
    if parsed.obj is None or parsed.errors:
        return Decision("invalid", errors=parsed.errors)
    if parsed.obj.wants_load_balancer:
        return Decision("ensure", parsed.obj, add_finalizer=FINALIZER not in _finalizers(doc))
    if holds:
        return Decision("teardown", parsed.obj)
    if previous is not None and _holds(previous):
        # The finalizer went with the type in one write: the old value says what was made.
        old = Doc(doc.path, previous, doc.update_time, doc.create_time)
        return Decision("teardown", parsed.obj, was=parse_service_status(previous), owner_uid=doc_uid(old))
    if previous and _wanted(previous, doc.namespace, doc.name):
        # It wanted one and had no finalizer yet: none should exist (the finalizer is written
        # first), but a pass racing this write may have made one: ask the cloud.
        owner = doc_uid(Doc(doc.path, previous, doc.update_time, doc.create_time))
        return Decision("probe", parsed.obj, owner_uid=owner)
    return Decision("nothing", parsed.obj)


def hosts_for(service: Service, pods: list[PodInfo]) -> list[str]:
    """The VMs of the Running pods the selector matches, sorted, each once."""
    return sorted({h for h in (host_of(service, p) for p in pods) if h is not None})


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

    def __init__(self, store: Store, lb: CloudProvider, settings: Settings, clock: Clock, settle: bool = True,
                 previous: dict[str, Any] | None = None) -> None:
        super().__init__(store, clock)
        self.lb, self.settings, self.settle, self.previous = lb, settings, settle, previous

    def absent(self) -> ServiceResult:
        return ServiceResult()

    def _status_write(self, doc: Doc, status: ServiceStatus, extra: dict[str, Any] | None = None) -> list[Write]:
        fields = dict(extra or {})
        if status.to_doc() != doc.data.get("status"):
            fields["status"] = status.to_doc()
        return [Update(doc.path, fields, if_updated_at=doc.update_time)] if fields else []

    def one_pass(self, doc: Doc) -> ServiceResult:
        decision = decide(doc, self.previous)
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
        if decision.action == "probe":
            return self._probe(doc, decision, old, now)
        return ServiceResult()

    def _probe(self, doc: Doc, decision: Decision, old: ServiceStatus, now: datetime) -> ServiceResult:
        """Ask the cloud whether this service's load balancer is there (its forwarding rule:
        one GET, as cloud-provider-gcp's ``GetLoadBalancer``); if so, tear it down, only
        the resources its owner uid describes."""
        name = load_balancer_name(doc.namespace, doc.name)
        if self.lb.get_load_balancer(name, self.settings.region) is None:
            return ServiceResult()
        log.info("load balancer found for a service that wants none", extra=ref_fields(KIND, doc.namespace, doc.name))
        teardown = Decision("teardown", decision.service, was=ServiceStatus(load_balancer_name=name),
                            owner_uid=decision.owner_uid)
        return self._teardown(doc, teardown, old, now)

    def _ensure(self, doc: Doc, decision: Decision, old: ServiceStatus, now: datetime) -> ServiceResult:
        service = decision.service
        assert service is not None
        # The hosts the last pass recorded (its port maps' members), before this pass moves them.
        before = {m.host for m in old.port_map.members} if old.port_map and old.load_balancer.ingress else None
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
        known = old.load_balancer.ingress[0].ip if old.load_balancer.ingress else None
        if known and service.spec.load_balancer_ip in (None, known):
            # The IP is known: a joining pod gets its redirect before its place in the pool
            # (a leaver keeps its own until it is out: the pass after the hosts removes it).
            old = old.model_copy(update={"port_map": self._apply_port_maps(doc, service, known, members, left_out,
                                                                           old, remove=False)})
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
            elif before is not None and before != {m.host for m in port_map.members}:
                writes.append(self.event(doc, *UPDATED))
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
                         old: ServiceStatus, remove: bool = True) -> PortMapStatus:
        """Write the port map where it is missing or stale, remove it from VMs that left
        (unless ``remove`` is False: they are still recorded, for a later call); what stands
        is recorded, so the next pass writes nothing if nothing changed."""
        plan = plan_port_maps(service, ip, members, old.port_map.members if old.port_map else [])
        written = list(plan.keep) + ([] if remove else list(plan.remove))
        for member, value, digest in plan.write:
            if write_port_map(self.lb, self.settings.cluster, doc.namespace, doc.name, member.host, member.pod,
                              member.uid, value):
                written.append(PortMapMember(host=member.host, pod=member.pod, uid=member.uid, digest=digest))
        for gone in plan.remove if remove else []:
            write_port_map(self.lb, self.settings.cluster, doc.namespace, doc.name, gone.host, gone.pod, gone.uid, None)
        if plan.write or (remove and plan.remove):
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
        had = FINALIZER in _finalizers(doc) or bool(old.load_balancer.ingress) or decision.was is not None
        recorded = decision.was or old  # what the old value recorded, when the document lost it
        name = load_balancer_name(doc.namespace, doc.name)
        conflict: list[Write] = []
        if had:
            try:
                name = choose_load_balancer_name(self.lb, self.settings.region, doc.namespace, doc.name, recorded)
                uid = _delete_uid(name, doc.namespace, doc.name, decision.owner_uid or doc_uid(doc))
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
        self._remove_port_maps(doc, recorded)
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


def sync_service(store: Store, lb: CloudProvider, settings: Settings, namespace: str, name: str, clock: Clock,
                 settle: bool = True, previous: dict[str, Any] | None = None) -> ServiceResult:
    """``settle``: read the pods again after writing the hosts (see ``_settle_hosts``);
    resync, which comes back every minute anyway, spares itself that read. ``previous``:
    the event's old value (``{}`` for a creation; None when there is no event: resync, a
    pod's change): a load balancer it held is torn down even if the new value lost the
    finalizer, and fields the service keeps but does not use are reported when they
    change. Resync needs no old value: it lists the load balancers, and one under the
    name of a service that holds none is garbage (``resync.service_items``)."""
    sync = ServiceSync(store, lb, settings, clock, settle, previous)
    result = sync.run(namespace, name)
    if previous is not None and sync.doc is not None:
        report_unsupported(store, sync.doc, previous, clock())
    return result


def report_unsupported(store: Store, doc: Doc, previous: dict[str, Any], now: datetime) -> bool:
    """A Warning ``UnsupportedFields`` event, in the controllers' words, when the fields the
    Service model keeps but does not use are new in this write (not on every pass)."""
    unknown = sorted(parse_service(doc.data, doc.namespace, doc.name).unknown)
    if not unknown or unknown == sorted(parse_service(previous, doc.namespace, doc.name).unknown):
        return False
    message = ("fields not supported, kept but ignored: " + ", ".join(unknown))[:1000]
    store.record([event_for(KIND, doc.namespace, doc.name, doc_uid(doc), UNSUPPORTED, message, "Warning")], now)
    log.warning("fields not supported", extra=ref_fields(KIND, doc.namespace, doc.name, fields=unknown))
    return True


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
