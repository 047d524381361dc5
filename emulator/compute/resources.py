"""What each kind adds to the generic verbs: defaults, references, addresses, in-use rules.

- instances need a machine type their zone offers (``catalog``) and a boot disk, carry
  labels, metadata and tags within Compute Engine's limits (``limits``), count their
  vCPUs against the region's ``CPUS`` quota (403 quotaExceeded), get an internal IP
  (10.128.0.0/9), a NAT IP (198.18.0.0/15) per access config (none without one), and
  go PROVISIONING → STAGING → RUNNING with the configured delays;
- a reference to an instance, target pool or address in another region than the
  resource that names it is a 400, as are firewall ranges that are not CIDRs and a
  target pool ``sessionAffinity`` other than NONE, CLIENT_IP or CLIENT_IP_PROTO;
- addresses and ephemeral forwarding-rule IPs come from 203.0.113.0/24 (TEST-NET-3,
  never routed);
- a target pool in use by a forwarding rule, a health check in use by a target pool,
  and an address in use by a forwarding rule cannot be deleted (400
  resourceInUseByAnotherResource).
"""

from __future__ import annotations

import base64
import ipaddress
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import catalog, limits
from .errors import ApiError, in_use, invalid, not_found
from .model import Key

if TYPE_CHECKING:
    from .state import ComputeState

Json = dict[str, Any]
MAX_INSTANCES_PER_CALL = 1000
PROTOCOLS = {"TCP", "UDP", "ESP", "AH", "SCTP", "ICMP", "L3_DEFAULT"}
SESSION_AFFINITIES = ("NONE", "CLIENT_IP", "CLIENT_IP_PROTO")
FIREWALL_PATCH_FIELDS = ("allowed", "denied", "sourceRanges", "destinationRanges", "sourceTags", "targetTags",
                         "description", "priority", "disabled")


def instance_status(state: ComputeState, key: Key) -> str:
    if key in state.overrides:
        return state.overrides[key]
    age = time.monotonic() - state.created.get(key, float("-inf"))
    timing = state.timing
    if age < timing.provisioning_delay:
        return "PROVISIONING"
    if age < timing.provisioning_delay + timing.staging_delay:
        return "STAGING"
    return "RUNNING"


def new_fingerprint() -> str:
    """A metadata fingerprint as Compute Engine writes one: 8 random bytes, base64."""
    return base64.b64encode(os.urandom(8)).decode()


STALE_FINGERPRINT = "Supplied fingerprint does not match current metadata fingerprint."


def _set_metadata(state: ComputeState, key: Key, body: Json) -> Callable[[], None]:
    """``instances.setMetadata``: the fingerprint read must still be current, when asked
    and again when the operation applies (a writer in between makes it a 412)."""
    limits.check_metadata(body, "metadata")
    seen = body.get("fingerprint")
    if seen != state.resources[key].get("metadata", {}).get("fingerprint"):
        raise ApiError(412, STALE_FINGERPRINT, "conditionNotMet")
    items = [{"key": str(i["key"]), "value": str(i.get("value", ""))} for i in body.get("items") or []]

    def apply() -> None:
        instance = state.require(key)
        if instance.get("metadata", {}).get("fingerprint") != seen:
            raise ApiError(412, STALE_FINGERPRINT, "conditionNotMet")
        instance["metadata"] = {"kind": "compute#metadata", "fingerprint": new_fingerprint(),
                                **({"items": items} if items else {})}

    return apply


def _region(key: Key) -> str:
    return key.scope


def _ip_literal(value: str, field: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise invalid(f"Invalid value for field '{field}': '{value}'. Invalid IPV4 address.") from None


def _no_external_ip(key: Key) -> ApiError:
    """The pool of 254 external addresses is the region's IN_USE_ADDRESSES quota."""
    return ApiError(403, f"Quota 'IN_USE_ADDRESSES' exceeded. Limit: 254.0 in region {region_of(key.scope)}.",
                    "quotaExceeded")


def region_of(scope: str) -> str | None:
    """The region of ``zones/Z`` or ``regions/R``; None for ``global``."""
    kind, _, where = scope.partition("/")
    if kind == "zones":
        return catalog.region_of(where)
    return where if kind == "regions" else None


_NOUNS = {"instances": "instance", "targetPools": "target pool", "addresses": "address"}


def _same_region(target: Key, key: Key, field: str, ref: str) -> None:
    """Compute Engine refuses a regional resource that names one of another region."""
    there, here = region_of(target.scope), region_of(key.scope)
    if there is not None and here is not None and there != here:
        raise invalid(
            f"Invalid value for field '{field}': '{ref}'. "
            f"The {_NOUNS.get(target.collection, target.collection)} is in region '{there}'; "
            f"it must be in region '{here}'."
        )


def _existing(state: ComputeState, ref: str, key: Key, collection: str, scope: str | None = None,
              field: str = "resource") -> str:
    target = state.resolve(ref, key.project, collection, scope)
    if target.collection != collection:
        raise invalid(f"Invalid value for field '{field}': '{ref}'. Expected a {collection} URL.")
    _same_region(target, key, field, ref)
    state.require(target)
    return state.link(target)


def prepare(state: ComputeState, key: Key, body: Json, *, quota: bool = True) -> Json:
    """Validate an insert's body and fill what Compute Engine fills; nothing is stored yet.

    ``quota=False`` (fixtures seeding state) skips the regional CPU quota.
    """
    if key.collection == "instances":
        return _prepare_instance(state, key, body, quota)
    prepare_kind: dict[str, Callable[[ComputeState, Key, Json], Json]] = {
        "targetPools": _prepare_target_pool,
        "forwardingRules": _prepare_forwarding_rule,
        "addresses": _prepare_address,
        "firewalls": _prepare_firewall,
        "httpHealthChecks": _prepare_health_check,
    }
    return prepare_kind[key.collection](state, key, body)


def _machine_type(state: ComputeState, key: Key, ref: object) -> catalog.MachineType:
    zone = key.scope.split("/")[1]
    if not ref:
        raise invalid("Invalid value for field 'resource.machineType': ''. A machine type is required.")
    target = state.resolve(str(ref), key.project, "machineTypes", key.scope)
    same_zone = target.collection == "machineTypes" and target.scope == key.scope
    found = catalog.machine_type(zone, target.name) if same_zone else None
    if found is None:
        raise invalid(
            f"Invalid value for field 'resource.machineType': '{ref}'. "
            f"Machine type with name '{target.name}' does not exist in zone '{zone}'."
        )
    return found


def guest_cpus(body: Json) -> int:
    """The vCPUs of an instance's machine type (0 if unknown)."""
    found = catalog.lookup(str(body.get("machineType", "")).rsplit("/", 1)[-1])
    return found.guest_cpus if found is not None else 0


def cpus_in_use(state: ComputeState, project: str, region: str) -> int:
    """The region's ``CPUS`` usage: every instance not TERMINATED, inserts still pending included."""
    used = 0
    for key, body in (*state.resources.items(), *state.pending.items()):
        if key.collection != "instances" or key.project != project or region_of(key.scope) != region:
            continue
        if state.overrides.get(key) != "TERMINATED":
            used += guest_cpus(body)
    return used


def _check_cpus(state: ComputeState, key: Key, machine: catalog.MachineType) -> None:
    region = region_of(key.scope) or ""
    limit = state.quotas.cpus_in(region)
    if cpus_in_use(state, key.project, region) + machine.guest_cpus > limit:
        raise ApiError(403, f"Quota 'CPUS' exceeded. Limit: {limit:.1f} in region {region}.", "quotaExceeded")


def _check_disks(disks: object) -> None:
    if not isinstance(disks, list) or not any(isinstance(d, dict) and d.get("boot") for d in disks):
        raise invalid("Invalid value for field 'resource.disks': ''. Exactly one boot disk must be specified.")
    if sum(1 for d in disks if isinstance(d, dict) and d.get("boot")) > 1:
        raise invalid("Invalid value for field 'resource.disks': ''. Exactly one boot disk must be specified.")


def _prepare_instance(state: ComputeState, key: Key, body: Json, quota: bool = True) -> Json:
    machine = _machine_type(state, key, body.get("machineType"))
    _check_disks(body.get("disks"))
    limits.check_labels(body.get("labels"))
    limits.check_metadata(body.get("metadata"))
    body["metadata"] = {"kind": "compute#metadata", "fingerprint": new_fingerprint(),
                        **({"items": body["metadata"]["items"]} if (body.get("metadata") or {}).get("items") else {})}
    limits.check_tags((body.get("tags") or {}).get("items"), "resource.tags.items")
    if len(body.get("serviceAccounts") or []) > 1:
        raise invalid("Invalid value for field 'resource.serviceAccounts': ''. At most one service account is allowed.")
    if quota:
        _check_cpus(state, key, machine)
    body["machineType"] = state.link(Key(key.project, key.scope, "machineTypes", machine.name))
    nics = body.get("networkInterfaces") or [{}]
    for i, nic in enumerate(nics):
        nic.setdefault("network", f"{state.base_url}/compute/v1/projects/{key.project}/global/networks/default")
        nic["name"] = f"nic{i}"
        nic["kind"] = "compute#networkInterface"
        nic["networkIP"] = state.internal_ips.allocate()
        for config in nic.get("accessConfigs", []):
            config.setdefault("type", "ONE_TO_ONE_NAT")
            config.setdefault("name", "External NAT")
            config.setdefault("networkTier", "PREMIUM")
            config["kind"] = "compute#accessConfig"
            config["natIP"] = state.nat_ips.allocate()
    body["networkInterfaces"] = nics
    body.setdefault("labels", {})
    body.setdefault("status", "PROVISIONING")
    return body


def _prepare_target_pool(state: ComputeState, key: Key, body: Json) -> Json:
    affinity = body.setdefault("sessionAffinity", "NONE")
    if affinity not in SESSION_AFFINITIES:
        raise invalid(f"Invalid value for field 'resource.sessionAffinity': '{affinity}'. "
                      f"Must be one of {', '.join(SESSION_AFFINITIES)}.")
    body["instances"] = _dedupe(
        [_existing(state, ref, key, "instances", field=f"resource.instances[{i}]")
         for i, ref in enumerate(body.get("instances", []))]
    )
    if len(body["instances"]) > MAX_INSTANCES_PER_CALL:
        raise invalid(f"Invalid value for field 'resource.instances': more than {MAX_INSTANCES_PER_CALL}.")
    checks = body.get("healthChecks", [])
    if len(checks) > 1:
        raise invalid("Invalid value for field 'resource.healthChecks': at most one health check.")
    body["healthChecks"] = [_existing(state, ref, key, "httpHealthChecks", "global") for ref in checks]
    return body


def _port_range(value: str) -> str:
    low, _, high = value.partition("-")
    try:
        lo, hi = int(low), int(high or low)
    except ValueError:
        lo = hi = 0
    if not 1 <= lo <= hi <= 65535:
        raise invalid(f"Invalid value for field 'resource.portRange': '{value}'. Invalid port range.")
    return f"{lo}-{hi}"


def _prepare_forwarding_rule(state: ComputeState, key: Key, body: Json) -> Json:
    body["IPProtocol"] = body.get("IPProtocol") or "TCP"
    if body["IPProtocol"] not in PROTOCOLS:
        raise invalid(f"Invalid value for field 'resource.IPProtocol': '{body['IPProtocol']}'.")
    if body.get("portRange"):
        body["portRange"] = _port_range(str(body["portRange"]))
    limits.check_labels(body.get("labels"))
    if not body.get("target"):
        raise invalid("Invalid value for field 'resource.target': ''. A target is required.")
    body["target"] = _existing(state, body["target"], key, "targetPools", key.scope, field="resource.target")
    requested = body.get("IPAddress")
    if not requested:
        ip = state.external_ips.allocate()
        if ip is None:
            raise _no_external_ip(key)
        body["IPAddress"] = ip
        body["_ephemeral"] = True
    else:
        address = _address_for(state, key, requested)
        body["IPAddress"] = state.resources[address]["address"]
    body.setdefault("loadBalancingScheme", "EXTERNAL")
    body.setdefault("networkTier", "PREMIUM")
    body.setdefault("labels", {})
    return body


def _address_for(state: ComputeState, key: Key, requested: str) -> Key:
    """The reserved address a forwarding rule asks for, by IP or by URL."""
    if "/" in requested:
        address = state.resolve(requested, key.project, "addresses", key.scope)
        _same_region(address, key, "resource.IPAddress", requested)
        state.require(address)
        return address
    ip = _ip_literal(requested, "resource.IPAddress")
    for other, resource in state.resources.items():
        if other.collection == "addresses" and other.scope == key.scope and resource.get("address") == ip:
            return other
    raise invalid(
        f"Invalid value for field 'resource.IPAddress': '{ip}'. "
        "Specified IP address is not reserved in this project and region."
    )


def _prepare_address(state: ComputeState, key: Key, body: Json) -> Json:
    limits.check_labels(body.get("labels"))
    requested = body.get("address")
    if requested:
        ip = _ip_literal(requested, "resource.address")
        if ip in state.external_ips.used:
            raise invalid(f"Invalid value for field 'resource.address': '{ip}'. IP address is already reserved.")
        state.external_ips.used.add(ip)
        body["address"] = ip
    else:
        allocated = state.external_ips.allocate()
        if allocated is None:
            raise _no_external_ip(key)
        body["address"] = allocated
    body.update(status="RESERVED", addressType=body.get("addressType") or "EXTERNAL")
    body.setdefault("networkTier", "PREMIUM")
    body.setdefault("labels", {})
    return body


def _prepare_firewall(state: ComputeState, key: Key, body: Json) -> Json:
    if not body.get("allowed") and not body.get("denied"):
        raise invalid("Invalid value for field 'resource': one of 'allowed' or 'denied' is required.")
    for rule in body.get("allowed", []) + body.get("denied", []):
        if not rule.get("IPProtocol"):
            raise invalid("Invalid value for field 'resource.allowed[0].IPProtocol': ''.")
        for port in rule.get("ports", []):
            _port_range(str(port))
    for field in ("sourceRanges", "destinationRanges"):
        for i, cidr in enumerate(body.get(field) or []):
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                raise invalid(f"Invalid value for field 'resource.{field}[{i}]': '{cidr}'. "
                              "Must be a CIDR address range that is contained in the network.") from None
    for field in ("sourceTags", "targetTags"):
        limits.check_tags(body.get(field), f"resource.{field}")
    network = body.get("network") or "global/networks/default"
    body["network"] = state.link(state.resolve(network, key.project, "networks", "global"))
    body.setdefault("direction", "INGRESS")
    body.setdefault("priority", 1000)
    body.setdefault("disabled", False)
    return body


def _prepare_health_check(state: ComputeState, key: Key, body: Json) -> Json:
    for field, default in (("port", 80), ("requestPath", "/"), ("checkIntervalSec", 5),
                           ("timeoutSec", 5), ("unhealthyThreshold", 2), ("healthyThreshold", 2)):
        body.setdefault(field, default)
    if not 1 <= int(body["port"]) <= 65535:
        raise invalid(f"Invalid value for field 'resource.port': '{body['port']}'.")
    return body


def _dedupe(links: list[str]) -> list[str]:
    return list(dict.fromkeys(links))


def created(state: ComputeState, key: Key, body: Json) -> None:
    """Side effects of an insert turning DONE."""
    if key.collection == "instances":
        state.created[key] = time.monotonic()
    if key.collection == "forwardingRules" and not body.get("_ephemeral"):
        for other, resource in state.resources.items():
            if other.collection == "addresses" and other.scope == key.scope and resource["address"] == body["IPAddress"]:
                resource["status"] = "IN_USE"
                resource["users"] = [*resource.get("users", []), state.link(key)]


def users(state: ComputeState, key: Key) -> list[str]:
    """Links of the resources that keep ``key`` from being deleted."""
    link = state.link(key)
    if key.collection == "targetPools":
        return [state.link(k) for k, r in state.resources.items() if k.collection == "forwardingRules" and r.get("target") == link]
    if key.collection == "httpHealthChecks":
        return [state.link(k) for k, r in state.resources.items() if k.collection == "targetPools" and link in r.get("healthChecks", [])]
    if key.collection == "addresses":
        return list(state.resources[key].get("users", []))
    return []


def check_unused(state: ComputeState, key: Key) -> None:
    holders = users(state, key)
    if holders:
        raise in_use(state.link(key), holders[0])


def deleting(state: ComputeState, key: Key) -> None:
    if key.collection == "instances" and key not in state.overrides:
        state.overrides[key] = "STOPPING"


def deleted(state: ComputeState, key: Key, body: Json) -> None:
    """Side effects of a resource going away: its addresses are free again."""
    state.overrides.pop(key, None)
    state.created.pop(key, None)
    if key.collection == "instances":
        state.serial.forget(key)
        for nic in body.get("networkInterfaces", []):
            state.internal_ips.release(nic.get("networkIP", ""))
            for config in nic.get("accessConfigs", []):
                state.nat_ips.release(config.get("natIP", ""))
    elif key.collection == "addresses":
        state.external_ips.release(body["address"])
    elif key.collection == "forwardingRules":
        if body.get("_ephemeral"):
            state.external_ips.release(body["IPAddress"])
        link = state.link(key)
        for other, resource in state.resources.items():
            if other.collection == "addresses" and link in resource.get("users", []):
                resource["users"] = [u for u in resource["users"] if u != link]
                if not resource["users"]:
                    resource.pop("users")
                    resource["status"] = "RESERVED"


def action(state: ComputeState, key: Key, name: str, body: Json) -> Callable[[], None]:
    """Check a custom verb now and return the change it makes when its operation is DONE."""
    if key.collection == "instances" and name == "setMetadata":
        return _set_metadata(state, key, body)
    if key.collection == "targetPools" and name in ("addInstance", "removeInstance"):
        refs = [item.get("instance", "") for item in body.get("instances", [])]
        if not refs:
            raise invalid("Invalid value for field 'resource.instances': ''. At least one instance is required.")
        if len(refs) > MAX_INSTANCES_PER_CALL:
            raise invalid(
                f"Invalid value for field 'resource.instances': {len(refs)} instances; "
                f"at most {MAX_INSTANCES_PER_CALL} per request."
            )
        if name == "addInstance":
            links = [_existing(state, ref, key, "instances", field=f"resource.instances[{i}].instance")
                     for i, ref in enumerate(refs)]
        else:
            links = [state.link(state.resolve(ref, key.project, "instances")) for ref in refs]

        def apply() -> None:
            pool = state.require(key)
            if name == "addInstance":
                pool["instances"] = _dedupe([*pool.get("instances", []), *links])
            else:
                gone = set(links)
                pool["instances"] = [link for link in pool.get("instances", []) if link not in gone]

        return apply
    if key.collection == "firewalls" and name == "patch":
        patch = {k: v for k, v in body.items() if k in FIREWALL_PATCH_FIELDS}
        _prepare_firewall(state, key, {**state.resources[key], **patch})

        def apply_patch() -> None:
            state.require(key).update(patch)

        return apply_patch
    if key.collection == "httpHealthChecks" and name == "patch":
        fields = ("port", "requestPath", "checkIntervalSec", "timeoutSec", "unhealthyThreshold", "healthyThreshold", "description")
        check = _prepare_health_check(state, key, {**state.resources[key], **{k: v for k, v in body.items() if k in fields}})

        def apply_check() -> None:
            state.require(key).update({k: check[k] for k in fields if k in check})

        return apply_check
    raise not_found(f"{key.path}/{name}")
