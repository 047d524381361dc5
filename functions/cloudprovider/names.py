"""Cloud resource names, derived deterministically from the caller's load balancer name.

Every name is ``<cluster>-<lb>``, GCE-valid and at most 63 characters (a long one
keeps a readable head and gains a hash of the whole), so a re-run finds what an
earlier pass created and garbage collection finds all of ours by the prefix.
"""

from __future__ import annotations

import hashlib
import json
import re

from .errors import InvalidRequestError

MAX_NAME = 63
_LB_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?$")
_GCE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
CLUSTER_LABEL = "firecontrol-cluster"


def prefix(cluster: str) -> str:
    """What every resource name of ``cluster`` starts with."""
    return f"{cluster}-"


def resource_name(cluster: str, lb_name: str) -> str:
    """The name of the address, firewall, health check, target pool and forwarding rule."""
    if not _LB_NAME.match(lb_name):
        raise InvalidRequestError(
            f"load balancer name {lb_name!r} must be 1-253 characters of a-z, 0-9 and '-', "
            "starting and ending with a letter or digit"
        )
    full = prefix(cluster) + lb_name
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(lb_name.encode()).hexdigest()[:8]
    head = lb_name[: MAX_NAME - len(prefix(cluster)) - len(digest) - 1].rstrip("-")
    return f"{prefix(cluster)}{head}-{digest}"


def is_valid(name: str) -> bool:
    return _GCE_NAME.match(name) is not None


def description(cluster: str, lb_name: str) -> str:
    """Written on every resource (target pools and firewalls take no labels)."""
    return json.dumps({"firecontrol.cluster": cluster, "firecontrol.loadBalancer": lb_name}, sort_keys=True)


def labels(cluster: str) -> dict[str, str]:
    """Labels for the kinds that take them (addresses, forwarding rules, instances)."""
    return {CLUSTER_LABEL: cluster}


def owner(text: str, cluster: str) -> str | None:
    """The load balancer a resource's description names, if this cluster made it."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("firecontrol.cluster") != cluster:
        return None
    name = data.get("firecontrol.loadBalancer")
    return name if isinstance(name, str) else None
