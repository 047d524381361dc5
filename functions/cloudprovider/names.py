"""Cloud resource names and the ownership written on every resource.

Names are deterministic, so a re-run finds what an earlier pass created: a pod's VM
and a service's load balancer are ``{readable head}-{h}`` where ``h`` is 10 base36
characters (~51 bits) of sha256 over ``namespace/name``, so two objects never share a
name in practice; the provider prefixes the cluster. The name is a guess, never proof:
every resource also says whose it is (labels on VMs, a JSON description on load
balancer parts) and that is checked before a resource is reused after a 409 or deleted.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import InvalidRequestError
from .interface import Owner

MAX_NAME = 63
HASH_LENGTH = 10
_LB_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?$")
_GCE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^[-_a-z0-9]{0,63}$")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
CLUSTER_LABEL = "firecontrol-cluster"
NAMESPACE_LABEL = "firecontrol-namespace"
POD_LABEL = "firecontrol-pod"
UID_LABEL = "firecontrol-uid"
HEALTH_CHECK_SUFFIX = "-hc"
# The longest cluster (config._CLUSTER) plus its dash, and room for the "-hc" firewall.
_LB_ROOM = MAX_NAME - 21 - len(HEALTH_CHECK_SUFFIX)


def name_hash(text: str, length: int = HASH_LENGTH) -> str:
    """``length`` base36 characters of sha256(text): 10 carry about 51 bits."""
    number = int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")
    digits = []
    for _ in range(length):
        number, digit = divmod(number, 36)
        digits.append(_BASE36[digit])
    return "".join(digits)


def hashed_name(lead: str, head: str, key: str, max_length: int = MAX_NAME) -> str:
    """``{lead}{head cut short}-{name_hash(key)}``, at most ``max_length`` characters,
    ending in a letter or digit; InvalidRequestError if it is not a valid GCE name."""
    digest = name_hash(key)
    room = max_length - len(lead) - len(digest) - 1
    cut = head[: max(room, 0)].rstrip("-")
    name = f"{lead}{cut}-{digest}" if cut else f"{lead}{digest}"
    if not is_valid(name):
        raise InvalidRequestError(f"{name!r} (for {key!r:.80}) is not a valid Compute Engine name")
    return name


def instance_name(cluster: str, namespace: str, pod: str) -> str:
    """A pod's VM: ``{cluster}-{head of pod}-{h(namespace/pod)}``."""
    return hashed_name(prefix(cluster), pod, f"{namespace}/{pod}")


def load_balancer_name(namespace: str, name: str) -> str:
    """A service's load balancer: ``{head of name}-{h(namespace/name)}``, short enough that
    ``{cluster}-`` before it and ``-hc`` after it still make a valid name."""
    digest = name_hash(f"{namespace}/{name}")
    head = name[: _LB_ROOM - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}" if head else digest


def legacy_load_balancer_name(namespace: str, name: str) -> str:
    """The name versions before the 10-character hash gave a service's load balancer:
    ``{4 hex of sha256(namespace)}-{name}``. Its resources' descriptions carry no uid; a
    service that already has that load balancer keeps it (and its IP)."""
    return f"{hashlib.sha256(namespace.encode()).hexdigest()[:4]}-{name}"


SERVICE_PORTS_KEY_PREFIX = "fc-svc-"


def service_ports_key(namespace: str, service: str) -> str:
    """The VM metadata key under which a service keeps its port map on each member VM
    (docs/agent-protocol.md); one per service, so services sharing a pod never clash."""
    return SERVICE_PORTS_KEY_PREFIX + name_hash(f"{namespace}/{service}")


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


def health_check_firewall(resource: str) -> str:
    """The firewall that admits Google's health checkers: ``{resource}-hc``."""
    cut = resource[: MAX_NAME - len(HEALTH_CHECK_SUFFIX)].rstrip("-")
    return cut + HEALTH_CHECK_SUFFIX


def is_valid(name: str) -> bool:
    return _GCE_NAME.match(name) is not None


# -- ownership --------------------------------------------------------------------------


def description(cluster: str, lb_name: str, owner: Owner | None = None) -> str:
    """Written on every load balancer resource (target pools and firewalls take no labels)."""
    data = {"firecontrol.cluster": cluster, "firecontrol.loadBalancer": lb_name}
    if owner is not None:
        data.update({"firecontrol.namespace": owner.namespace, "firecontrol.kind": owner.kind,
                     "firecontrol.name": owner.name, "firecontrol.uid": owner.uid})
    return json.dumps(data, sort_keys=True)


def _described(text: str, cluster: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("firecontrol.cluster") != cluster:
        return None
    return data


def made_by_firecontrol(text: str) -> bool:
    """The description is one firecontrol writes (of any cluster, any owner)."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("firecontrol.cluster"), str)


def owner(text: str, cluster: str) -> str | None:
    """The load balancer a resource's description names, if this cluster made it."""
    data = _described(text, cluster)
    name = data.get("firecontrol.loadBalancer") if data is not None else None
    return name if isinstance(name, str) else None


def owner_uid(text: str, cluster: str) -> str | None:
    """The owner uid a resource's description names (None: none, or not this cluster's)."""
    data = _described(text, cluster)
    uid = data.get("firecontrol.uid") if data is not None else None
    return uid if isinstance(uid, str) and uid else None


def describes(text: str, cluster: str, lb_name: str, uid: str | None, *, legacy: bool = False) -> bool:
    """The description names this cluster's load balancer ``lb_name`` (and, when ``uid`` is
    given, that owner uid): only then is the resource ours to reuse, repair or delete.
    ``legacy``: ``lb_name`` is the owner's legacy name (``legacy_load_balancer_name``), so a
    resource an older version made under it (no uid) is the owner's too."""
    if owner(text, cluster) != lb_name:
        return False
    if uid is None:
        return True
    have = owner_uid(text, cluster)
    return have == uid or (legacy and have is None)


def labels(cluster: str) -> dict[str, str]:
    """Labels for the kinds that take them (addresses, forwarding rules, instances)."""
    return {CLUSTER_LABEL: cluster}


def uid_label(uid: str) -> str:
    """A uid as a label value: itself when Compute accepts it (a UUID does), else a hash."""
    return uid if uid and _LABEL_VALUE.match(uid) else "h" + name_hash(uid, 20)


def instance_labels(pod_owner: Owner) -> dict[str, str]:
    """Whose a pod's VM is: cluster, namespace, pod name and the pod's uid."""
    return {CLUSTER_LABEL: pod_owner.cluster, NAMESPACE_LABEL: pod_owner.namespace,
            POD_LABEL: pod_owner.name, UID_LABEL: uid_label(pod_owner.uid)}


def instance_owned(found: Mapping[str, str], cluster: str, uid: str | None, *,
                   pod: Owner | None = None, legacy: bool = False) -> bool:
    """Do a VM's labels name this cluster, the pod (when given) and the uid (when given)?
    ``legacy``: a VM an older version made (no uid label) is its pod's when the
    namespace and pod labels match."""
    if found.get(CLUSTER_LABEL) != cluster or (pod is not None and not _names_pod(found, pod)):
        return False
    have = found.get(UID_LABEL)
    if uid is None:
        return True
    if have is None:
        return legacy and pod is not None
    return have == uid_label(uid)


def _names_pod(found: Mapping[str, str], pod_owner: Owner) -> bool:
    return found.get(NAMESPACE_LABEL) == pod_owner.namespace and found.get(POD_LABEL) == pod_owner.name
