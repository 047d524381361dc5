"""ResourceQuota enforcement: what a namespace holds, and whether one more pod fits.

Usage is counted, not listed: Firestore aggregations (one read per 1,000 documents
matched) of the namespace's pods that hold or will hold a VM (every pod but the
Failed and Succeeded ones), and per machine type of the allowlist for ``cpu`` and
``memory`` (a pod without the annotation has the installation's default type). Only
when a namespace is over a quota are documents read, to decide which pods came first.

Who enforces what:
- the replication manager creates no pod over quota (``ControllerAdmission``), and
  writes each quota's ``status`` in the same guarded commit as the pods it creates, so
  two controllers creating at once in one namespace cannot both take the last room;
  a controller beyond ``count/replicationcontrollers`` (the newest ones) creates none;
- the pod runtime asks ``quota_problems_for_pod`` before it makes a VM (bare pods);
- the service controller asks ``quota_problems_for_service`` before a load balancer.

An invalid quota refuses everything it would limit (fail closed): a typo must not
lift a cost guard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from functions.api.admission import MACHINE_TYPE_ANNOTATION
from functions.api.machines import machine
from functions.api.parse import parse_quota
from functions.api.pod import Pod
from functions.api.quota import Resource, format_quantity
from functions.config import Settings
from functions.store import CONTROLLERS, PODS, QUOTAS, SERVICES, Doc, Store, Update, Write

FINISHED = ["Failed", "Succeeded"]
POD_RESOURCES: frozenset[Resource] = frozenset({"pods", "cpu", "memory"})
Request = dict[Resource, Decimal | None]  # None: a machine type of unknown size


@dataclass(frozen=True)
class Quota:
    doc: Doc
    name: str
    limits: list[tuple[str, Resource, Decimal]] = field(default_factory=list)
    error: str | None = None  # an invalid quota: it refuses all it would limit

    @property
    def resources(self) -> set[Resource]:
        if self.error is not None:
            return set(POD_RESOURCES)
        return {resource for _, resource, _ in self.limits}


def read_quotas(store: Store, namespace: str) -> list[Quota]:
    """The namespace's quotas (one read when there are none), in name order."""
    quotas = []
    for doc in store.in_namespace(namespace, QUOTAS):
        parsed = parse_quota(doc.data, namespace, doc.name)
        if parsed.obj is None:
            quotas.append(Quota(doc, doc.name, error="; ".join(parsed.errors)))
        else:
            quotas.append(Quota(doc, doc.name, parsed.obj.limits()))
    return sorted(quotas, key=lambda q: q.name)


def machine_type_of(annotations: Mapping[str, Any], settings: Settings) -> str:
    asked = annotations.get(MACHINE_TYPE_ANNOTATION)
    return asked if isinstance(asked, str) else settings.machine_type


def pod_request(machine_type: str) -> Request:
    """What one pod takes: one pod, and its VM's vCPUs and memory."""
    size = machine(machine_type)
    return {
        "pods": Decimal(1),
        "cpu": Decimal(size.vcpus) if size else None,
        "memory": size.memory_bytes if size else None,
    }


def _machine_types(settings: Settings) -> list[str]:
    return list(dict.fromkeys([*settings.machine_types, settings.machine_type]))


def usage(store: Store, namespace: str, settings: Settings, resources: Iterable[Resource]) -> dict[Resource, Decimal | None]:
    """What the namespace holds of each resource (None: cannot be told, a machine type of
    unknown size is in use). Costs one aggregation per count: 2 for pods, 2 more per
    allowed machine type for cpu or memory, 1 for controllers, a read per service for
    services."""
    wanted = set(resources)
    used: dict[Resource, Decimal | None] = {}
    if wanted & POD_RESOURCES:
        active = store.count_matching(namespace, PODS) - _finished(store, namespace)
        used["pods"] = Decimal(active)
        if wanted & {"cpu", "memory"}:
            used.update(_machine_usage(store, namespace, settings, active))
    if "replicationcontrollers" in wanted:
        used["replicationcontrollers"] = Decimal(store.count_matching(namespace, CONTROLLERS))
    if wanted & {"services", "services.loadbalancers"}:
        services = store.select_in_namespace(namespace, SERVICES, SERVICE_FIELDS)
        used["services"] = Decimal(len(services))
        used["services.loadbalancers"] = Decimal(sum(wants_load_balancer(s.data) for s in services))
    return {resource: used.get(resource) for resource in wanted}


def _finished(store: Store, namespace: str, *filters: tuple[tuple[str, ...], str, Any]) -> int:
    return store.count_matching(namespace, PODS, [*filters, (("status", "phase"), "in", FINISHED)])


def _machine_usage(store: Store, namespace: str, settings: Settings, active: int) -> dict[Resource, Decimal | None]:
    cpu, memory = Decimal(0), Decimal(0)
    typed = 0
    unknown = False
    for name in _machine_types(settings):
        annotated = ((("metadata", "annotations", MACHINE_TYPE_ANNOTATION), "==", name),)
        count = store.count_matching(namespace, PODS, annotated) - _finished(store, namespace, *annotated)
        typed += count
        size = machine(name)
        if count and size is None:
            unknown = True
        elif size is not None:
            cpu += size.vcpus * count
            memory += size.memory_bytes * count
    # The rest: no annotation (the default type), or a type outside the allowlist,
    # which admission refuses; counted at the default's size until then.
    rest = max(0, active - typed)
    default = machine(settings.machine_type)
    if rest and default is None:
        unknown = True
    elif default is not None:
        cpu += default.vcpus * rest
        memory += default.memory_bytes * rest
    return {"cpu": None, "memory": None} if unknown else {"cpu": cpu, "memory": memory}


SERVICE_FIELDS = (("spec", "type"), ("spec", "createExternalLoadBalancer"), ("createExternalLoadBalancer",))


def wants_load_balancer(data: Mapping[str, Any]) -> bool:
    """A service that holds or will hold a load balancer (v1 or the 2014 flag)."""
    spec = data.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    return spec.get("type") == "LoadBalancer" or spec.get("createExternalLoadBalancer") is True or (
        data.get("createExternalLoadBalancer") is True
    )


@dataclass(frozen=True)
class Exceeded:
    """A quota that refuses a request, and the numbers that say why."""

    quota: str
    requested: list[tuple[str, Resource, Decimal | None]]
    used: dict[Resource, Decimal | None]
    limits: list[tuple[str, Resource, Decimal]]
    error: str | None = None

    def message(self, plural: str, name: str) -> str:
        """As Kubernetes says it: ``pods "web-" is forbidden: exceeded quota: compute,
        requested: pods=1, used: pods=5, limited: pods=5``."""
        if self.error is not None:
            return f'{plural} "{name}" is forbidden: failed quota: {self.quota}: {self.error}'[:1000]
        unknown = [key for key, _, amount in self.requested if amount is None]
        unknown += [key for key, resource, _ in self.limits if self.used.get(resource) is None]
        if unknown:
            return (f'{plural} "{name}" is forbidden: failed quota: {self.quota}: '
                    f"{','.join(sorted(set(unknown)))} of this machine type are not known")
        requested = ",".join(f"{key}={_show(resource, amount)}" for key, resource, amount in self.requested)
        used = ",".join(f"{key}={_show(resource, self.used.get(resource))}" for key, resource, _ in self.limits)
        limited = ",".join(f"{key}={_show(resource, hard)}" for key, resource, hard in self.limits)
        return (f'{plural} "{name}" is forbidden: exceeded quota: {self.quota}, '
                f"requested: {requested}, used: {used}, limited: {limited}")


def _show(resource: Resource, amount: Decimal | None) -> str:
    return "?" if amount is None else format_quantity(resource, amount)


def exceeded(quotas: Iterable[Quota], used: Mapping[Resource, Decimal | None], request: Request,
             count: int = 1) -> Exceeded | None:
    """The first quota (by name) that ``count`` more of ``request`` would exceed, or None."""
    for quota in quotas:
        if quota.error is not None:
            if set(request) & quota.resources:
                return Exceeded(quota.name, [], dict(used), [], error=quota.error)
            continue
        failed = []
        for key, resource, hard in quota.limits:
            if resource not in request:
                continue
            amount, have = request[resource], used.get(resource)
            if amount is None or have is None or have + amount * count > hard:
                failed.append((key, resource, hard))
        if failed:
            return Exceeded(
                quota.name,
                [(key, resource, request[resource]) for key, resource, _ in failed],
                dict(used),
                failed,
            )
    return None


@dataclass(frozen=True)
class ControllerAdmission:
    """What one controller's pass may create: read when it wants to create pods."""

    quotas: list[Quota]
    used: dict[Resource, Decimal | None]
    refused: str | None = None  # the controller itself is beyond count/replicationcontrollers

    def allowed(self, request: Request, want: int, pod_prefix: str) -> tuple[int, str | None]:
        """How many of ``want`` pods fit, and if not all, the message for the first that does not."""
        if self.refused is not None:
            return 0, self.refused
        fits = 0
        while fits < want and exceeded(self.quotas, self.used, request, fits + 1) is None:
            fits += 1
        if fits == want:
            return fits, None
        after = dict(self.used)
        for _ in range(fits):
            after = _plus(after, request)
        over = exceeded(self.quotas, after, request)
        return fits, over.message("pods", pod_prefix) if over else None

    def writes(self, request: Request, created: int) -> list[Write]:
        """Each quota's status after the pass, guarded by the quota's update time: two passes
        creating at once in one namespace both write it, so only one of them commits."""
        writes: list[Write] = []
        for quota in self.quotas:
            if quota.error is not None:
                continue
            hard, used = {}, {}
            after = dict(self.used)
            for _ in range(created):
                after = _plus(after, request)
            for key, resource, limit in quota.limits:
                have = after.get(resource)
                hard[key] = format_quantity(resource, limit)
                if have is not None:
                    used[key] = format_quantity(resource, have)
            meta = quota.doc.data.get("metadata")
            version = meta.get("resourceVersion") if isinstance(meta, dict) else None
            number = int(version) if isinstance(version, str) and version.isdigit() else 0
            fields = {"status": {"hard": hard, "used": used}, "metadata.resourceVersion": str(number + 1)}
            writes.append(Update(quota.doc.path, fields, if_updated_at=quota.doc.update_time))
        return writes


def for_controller(store: Store, rc: Doc, settings: Settings) -> ControllerAdmission | None:
    """The quotas a controller's creating pass must respect; None when the namespace has none.
    (A ReplicaSet's pods count as any pods; ``count/replicationcontrollers`` is only
    replication controllers'.)"""
    quotas = read_quotas(store, rc.namespace)
    if not quotas:
        return None
    resources: set[Resource] = set()
    for quota in quotas:
        resources |= quota.resources
    if rc.path.split("/")[2:3] != [CONTROLLERS]:
        resources.discard("replicationcontrollers")
    used = usage(store, rc.namespace, settings, resources & (POD_RESOURCES | {"replicationcontrollers"}))
    refused = None
    if "replicationcontrollers" in resources:
        refused = _controller_refused(store, rc, quotas, used.get("replicationcontrollers"))
    return ControllerAdmission(quotas, {r: u for r, u in used.items() if r in POD_RESOURCES}, refused)


def _controller_refused(store: Store, rc: Doc, quotas: list[Quota], count: Decimal | None) -> str | None:
    """Beyond ``count/replicationcontrollers``, the newest controllers (by document creation)
    are the ones refused, as Kubernetes would have refused to create them."""
    request: Request = {"replicationcontrollers": Decimal(1)}
    if count is None or exceeded(quotas, {"replicationcontrollers": count - 1}, request) is None:
        return None
    docs = store.select_in_namespace(rc.namespace, CONTROLLERS, (("metadata", "name"),))
    older = sum((d.create_time, d.name) < (rc.create_time, rc.name) for d in docs)
    over = exceeded(quotas, {"replicationcontrollers": Decimal(older)}, request)
    return over.message("replicationcontrollers", rc.name) if over else None


POD_FIELDS = (("metadata", "annotations", MACHINE_TYPE_ANNOTATION), ("status", "phase"))


def quota_problems_for_pod(store: Store, namespace: str, pod: Doc | Pod, settings: Settings) -> list[str]:
    """Why the pod may not have a VM under the namespace's quotas ([] when it may).

    Called by the pod runtime before it makes a pod's VM. The pod itself is counted (it
    exists); when the namespace is over a quota, the pods created first keep their room
    and this pod is refused if it comes after the limit.
    """
    name, annotations, created = _pod_facts(pod)
    quotas = [q for q in read_quotas(store, namespace) if q.resources & POD_RESOURCES]
    if not quotas:
        return []
    resources: set[Resource] = set()
    for quota in quotas:
        resources |= quota.resources & POD_RESOURCES
    request = {r: a for r, a in pod_request(machine_type_of(annotations, settings)).items() if r in resources}
    used = usage(store, namespace, settings, resources)
    if exceeded(quotas, _minus(used, request), request) is None:
        return []
    # Over a quota: the pods that came before this one keep their room.
    earlier: dict[Resource, Decimal | None] = {r: Decimal(0) for r in resources}
    for doc in store.select_in_namespace(namespace, PODS, POD_FIELDS):
        status, meta = doc.data.get("status"), doc.data.get("metadata")
        if doc.name == name or (status.get("phase") if isinstance(status, dict) else None) in FINISHED:
            continue
        if created is not None and (doc.create_time, doc.name) > (created, name):
            continue
        theirs = meta.get("annotations") if isinstance(meta, dict) else None
        earlier = _plus(earlier, pod_request(machine_type_of(theirs if isinstance(theirs, dict) else {}, settings)))
    over = exceeded(quotas, earlier, request)
    return [over.message("pods", name)] if over else []


def _plus(used: Mapping[Resource, Decimal | None], request: Request, sign: int = 1) -> dict[Resource, Decimal | None]:
    total: dict[Resource, Decimal | None] = {}
    for resource, have in used.items():
        amount = request.get(resource, Decimal(0))
        total[resource] = None if have is None or amount is None else have + sign * amount
    return total


def _minus(used: Mapping[Resource, Decimal | None], request: Request) -> dict[Resource, Decimal | None]:
    return _plus(used, request, -1)


def _pod_facts(pod: Doc | Pod) -> tuple[str, Mapping[str, Any], Any]:
    if isinstance(pod, Doc):
        meta = pod.data.get("metadata")
        annotations = meta.get("annotations") if isinstance(meta, dict) else None
        return pod.name, annotations if isinstance(annotations, dict) else {}, pod.create_time
    return pod.name, pod.metadata.annotations, pod.metadata.creation_timestamp


def quota_problems_for_service(store: Store, namespace: str, service: Doc, settings: Settings) -> list[str]:
    """Why the service may not have a load balancer under the namespace's quotas ([] when it
    may). Called by the service controller before it makes the load balancer; when over,
    the services created first keep theirs."""
    quotas = [q for q in read_quotas(store, namespace)
              if q.error is None and q.resources & {"services", "services.loadbalancers"}]
    if not quotas or not wants_load_balancer(service.data):
        return []
    services = store.select_in_namespace(namespace, SERVICES, SERVICE_FIELDS)
    earlier = [s for s in services if (s.create_time, s.name) < (service.create_time, service.name)]
    used: dict[Resource, Decimal | None] = {
        "services": Decimal(len(earlier)),
        "services.loadbalancers": Decimal(sum(wants_load_balancer(s.data) for s in earlier)),
    }
    over = exceeded(quotas, used, {"services": Decimal(1), "services.loadbalancers": Decimal(1)})
    return [over.message("services", service.name)] if over else []
