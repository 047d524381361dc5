"""What ``kube_api`` serves: one row per resource, read by routing, discovery, OpenAPI
and the verbs, so they never disagree about a name, a verb or a subresource."""

from __future__ import annotations

from dataclasses import dataclass

from functions.api import kinds
from functions.api.kinds import Kind

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list", "watch")
# Events are written by the functions only, but people clear them (as Kubernetes allows).
EVENT_VERBS = ("delete", "deletecollection", "get", "list", "watch")


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str  # in URLs: replicationcontrollers
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...]
    verbs: tuple[str, ...]
    subresources: tuple[str, ...]  # "scale", "status", "log"
    stored: Kind | None  # the Firestore kind (collection, parser); None for namespaces
    categories: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``deployments.apps``: how the apiserver names it in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


NAMESPACES = Resource("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",),
                      ("create", "delete", "get", "list", "patch", "update", "watch"), ("status",), None)
PODS = Resource("", "v1", "pods", "pod", "Pod", True, ("po",), ALL_VERBS, ("log", "status"), kinds.POD, ("all",))
REPLICATION_CONTROLLERS = Resource(
    "", "v1", "replicationcontrollers", "replicationcontroller", "ReplicationController", True, ("rc",),
    ALL_VERBS, ("scale", "status"), kinds.CONTROLLER, ("all",),
)
SERVICES = Resource("", "v1", "services", "service", "Service", True, ("svc",), ALL_VERBS, ("status",),
                    kinds.SERVICE, ("all",))
EVENTS = Resource("", "v1", "events", "event", "Event", True, ("ev",), EVENT_VERBS, (), kinds.EVENT)
RESOURCE_QUOTAS = Resource("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", True, ("quota",),
                           ALL_VERBS, ("status",), kinds.QUOTA)
DEPLOYMENTS = Resource("apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",), ALL_VERBS,
                       ("scale", "status"), kinds.DEPLOYMENT, ("all",))
REPLICA_SETS = Resource("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ("rs",), ALL_VERBS,
                        ("scale", "status"), kinds.REPLICA_SET, ("all",))

RESOURCES = (NAMESPACES, PODS, REPLICATION_CONTROLLERS, SERVICES, EVENTS, RESOURCE_QUOTAS, DEPLOYMENTS, REPLICA_SETS)
GROUP_VERSIONS = ("v1", "apps/v1")


def find(group: str, version: str, plural: str) -> Resource | None:
    return next((r for r in RESOURCES if (r.group, r.version, r.plural) == (group, version, plural)), None)


def of_group_version(group_version: str) -> list[Resource]:
    return [r for r in RESOURCES if r.group_version == group_version]


def by_kind(kind: str) -> Resource | None:
    return next((r for r in RESOURCES if r.kind == kind), None)
