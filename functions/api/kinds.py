"""The kinds firecontrol stores: their names, collections, API groups and parsers.

One table, so the CLI, the functions and ``kube_api`` agree on what ``rc`` means and
which validation a document gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    from functions.api.parse import parse_replicaset

    return parse_replicaset(doc, namespace, name, max_replicas)


def _deployment(doc: Any, namespace: str, name: str, max_replicas: int) -> Any:
    from functions.api.deployment import parse_deployment

    return parse_deployment(doc, namespace, name, max_replicas)


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
