"""What a target pool's health checker sees: ``targetPools.getHealth`` and the admin ``/admin/lb`` view.

An instance that is not RUNNING is UNHEALTHY. A pool whose HTTP health check asks port
10256 for ``/healthz`` (the agent's endpoint, docs/agent-protocol.md §2) gets HEALTHY
exactly while the instance's simulated agent says its pod is Ready. Any other health
check (older versions checked ``GET /`` on the service port) or none: HEALTHY while
RUNNING, as the emulator has no server to probe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import invalid, not_found
from .model import Key
from .resources import instance_status

if TYPE_CHECKING:
    from .state import ComputeState

Json = dict[str, Any]
AGENT_PORT = 10256
AGENT_PATH = "/healthz"
PodReady = Callable[[Key, str], bool]  # (instance key, instance id) -> the agent says Ready


def healthy(state: ComputeState, pool: Json, key: Key, pod_ready: PodReady) -> bool:
    """Whether ``pool``'s health check passes on instance ``key`` (state lock held)."""
    if key not in state.resources or instance_status(state, key) != "RUNNING":
        return False
    checks = pool.get("healthChecks") or []
    check = state.resources.get(state.resolve(checks[0], key.project, "httpHealthChecks", "global")) if checks else None
    if check is not None and int(check.get("port", 80)) == AGENT_PORT and check.get("requestPath") == AGENT_PATH:
        return pod_ready(key, str(state.resources[key].get("id", "")))
    return True


def _rules_of(state: ComputeState, pool_key: Key) -> list[Json]:
    link = state.link(pool_key)
    return [r for k, r in sorted(state.resources.items()) if k.collection == "forwardingRules" and r.get("target") == link]


def get_health(state: ComputeState, pool_key: Key, body: Json, pod_ready: PodReady) -> Json:
    """``targetPools.getHealth``: one status per forwarding rule of the pool (the instance's
    internal IP when no rule points at the pool yet)."""
    state.advance()
    ref = body.get("instance")
    if not isinstance(ref, str) or not ref:
        raise invalid("Invalid value for field 'resource.instance': ''. The URL is malformed.")
    with state.lock:
        pool = state.require(pool_key)
        key = state.resolve(ref, pool_key.project, "instances")
        link = state.link(key)
        if link not in pool.get("instances", []):
            raise invalid(f"Invalid value for field 'resource.instance': '{ref}'. "
                          f"Instance is not a member of target pool '{pool_key.name}'.")
        if key not in state.resources:
            raise not_found(key.path)
        state_word = "HEALTHY" if healthy(state, pool, key, pod_ready) else "UNHEALTHY"
        rules = _rules_of(state, pool_key)
        ips = [r["IPAddress"] for r in rules] or [
            nic.get("networkIP", "") for nic in state.resources[key].get("networkInterfaces", [])[:1]]
        return {"kind": "compute#targetPoolInstanceHealth",
                "healthStatus": [{"instance": link, "ipAddress": ip, "healthState": state_word} for ip in ips]}


def _port_in(rule: Json, port: int) -> bool:
    text = str(rule.get("portRange") or "")
    if not text:
        return True
    low, _, high = text.partition("-")
    return int(low) <= port <= int(high or low)


def service_ports(metadata: dict[str, str]) -> dict[tuple[str, str, int], int]:
    """The ``fc-svc-*`` port maps of a VM: (protocol, LB IP, port) -> target port.
    Malformed lines are skipped, as the agent skips them."""
    out: dict[tuple[str, str, int], int] = {}
    for key, value in metadata.items():
        if not key.startswith("fc-svc-"):
            continue
        for line in value.splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[0] in ("tcp", "udp") and parts[2].isdigit() and parts[3].isdigit():
                out[(parts[0], parts[1], int(parts[2]))] = int(parts[3])
    return out


def metadata_of(instance: Json) -> dict[str, str]:
    items = (instance.get("metadata") or {}).get("items") or []
    return {str(i.get("key", "")): str(i.get("value", "")) for i in items if isinstance(i, dict)}


def lb_backends(state: ComputeState, project: str, region: str, ip: str, port: int, protocol: str,
                pod_ready: PodReady) -> Json:
    """Where a packet to forwarding-rule ``ip:port`` would go: each HEALTHY member of the
    rule's pool, with the port the VM's ``fc-svc-*`` line maps ``port`` to (else ``port``)."""
    state.advance()
    protocol = protocol.upper()
    with state.lock:
        rules = [(k, r) for k, r in sorted(state.resources.items())
                 if k.collection == "forwardingRules" and k.project == project and k.scope == f"regions/{region}"
                 and r.get("IPAddress") == ip and r.get("IPProtocol", "TCP") == protocol and _port_in(r, port)]
        if not rules:
            raise not_found(f"projects/{project}/regions/{region}/forwardingRules for {protocol} {ip}:{port}")
        rule_key, rule = rules[0]
        pool_key = state.resolve(rule["target"], project, "targetPools")
        pool = state.require(pool_key)
        backends = []
        for link in pool.get("instances", []):
            key = state.resolve(link, project, "instances")
            if not healthy(state, pool, key, pod_ready):
                continue
            instance = state.resources[key]
            target = service_ports(metadata_of(instance)).get((protocol.lower(), ip, port), port)
            nics = instance.get("networkInterfaces") or [{}]
            backends.append({"instance": link, "name": key.name, "networkIP": nics[0].get("networkIP"), "port": target})
        return {"forwardingRule": state.link(rule_key), "targetPool": state.link(pool_key), "backends": backends}
