"""The kinds the CLI knows: their names on the command line, collections and parsers.

One table, so ``apply``, ``get``, ``describe`` and ``delete`` agree on what
``rc`` means and which validation a document gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from functions.cli.errors import USAGE, CliError

Validate = Callable[[Any, str, str, int], Any]


def _controller(doc: Any, namespace: str, name: str, max_replicas: int) -> Any:
    from functions.api.parse import parse_controller

    return parse_controller(doc, namespace, name, max_replicas)


def _pod(doc: Any, namespace: str, name: str, max_replicas: int) -> Any:
    from functions.api.parse import parse_pod

    return parse_pod(doc, namespace, name)


def _service(doc: Any, namespace: str, name: str, max_replicas: int) -> Any:
    from functions.api.parse import parse_service

    return parse_service(doc, namespace, name)


def _replica_set(doc: Any, namespace: str, name: str, max_replicas: int) -> Any:
    from functions.cli.workloads import validate_replica_set

    return validate_replica_set(doc, namespace, name, max_replicas)


def _deployment(doc: Any, namespace: str, name: str, max_replicas: int) -> Any:
    from functions.cli.workloads import validate_deployment

    return validate_deployment(doc, namespace, name, max_replicas)


def _quota(doc: Any, namespace: str, name: str, max_replicas: int) -> Any:
    from functions.api.parse import parse_quota

    return parse_quota(doc, namespace, name)


@dataclass(frozen=True)
class Kind:
    kind: str  # as in a manifest: ReplicationController
    resource: str  # as kubectl prints it: replicationcontroller
    plural: str  # replicationcontrollers
    collection: str  # the Firestore collection under namespaces/{ns}/
    aliases: tuple[str, ...]
    validate: Validate | None = None  # parse_* wrapped to one signature; None: read-only
    group: str = ""  # the API group: "apps" for ReplicaSets and Deployments

    def ref(self, name: str) -> str:
        """kubectl's ``deployment.apps/web``."""
        return f"{self.resource}{'.' + self.group if self.group else ''}/{name}"

    @property
    def qualified(self) -> str:
        """kubectl's plural in messages: ``deployments.apps``."""
        return f"{self.plural}{'.' + self.group if self.group else ''}"


CONTROLLER = Kind(
    "ReplicationController", "replicationcontroller", "replicationcontrollers",
    "replicationControllers", ("rc", "replicationcontroller", "replicationcontrollers"), _controller,
)
POD = Kind("Pod", "pod", "pods", "pods", ("po", "pod", "pods"), _pod)
SERVICE = Kind("Service", "service", "services", "services", ("svc", "service", "services"), _service)
EVENT = Kind("Event", "event", "events", "events", ("ev", "event", "events"))
QUOTA = Kind(
    "ResourceQuota", "resourcequota", "resourcequotas", "resourceQuotas",
    ("quota", "resourcequota", "resourcequotas"), _quota,
)

REPLICA_SET = Kind(
    "ReplicaSet", "replicaset", "replicasets", "replicaSets",
    ("rs", "replicaset", "replicasets", "replicasets.apps", "replicaset.apps"), _replica_set, "apps",
)
DEPLOYMENT = Kind(
    "Deployment", "deployment", "deployments", "deployments",
    ("deploy", "deployment", "deployments", "deployments.apps", "deployment.apps"), _deployment, "apps",
)
# Kinds with a pod template and replicas: scale, set image.
SCALABLE = (CONTROLLER, REPLICA_SET, DEPLOYMENT)

KINDS = (CONTROLLER, REPLICA_SET, DEPLOYMENT, POD, SERVICE, QUOTA, EVENT)
WRITABLE = {k.kind: k for k in KINDS if k.validate is not None}


def by_alias(text: str, allowed: tuple[Kind, ...] = KINDS) -> Kind:
    """``rc``, ``pods``, ``Service`` ... -> the Kind; a usage error names the choices."""
    wanted = text.lower()
    for kind in allowed:
        if wanted in kind.aliases or wanted == kind.kind.lower():
            return kind
    choices = ", ".join(f"{k.plural} ({k.aliases[0]})" for k in allowed)
    raise CliError(f"error: unknown resource type {text!r}; use one of: {choices}", code=USAGE)


def kind_and_name(words: list[str], allowed: tuple[Kind, ...] = KINDS) -> tuple[Kind, str]:
    """``rc web`` or ``rc/web`` -> (Kind, name), as kubectl accepts both."""
    if len(words) == 1 and "/" in words[0]:
        words = words[0].split("/", 1)
    if len(words) != 2 or not words[1]:
        raise CliError("error: expected KIND NAME (or KIND/NAME), e.g. 'rc web'", code=USAGE)
    return by_alias(words[0], allowed), words[1]
