"""A small world for the deployment planner: documents in memory, writes applied as
Firestore applies them (dotted field paths, guards checked), and a ReplicaSet pass that
makes and removes pods at once. Used by the planner's unit tests; the integration tests
run the real passes on the real emulator."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.api.controller import spec_hash
from functions.controllers.deployments import DeploymentPlan, plan_deployment
from functions.objects import object_uid
from functions.pod_policy import PodInfo
from functions.store import Create, Delete, Doc, RecordEvent, Update

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NS = "default"


def template(image: str = "nginx:1", app: str = "web") -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": "web", "image": image}]},
    }


def deployment(name: str = "web", replicas: int = 3, image: str = "nginx:1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template(image), **spec},
    }


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        data = data.setdefault(key, {})
    data[keys[-1]] = value


@dataclass
class Pod:
    name: str
    rs: str
    ready: bool = False
    terminating: bool = False
    phase: str = "Running"


@dataclass
class World:
    """Documents by path with their times; pods per ReplicaSet."""

    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    updated: dict[str, datetime] = field(default_factory=dict)
    created: dict[str, datetime] = field(default_factory=dict)
    pods: list[Pod] = field(default_factory=list)
    events: list[RecordEvent] = field(default_factory=list)
    now: datetime = T0
    tick: int = 0
    counter: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(1))

    def _time(self) -> datetime:
        self.tick += 1
        return T0 + timedelta(microseconds=self.tick)

    def put(self, path: str, data: dict[str, Any]) -> None:
        self.docs[path] = copy.deepcopy(data)
        self.created.setdefault(path, self._time())
        self.updated[path] = self._time()

    def doc(self, path: str) -> Doc:
        return Doc(path, copy.deepcopy(self.docs[path]), self.updated[path], self.created[path])

    @property
    def dpath(self) -> str:
        return next(p for p in self.docs if "/deployments/" in p)

    def replica_sets(self) -> list[Doc]:
        return [self.doc(p) for p in sorted(self.docs) if "/replicaSets/" in p]

    def rs_uid(self, name: str) -> str:
        path = f"namespaces/{NS}/replicaSets/{name}"
        return object_uid(path, self.created[path])

    def pod_infos(self) -> list[PodInfo]:
        return [
            PodInfo(
                path=f"namespaces/{NS}/pods/{p.name}", name=p.name, update_time=T0, labels={"app": "web"},
                owner_references=[{"uid": self.rs_uid(p.rs), "controller": True, "kind": "ReplicaSet"}],
                being_deleted=p.terminating, ready=p.ready, phase=p.phase,
            )
            for p in self.pods
        ]

    def apply(self, plan: DeploymentPlan) -> None:
        """The commit, all or nothing: any stale guard raises before anything is applied."""
        for write in plan.writes:
            if isinstance(write, Update | Delete) and write.if_updated_at is not None:
                assert self.updated.get(write.path) == write.if_updated_at, f"stale guard on {write.path}"
            if isinstance(write, Create):
                assert write.path not in self.docs, f"create of an existing {write.path}"
        for write in plan.writes:
            if isinstance(write, Update):
                for key, value in write.fields.items():
                    set_path(self.docs[write.path], key, copy.deepcopy(value))
                self.updated[write.path] = self._time()
            elif isinstance(write, Create):
                self.put(write.path, write.data)
            elif isinstance(write, Delete):
                del self.docs[write.path]
                name = write.path.rsplit("/", 1)[1]
                assert not [p for p in self.pods if p.rs == name], "a ReplicaSet deleted with pods"
            else:
                self.events.append(write)

    def deployment_pass(self, pods: bool = True) -> DeploymentPlan:
        plan = plan_deployment(self.doc(self.dpath), self.replica_sets(), self.pod_infos() if pods else [], self.now)
        self.apply(plan)
        return plan

    def rs_pass(self, linger: bool = False) -> None:
        """Each ReplicaSet to its spec.replicas at once (not-ready pods go first), then its
        status; with ``linger`` a removed pod stays one pass as terminating."""
        self.pods = [p for p in self.pods if not p.terminating]
        for rs in self.replica_sets():
            self.one_rs_pass(rs.name, linger)

    def one_rs_pass(self, name: str, linger: bool = False) -> None:
        """One ReplicaSet's own pass: its terminating pods gone, its pods brought to its
        spec.replicas, then its status, and only its: every other ReplicaSet's status
        stays as its last pass left it (Kubernetes' passes are per ReplicaSet)."""
        path = f"namespaces/{NS}/replicaSets/{name}"
        if path not in self.docs:
            return
        rs = self.doc(path)
        spec = rs.data.get("spec")
        if not isinstance(spec, dict) or type(spec.get("replicas")) is not int:
            return  # a malformed document: no ReplicaSet pass acts on it
        self.pods = [p for p in self.pods if not (p.rs == name and p.terminating)]
        want = rs.data["spec"]["replicas"]
        mine = [p for p in self.pods if p.rs == rs.name and not p.terminating]
        while len(mine) < want:
            self.counter += 1
            pod = Pod(f"{rs.name}-{self.counter}", rs.name)
            self.pods.append(pod)
            mine.append(pod)
        if len(mine) > want:
            doomed = sorted(mine, key=lambda p: p.ready)[: len(mine) - want]
            for pod in doomed:
                if linger:
                    pod.terminating = True
                else:
                    self.pods.remove(pod)
            mine = [p for p in mine if p not in doomed]
        terminating = [p for p in self.pods if p.rs == rs.name and p.terminating]
        status = {
            "replicas": len(mine),
            "readyReplicas": sum(p.ready for p in mine),
            "availableReplicas": sum(p.ready for p in mine),
            "terminatingReplicas": len(terminating),
            "observedGeneration": 1,
            "specHash": spec_hash(rs.data["spec"]),
        }
        if status != rs.data.get("status"):
            self.docs[rs.path]["status"] = status
            self.updated[rs.path] = self._time()

    def become_ready(self, chance: float = 0.5) -> None:
        """Pods become ready at random, but never one whose image is ``broken``."""
        for pod in self.pods:
            if not pod.ready and not pod.terminating and self.rng.random() < chance:
                spec = self.docs[f"namespaces/{NS}/replicaSets/{pod.rs}"]["spec"]
                if "'image': 'broken'" not in repr(spec.get("template")):
                    pod.ready = True

    def update_spec(self, **changes: Any) -> None:
        for key, value in changes.items():
            set_path(self.docs[self.dpath], f"spec.{key}", value)
        self.updated[self.dpath] = self._time()

    @property
    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.docs[self.dpath].get("status", {})
        return status

    def condition(self, type_: str) -> dict[str, Any] | None:
        return next((c for c in self.status.get("conditions", []) if c["type"] == type_), None)

    def live(self) -> list[Pod]:
        return [p for p in self.pods if not p.terminating]

    def rs_replicas(self) -> dict[str, int]:
        return {rs.name: rs.data["spec"]["replicas"] for rs in self.replica_sets()}

    def settle(self, steps: int = 200, chance: float = 1.0) -> None:
        """Passes until nothing changes."""
        for _ in range(steps):
            plan = self.deployment_pass()
            self.rs_pass()
            self.become_ready(chance)
            self.rs_pass()
            if not plan.writes and all(p.ready for p in self.live()):
                again = self.deployment_pass()
                if not again.writes:
                    return
        raise AssertionError("did not settle")
