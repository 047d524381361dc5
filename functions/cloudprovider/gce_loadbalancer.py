"""External TCP/UDP load balancers on GCE, the way cloud-provider-gcp builds them.

Create order: address (unless the caller owns the IP), firewalls, HTTP health check,
target pool, forwarding rule LAST, so a forwarding rule never points at half a load
balancer. Delete order is the reverse, forwarding rule FIRST, tolerating 404. Each
step reads, compares and creates or repairs, so a pass killed between any two steps
and run again converges with no duplicates and nothing leaked. Hosts change by the
difference, in chunks of at most 1,000 instances.

Every resource's description names its owner (cluster, namespace, kind, name, uid,
load balancer). A resource found under our name (read, or after a 409) that names
anyone else is a ``NameConflictError``: it is never reused, repaired or deleted.
The service firewall admits the service's ports from ``source_ranges`` to the load
balancer's IP only; a second one (``-hc``) admits Google's health checkers.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.cloud import compute_v1

from . import hosts as hostdiff
from . import names
from .config import GceConfig
from .errors import (
    AlreadyExistsError,
    InvalidRequestError,
    NameConflictError,
    NotFoundError,
    TemporaryError,
)
from .gce_api import ComputeApi
from .gce_healthchecks import HttpHealthCheck
from .interface import Owner

log = logging.getLogger("firecontrol.cloudprovider")
PROTOCOLS = ("TCP", "UDP")
SESSION_AFFINITIES = ("NONE", "CLIENT_IP")
# Every pod VM's agent serves its pod's readiness here (docs/agent-protocol.md), as
# kube-proxy's healthz serves cloud-provider-gcp's checks: TCP and UDP services are
# checked by the pod's readiness, not by a GET on a service port.
HEALTH_CHECK_PORT = 10256
HEALTH_CHECK_PATH = "/healthz"
# Where legacy HTTP health checks (the only kind a target pool takes) come from.
HEALTH_CHECK_RANGES = ("35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22")
Hook = Callable[[str], None]


@dataclass(frozen=True)
class LoadBalancerSpec:
    """A validated request; building one makes no call, so bad input creates nothing."""

    name: str  # the caller's load balancer name
    resource: str  # the name of every cloud resource it owns
    region: str
    ports: tuple[int, ...]
    protocol: str
    user_ip: str | None
    owner: Owner
    source_ranges: tuple[str, ...] = ("0.0.0.0/0",)
    session_affinity: str = "NONE"

    @classmethod
    def build(cls, cluster: str, name: str, region: str, ports: Sequence[int], protocol: str,
              load_balancer_ip: str | None, owner: Owner, source_ranges: Sequence[str] = ("0.0.0.0/0",),
              session_affinity: str = "NONE") -> LoadBalancerSpec:
        resource = names.resource_name(cluster, name)
        if not ports or any(not isinstance(p, int) or not 1 <= p <= 65535 for p in ports):
            raise InvalidRequestError(f"load balancer {name!r}: ports must be 1-65535, got {list(ports)}")
        if protocol.upper() not in PROTOCOLS:
            raise InvalidRequestError(f"load balancer {name!r}: protocol must be one of {PROTOCOLS}, got {protocol!r}")
        if load_balancer_ip is not None:
            try:
                ipaddress.IPv4Address(load_balancer_ip)
            except ValueError:
                raise InvalidRequestError(f"load balancer {name!r}: {load_balancer_ip!r} is not an IPv4 address") from None
        if session_affinity not in SESSION_AFFINITIES:
            raise InvalidRequestError(f"load balancer {name!r}: session affinity must be one of {SESSION_AFFINITIES}, "
                                      f"got {session_affinity!r}")
        ranges: list[str] = []
        for cidr in source_ranges:
            try:
                ranges.append(str(ipaddress.IPv4Network(cidr, strict=False)))
            except ValueError:
                raise InvalidRequestError(f"load balancer {name!r}: source range {cidr!r:.60} is not an IPv4 CIDR") from None
        if not ranges:
            raise InvalidRequestError(f"load balancer {name!r}: at least one source range is needed")
        return cls(name, resource, region, tuple(sorted(set(ports))), protocol.upper(), load_balancer_ip, owner,
                   tuple(sorted(set(ranges))), session_affinity)

    @property
    def legacy(self) -> bool:
        """The name is the owner's legacy one: its resources from before uids are the owner's."""
        return self.name == names.legacy_load_balancer_name(self.owner.namespace, self.owner.name)

    @property
    def health_check_firewall(self) -> str:
        return names.health_check_firewall(self.resource)

    @property
    def port_range(self) -> str:
        return f"{self.ports[0]}-{self.ports[-1]}"


def _same(link_a: str, link_b: str) -> bool:
    """Two resource URLs name the same resource (hosts and API versions may differ)."""
    def path(link: str) -> str:
        return link[link.find("projects/"):]

    return path(link_a) == path(link_b)


class GceLoadBalancers:
    """``TCPLoadBalancer`` on Compute Engine. ``on_step`` is called after each step (tests)."""

    def __init__(self, api: ComputeApi, config: GceConfig, on_step: Hook | None = None) -> None:
        self.api = api
        self.config = config
        self.on_step = on_step or (lambda step: None)

    # -- generic steps ------------------------------------------------------------

    def _link(self, scope: str, collection: str, name: str) -> str:
        return f"{self.api.host}/compute/v1/projects/{self.config.project}/{scope}/{collection}/{name}"

    def _get(self, what: str, method: Callable[..., Any], **kwargs: Any) -> Any | None:
        try:
            return self.api.call(what, method, project=self.config.project, **kwargs)
        except NotFoundError:
            return None

    def _insert(self, what: str, method: Callable[..., Any], **kwargs: Any) -> bool:
        """Insert and wait: True if we created it now, False if it existed (409: an earlier pass)."""
        try:
            self.api.mutate(what, method, project=self.config.project, **kwargs)
        except AlreadyExistsError:
            log.info("already exists", extra={"call": what})
            return False
        return True

    def _read_existing(self, what: str, read: Callable[[], Any | None]) -> Any:
        """Read back what a 409 said exists, waiting out an insert that is still running."""
        for delay in (0.0, *self.config.retry_delays):
            if delay:
                self.api.sleep(delay)
            found = read()
            if found is not None:
                return found
        raise TemporaryError(f"{what}: it exists (409) but cannot be read yet")

    def _delete(self, what: str, method: Callable[..., Any], **kwargs: Any) -> bool:
        try:
            self.api.mutate(what, method, project=self.config.project, **kwargs)
        except NotFoundError:
            return False
        return True

    # -- reading ------------------------------------------------------------------

    def get_load_balancer(self, name: str, region: str) -> str | None:
        rule = self._get_rule(names.resource_name(self.config.cluster, name), region)
        return str(rule.I_p_address) if rule is not None else None

    def _get_rule(self, resource: str, region: str) -> compute_v1.ForwardingRule | None:
        return self._get(f"get forwarding rule {resource}", self.api.forwarding_rules.get,
                         region=region, forwarding_rule=resource)

    # -- ownership --------------------------------------------------------------------

    def _description(self, spec: LoadBalancerSpec) -> str:
        return names.description(self.config.cluster, spec.name, spec.owner)

    def _claim(self, spec: LoadBalancerSpec, kind: str, resource: str, found: Any) -> None:
        """A resource found under our name is reused or repaired only if it is this owner's."""
        text = str(getattr(found, "description", "") or "")
        if not names.describes(text, self.config.cluster, spec.name, spec.owner.uid, legacy=spec.legacy):
            raise NameConflictError(
                f"{kind} {resource} already exists and is not this load balancer's "
                f"(its description: {text[:200]!r}); it is left alone", status=409, reason="NameConflict")

    def _found_or_made(self, spec: LoadBalancerSpec, kind: str, resource: str, read: Callable[[], Any | None],
                       insert: Callable[[], bool]) -> tuple[Any | None, bool]:
        """Read; if absent insert; after a 409 read what is there. Whatever was found must be
        ours. Returns (what was found, None when we made it now; created now)."""
        found = read()
        if found is None:
            if insert():
                return None, True
            found = self._read_existing(f"insert {kind} {resource}", read)
        self._claim(spec, kind, resource, found)
        return found, False

    # -- ensure ---------------------------------------------------------------------

    def ensure_load_balancer(self, name: str, region: str, ports: Sequence[int], hosts: Sequence[str], *,
                             owner: Owner, protocol: str = "TCP", load_balancer_ip: str | None = None,
                             source_ranges: Sequence[str] = ("0.0.0.0/0",), session_affinity: str = "NONE") -> str:
        spec = LoadBalancerSpec.build(self.config.cluster, name, region, ports, protocol, load_balancer_ip, owner,
                                      source_ranges, session_affinity)
        try:
            ip = self._ensure_address(spec)
            self.on_step("address")
            self._ensure_firewall(spec, ip)
            self.on_step("firewall")
            self._ensure_health_check_firewall(spec)
            self.on_step("health-check-firewall")
            check = self._ensure_health_check(spec)
            self.on_step("health-check")
            pool = self._ensure_target_pool(spec, check, hosts)
            self.on_step("target-pool")
            self._ensure_forwarding_rule(spec, ip, pool)
            self.on_step("forwarding-rule")
            if spec.user_ip is not None:
                # An address we reserved before the caller chose its own IP is ours to release.
                self._release_own_address(spec)
        except NotFoundError as e:
            # Something we just made or read vanished under us: the next pass recreates it.
            raise TemporaryError(f"load balancer {name!r}: {e}", status=404) from e
        log.info("load balancer ensured", extra={"loadBalancer": name, "ip": ip, "ports": list(spec.ports)})
        return ip

    def _ensure_address(self, spec: LoadBalancerSpec) -> str:
        if spec.user_ip is not None:
            self._check_user_ip(spec, spec.user_ip)
            return spec.user_ip

        def read() -> compute_v1.Address | None:
            return self._get(f"get address {spec.resource}", self.api.addresses.get,
                             region=spec.region, address=spec.resource)

        def insert() -> bool:
            log.info("reserving address", extra={"loadBalancer": spec.name, "resource": spec.resource})
            body = compute_v1.Address(name=spec.resource, description=self._description(spec),
                                      labels=names.labels(self.config.cluster), address_type="EXTERNAL")
            return self._insert(f"insert address {spec.resource}", self.api.addresses.insert_unary,
                                region=spec.region, address_resource=body)

        address, _ = self._found_or_made(spec, "address", spec.resource, read, insert)
        if address is None:
            address = self._read_existing(f"insert address {spec.resource}", read)  # the IP is known once reserved
        return str(address.address)

    def _check_user_ip(self, spec: LoadBalancerSpec, ip: str) -> None:
        """The caller's own IP may be an address they reserved (no description of ours) or
        the one this load balancer reserved; an address firecontrol reserved for another
        load balancer (another namespace's, an earlier service's, another cluster's) is
        not theirs to take: NameConflictError, and our forwarding rule on it, if an
        earlier version made one, is removed so the owner's teardown can release it."""
        request = compute_v1.ListAddressesRequest(project=self.config.project, region=spec.region,
                                                  filter=f'address = "{ip}"')
        pager = self.api.call(f"list addresses at {ip}", self.api.addresses.list, request=request)
        for address in pager:
            text = str(address.description or "")
            if address.address != ip or not names.made_by_firecontrol(text):
                continue  # another IP (a filter not applied), or reserved by the user themselves
            if names.describes(text, self.config.cluster, spec.name, spec.owner.uid, legacy=spec.legacy):
                continue  # the caller pinned the very IP we reserved
            rule = self._get_rule(spec.resource, spec.region)
            if (rule is not None and rule.I_p_address == ip
                    and names.describes(str(rule.description or ""), self.config.cluster, spec.name, spec.owner.uid, legacy=spec.legacy)):
                log.warning("removing our forwarding rule on another load balancer's address",
                            extra={"loadBalancer": spec.name, "ip": ip, "address": address.name})
                self._delete(f"delete forwarding rule {spec.resource}", self.api.forwarding_rules.delete_unary,
                             region=spec.region, forwarding_rule=spec.resource)
            raise NameConflictError(
                f"load balancer {spec.name!r}: loadBalancerIP {ip} is address {address.name}, reserved for "
                f"another load balancer (its description: {text[:200]!r}); it is left alone",
                status=409, reason="NameConflict")

    def _release_own_address(self, spec: LoadBalancerSpec) -> None:
        own = self._get(f"get address {spec.resource}", self.api.addresses.get,
                        region=spec.region, address=spec.resource)
        if own is None or own.address == spec.user_ip:
            return  # nothing reserved, or the caller pinned the very IP we reserved: in use, kept
        if not names.describes(own.description, self.config.cluster, spec.name, spec.owner.uid, legacy=spec.legacy):
            log.warning("address under our name is not ours: left alone",
                        extra={"loadBalancer": spec.name, "resource": spec.resource})
            return
        if self._delete(f"delete address {spec.resource}", self.api.addresses.delete_unary,
                        region=spec.region, address=spec.resource):
            log.info("released our address: the caller chose its own IP", extra={"loadBalancer": spec.name})

    def _ensure_firewall(self, spec: LoadBalancerSpec, ip: str) -> None:
        """The service's ports, from its source ranges, to the load balancer's IP only."""
        self._ensure_firewall_rule(spec, compute_v1.Firewall(
            name=spec.resource,
            description=self._description(spec),
            network=f"global/networks/{self.config.network}",
            allowed=[compute_v1.Allowed(I_p_protocol=spec.protocol.lower(), ports=[str(p) for p in spec.ports])],
            source_ranges=list(spec.source_ranges),
            destination_ranges=[f"{ip}/32"],
            target_tags=[self.config.cluster],  # every VM of this cluster carries the cluster tag
        ))

    def _ensure_health_check_firewall(self, spec: LoadBalancerSpec) -> None:
        """Google's health checkers, to the agent's health port (their probes go to the VM)."""
        self._ensure_firewall_rule(spec, compute_v1.Firewall(
            name=spec.health_check_firewall,
            description=self._description(spec),
            network=f"global/networks/{self.config.network}",
            allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=[str(HEALTH_CHECK_PORT)])],
            source_ranges=list(HEALTH_CHECK_RANGES),
            target_tags=[self.config.cluster],
        ))

    def _ensure_firewall_rule(self, spec: LoadBalancerSpec, want: compute_v1.Firewall) -> None:
        name = want.name

        def read() -> compute_v1.Firewall | None:
            return self._get(f"get firewall {name}", self.api.firewalls.get, firewall=name)

        def insert() -> bool:
            log.info("creating firewall", extra={"loadBalancer": spec.name, "firewall": name, "ports": list(want.allowed[0].ports)})
            return self._insert(f"insert firewall {name}", self.api.firewalls.insert_unary, firewall_resource=want)

        have, _ = self._found_or_made(spec, "firewall", name, read, insert)

        def shape(fw: compute_v1.Firewall) -> tuple[Any, ...]:
            allowed = sorted((a.I_p_protocol.lower(), tuple(sorted(a.ports))) for a in fw.allowed)
            return allowed, sorted(fw.source_ranges), sorted(fw.destination_ranges), sorted(fw.target_tags)

        if have is not None and shape(have) != shape(want):
            log.info("updating firewall", extra={"loadBalancer": spec.name, "firewall": name})
            patch = compute_v1.Firewall(allowed=want.allowed, source_ranges=want.source_ranges,
                                        destination_ranges=want.destination_ranges, target_tags=want.target_tags)
            self.api.mutate(f"patch firewall {name}", self.api.firewalls.patch_unary,
                            project=self.config.project, firewall=name, firewall_resource=patch)

    def _ensure_health_check(self, spec: LoadBalancerSpec) -> str:
        def read() -> HttpHealthCheck | None:
            return self._get(f"get health check {spec.resource}", self.api.health_checks.get,
                             http_health_check=spec.resource)

        want = {"port": HEALTH_CHECK_PORT, "requestPath": HEALTH_CHECK_PATH}

        def insert() -> bool:
            log.info("creating health check", extra={"loadBalancer": spec.name, "port": HEALTH_CHECK_PORT})
            body = {"name": spec.resource, "description": self._description(spec), **want}
            return self._insert(f"insert health check {spec.resource}", self.api.health_checks.insert_unary,
                                http_health_check_resource=body)

        check, _ = self._found_or_made(spec, "health check", spec.resource, read, insert)
        if check is not None and (check.port, check.request_path) != (want["port"], want["requestPath"]):
            # An older version's GET / on the first service port: upgraded in place.
            log.info("updating health check", extra={"loadBalancer": spec.name, "was": f"{check.port} {check.request_path}",
                                                     "port": HEALTH_CHECK_PORT, "path": HEALTH_CHECK_PATH})
            self.api.mutate(f"patch health check {spec.resource}", self.api.health_checks.patch_unary,
                            project=self.config.project, http_health_check=spec.resource, http_health_check_resource=want)
        return self._link("global", "httpHealthChecks", spec.resource)

    def _ensure_target_pool(self, spec: LoadBalancerSpec, check: str, hosts: Sequence[str]) -> str:
        def read() -> compute_v1.TargetPool | None:
            return self._get(f"get target pool {spec.resource}", self.api.target_pools.get,
                             region=spec.region, target_pool=spec.resource)

        desired = hostdiff.diff_hosts([], hosts, self.config.zone).add
        pool = read()
        if pool is not None:
            self._claim(spec, "target pool", spec.resource, pool)
            if pool.session_affinity != spec.session_affinity:
                # A target pool's affinity cannot change in place: make it again, the rule first.
                log.info("recreating target pool: session affinity changed",
                         extra={"loadBalancer": spec.name, "was": pool.session_affinity, "now": spec.session_affinity})
                self._delete_own_rule(spec)
                self._delete(f"delete target pool {spec.resource}", self.api.target_pools.delete_unary,
                             region=spec.region, target_pool=spec.resource)
                pool = None
        if pool is not None:
            current: Sequence[str] = pool.instances
        else:
            created, missing = self._create_pool(spec, check, desired[: hostdiff.MAX_AT_CREATE])
            if created is None:
                existing = self._read_existing(f"insert target pool {spec.resource}", read)
                self._claim(spec, "target pool", spec.resource, existing)
                created = existing.instances
            current = created
            desired = tuple(h for h in desired if h not in missing)
        self._update_members(spec.name, spec.resource, spec.region, current, desired)
        return self._link(f"regions/{spec.region}", "targetPools", spec.resource)

    def _create_pool(self, spec: LoadBalancerSpec, check: str, first: Sequence[str]) -> tuple[Sequence[str] | None, set[str]]:
        """Insert the pool with its first instances; its members (None after a 409) and the missing hosts."""
        def insert(refs: Sequence[str]) -> bool:
            log.info("creating target pool", extra={"loadBalancer": spec.name, "instances": len(refs)})
            body = compute_v1.TargetPool(
                name=spec.resource, description=self._description(spec), health_checks=[check],
                instances=[self._instance_link(r) for r in refs], session_affinity=spec.session_affinity,
            )
            return self._insert(f"insert target pool {spec.resource}", self.api.target_pools.insert_unary,
                                region=spec.region, target_pool_resource=body)

        try:
            return (first if insert(first) else None), set()
        except NotFoundError:
            existing = self._existing(first)  # an instance went away; skip it, not an error
            return (existing if insert(existing) else None), set(first) - set(existing)

    def _delete_own_rule(self, spec: LoadBalancerSpec) -> None:
        rule = self._get_rule(spec.resource, spec.region)
        if rule is not None:
            self._claim(spec, "forwarding rule", spec.resource, rule)
            self._delete(f"delete forwarding rule {spec.resource}", self.api.forwarding_rules.delete_unary,
                         region=spec.region, forwarding_rule=spec.resource)

    def _ensure_forwarding_rule(self, spec: LoadBalancerSpec, ip: str, pool: str) -> None:
        rule = self._get_rule(spec.resource, spec.region)
        if rule is not None:
            self._claim(spec, "forwarding rule", spec.resource, rule)
            if (rule.I_p_address == ip and rule.port_range == spec.port_range
                    and rule.I_p_protocol == spec.protocol and _same(rule.target, pool)):
                return
            # A forwarding rule cannot change ports in place; the reserved IP survives.
            log.info("recreating forwarding rule: it changed",
                     extra={"loadBalancer": spec.name, "ip": ip, "portRange": spec.port_range,
                            "was": f"{rule.I_p_address} {rule.I_p_protocol} {rule.port_range}"})
            self._delete(f"delete forwarding rule {spec.resource}", self.api.forwarding_rules.delete_unary,
                         region=spec.region, forwarding_rule=spec.resource)
        else:
            log.info("creating forwarding rule", extra={"loadBalancer": spec.name, "ip": ip, "portRange": spec.port_range})
        body = compute_v1.ForwardingRule(
            name=spec.resource, description=self._description(spec),
            I_p_address=ip, I_p_protocol=spec.protocol, port_range=spec.port_range, target=pool,
            load_balancing_scheme="EXTERNAL", labels=names.labels(self.config.cluster),
        )
        what = f"insert forwarding rule {spec.resource}"
        if not self._insert(what, self.api.forwarding_rules.insert_unary, region=spec.region, forwarding_rule_resource=body):
            # Raced with another pass (or someone took the name): it must be ours; the next pass repairs it.
            found = self._read_existing(what, lambda: self._get_rule(spec.resource, spec.region))
            self._claim(spec, "forwarding rule", spec.resource, found)

    # -- hosts ------------------------------------------------------------------------

    def update_hosts(self, name: str, region: str, hosts: Sequence[str]) -> None:
        resource = names.resource_name(self.config.cluster, name)
        pool = self._get(f"get target pool {resource}", self.api.target_pools.get, region=region, target_pool=resource)
        if pool is None:
            raise NotFoundError(f"load balancer {name!r} has no target pool {resource} in {region}", status=404)
        self._update_members(name, resource, region, pool.instances, hosts)

    def remove_instance_from_load_balancers(self, instance: str, zone: str | None, region: str) -> list[str]:
        """Every target pool of this cluster in ``region`` that has the instance lets it go
        (a pod being deleted leaves service before its VM does); the pools it left."""
        link = self._link(f"zones/{zone or self.config.zone}", "instances", instance)
        request = compute_v1.ListTargetPoolsRequest(project=self.config.project, region=region, max_results=500)
        pager = self.api.call(f"list target pools in {region}", self.api.target_pools.list, request=request)
        pools = [p.name for p in pager
                 if p.name.startswith(names.prefix(self.config.cluster))
                 and names.owner(str(p.description or ""), self.config.cluster) is not None
                 and any(_same(member, link) for member in p.instances)]
        left = []
        for pool in pools:
            request_body = compute_v1.TargetPoolsRemoveInstanceRequest(
                instances=[compute_v1.InstanceReference(instance=link)])
            try:
                self.api.mutate(f"remove instance {instance} from {pool}", self.api.target_pools.remove_instance_unary,
                                project=self.config.project, region=region, target_pool=pool,
                                target_pools_remove_instance_request_resource=request_body)
            except NotFoundError:
                continue  # the pool went away meanwhile: the instance is out of it
            left.append(pool)
        log.info("instance left load balancers", extra={"instance": instance, "pools": left})
        return left

    def _instance_link(self, ref: str) -> str:
        zone, name = ref.split("/")[1], ref.split("/")[3]
        return self._link(f"zones/{zone}", "instances", name)

    def _update_members(self, name: str, resource: str, region: str, current: Sequence[str], hosts: Sequence[str]) -> None:
        change = hostdiff.diff_hosts(current, hosts, self.config.zone)
        if change.empty:
            return
        log.info("updating load balancer hosts", extra={"loadBalancer": name, "adding": len(change.add), "removing": len(change.remove)})
        for chunk in hostdiff.chunks(change.add):
            self._add_instances(resource, region, chunk)
        for chunk in hostdiff.chunks(change.remove):
            refs = [compute_v1.InstanceReference(instance=self._instance_link(r)) for r in chunk]
            self.api.mutate(f"remove {len(chunk)} instances from {resource}", self.api.target_pools.remove_instance_unary,
                            project=self.config.project, region=region, target_pool=resource,
                            target_pools_remove_instance_request_resource=compute_v1.TargetPoolsRemoveInstanceRequest(instances=refs))

    def _add_instances(self, resource: str, region: str, chunk: Sequence[str]) -> None:
        def add(refs: Sequence[str]) -> None:
            request = compute_v1.TargetPoolsAddInstanceRequest(
                instances=[compute_v1.InstanceReference(instance=self._instance_link(r)) for r in refs])
            self.api.mutate(f"add {len(refs)} instances to {resource}", self.api.target_pools.add_instance_unary,
                            project=self.config.project, region=region, target_pool=resource,
                            target_pools_add_instance_request_resource=request)

        try:
            add(chunk)
        except NotFoundError:
            existing = self._existing(chunk)  # an instance went away; skip it, not an error
            if existing:
                add(existing)

    def _existing(self, refs: Sequence[str]) -> tuple[str, ...]:
        """The instances among ``refs`` that exist, by listing their zones (one call per 500)."""
        if not refs:
            return ()
        found: set[str] = set()
        for zone in sorted({ref.split("/")[1] for ref in refs}):
            request = compute_v1.ListInstancesRequest(project=self.config.project, zone=zone, max_results=500)
            pager = self.api.call(f"list instances in {zone}", self.api.instances.list, request=request)
            found.update(f"zones/{zone}/instances/{i.name}" for i in pager)
        kept = tuple(ref for ref in refs if ref in found)
        if len(kept) < len(refs):
            log.info("skipping instances that no longer exist",
                     extra={"skipped": sorted(set(refs) - found)[:20], "count": len(refs) - len(kept)})
        return kept

    # -- garbage collection -------------------------------------------------------------

    def list_load_balancers(self, region: str) -> dict[str, set[str | None]]:
        """The load balancers this cluster owns any resource of (found by description), each
        with every owner uid its resources carry (None: made by an older version, no uid):
        an old owner's half-deleted resources and a new owner's can share a name."""
        project = self.config.project
        described: list[tuple[str, str]] = []
        listings: tuple[tuple[str, Callable[..., Any], dict[str, str]], ...] = (
            ("list forwarding rules", self.api.forwarding_rules.list, {"region": region}),
            ("list target pools", self.api.target_pools.list, {"region": region}),
            ("list addresses", self.api.addresses.list, {"region": region}),
            ("list firewalls", self.api.firewalls.list, {}),
        )
        for what, method, kwargs in listings:
            pager = self.api.call(what, method, project=project, **kwargs)
            described += [(item.name, item.description) for item in pager]
        described += self.api.call("list health checks", self.api.health_checks.list_descriptions, project=project)
        owned: dict[str, set[str | None]] = {}
        for name, text in described:
            lb = names.owner(text, self.config.cluster)
            if lb is not None and name.startswith(names.prefix(self.config.cluster)):
                owned.setdefault(lb, set()).add(names.owner_uid(text, self.config.cluster))
        return owned

    # -- delete -----------------------------------------------------------------------

    def ensure_load_balancer_deleted(self, name: str, region: str, *, owner_uid: str | None = None) -> None:
        """Forwarding rule first, address last; each read first and deleted only if its
        description names this cluster's ``name`` (and ``owner_uid`` when given)."""
        resource = names.resource_name(self.config.cluster, name)
        checker = names.health_check_firewall(resource)
        rule = {"region": region, "forwarding_rule": resource}
        pool = {"region": region, "target_pool": resource}
        check = {"http_health_check": resource}
        address = {"region": region, "address": resource}
        steps: list[tuple[str, str, Callable[..., Any], Callable[..., Any], dict[str, str]]] = [
            ("forwarding rule", resource, self.api.forwarding_rules.get, self.api.forwarding_rules.delete_unary, rule),
            ("target pool", resource, self.api.target_pools.get, self.api.target_pools.delete_unary, pool),
            ("health check", resource, self.api.health_checks.get, self.api.health_checks.delete_unary, check),
            ("health check firewall", checker, self.api.firewalls.get, self.api.firewalls.delete_unary, {"firewall": checker}),
            ("firewall", resource, self.api.firewalls.get, self.api.firewalls.delete_unary, {"firewall": resource}),
            # Only an address we reserved carries our name: a caller's own IP is never released.
            ("address", resource, self.api.addresses.get, self.api.addresses.delete_unary, address),
        ]
        deleted, foreign = [], []
        for kind, target, get, delete, kwargs in steps:
            found = self._get(f"get {kind} {target}", get, **kwargs)
            if found is not None:
                text = str(getattr(found, "description", "") or "")
                if not names.describes(text, self.config.cluster, name, owner_uid):
                    foreign.append(f"{kind} {target} (description {text[:120]!r})")
                elif self._delete(f"delete {kind} {target}", delete, **kwargs):
                    deleted.append(kind)
            self.on_step(f"{kind.replace(' ', '-')}-deleted")
        log.info("load balancer deleted", extra={"loadBalancer": name, "deleted": deleted, "notOurs": foreign})
        if foreign:
            raise NameConflictError(f"load balancer {name!r}: not ours, left alone: {'; '.join(foreign)}",
                                    status=409, reason="NameConflict")
