"""What the agent-pod tests share: a runtime whose VMs run agents, a clock to move, and
reports applied through ``pod_status``'s own write path (as if the token was verified)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.compute import ComputeEmulator
from functions.api.report import parse_report
from functions.controllers.pod_reports import apply_report
from functions.heartbeats import heartbeat_path
from functions.identity import Instance
from functions.runtime import Runtime
from functions.store import PODS, Doc, doc_path

# Nothing listens there: a simulated agent's own reports go nowhere; the tests report.
STATUS_URL = "http://127.0.0.1:9/pod_status"


class Clock:
    """The wall clock, moved on by the test."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def agent_runtime(crt: Runtime, **settings: Any) -> Runtime:
    """``crt`` with pod agents reporting, and a clock the test moves."""
    return replace(crt, settings=replace(crt.settings, pod_status_url=STATUS_URL, **settings), clock=Clock())


def pod_doc_of(rt: Runtime, name: str, namespace: str = "default") -> Doc:
    doc = rt.store.get(doc_path(namespace, PODS, name))
    assert doc is not None, f"pod {namespace}/{name} is gone"
    return doc


def status_of(rt: Runtime, name: str) -> dict[str, Any]:
    status: dict[str, Any] = pod_doc_of(rt, name).data.get("status", {})
    return status


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next((c for c in status.get("conditions", []) if c["type"] == kind), {})
    return found


def heartbeat(rt: Runtime, name: str, namespace: str = "default") -> Doc | None:
    return rt.store.get(heartbeat_path(namespace, name))


def container(name: str = "web", state: str = "running", **fields: Any) -> dict[str, Any]:
    """One container as the agent reports it (docs/agent-protocol.md §3)."""
    base: dict[str, Any] = {"name": name, "state": state, "restartCount": 0, "ready": state == "running",
                            "started": state == "running", "startedAt": 1_795_000_000}
    if state == "terminated":
        base.update(exitCode=0, reason="Completed", finishedAt=1_795_000_100)
    return {**base, **fields}


class Agent:
    """Reports for one pod, as its agent would send them after ``pod_status`` verified the
    token: the instance is the one the pod's status records."""

    def __init__(self, rt: Runtime, pod: str, namespace: str = "default") -> None:
        self.rt, self.pod, self.namespace = rt, pod, namespace

    def report(self, *containers: dict[str, Any], terminating: bool = False) -> bool:
        doc = pod_doc_of(self.rt, self.pod, self.namespace)
        status = doc.data["status"]
        beat = heartbeat(self.rt, self.pod, self.namespace)
        sequence = max(0, beat.data["sequence"] + 1) if beat is not None else 0  # the next one the function takes
        instance = Instance(project_id=self.rt.settings.project, zone=status["vmZone"], instance_id=status["vmId"],
                            instance_name=doc.data["spec"]["nodeName"], iat=sequence)
        body = {"pod": f"{self.namespace}/{self.pod}", "boot": "boot1", "sequence": sequence,
                "terminating": terminating, "containers": list(containers) or [container()]}
        return apply_report(self.rt, instance, parse_report(json.dumps(body).encode()))


def vm_metadata(compute: ComputeEmulator, name: str) -> dict[str, str] | None:
    for vm in compute.state.dump()["resources"]["instances"]:
        if vm["name"] == name:
            return {item["key"]: item.get("value", "") for item in vm.get("metadata", {}).get("items", [])}
    return None


def vm_names(compute: ComputeEmulator) -> list[str]:
    return sorted(vm["name"] for vm in compute.state.dump()["resources"]["instances"])


def pool_members(compute: ComputeEmulator) -> list[str]:
    pools = compute.state.dump()["resources"]["targetPools"]
    return sorted(link.rsplit("/", 1)[1] for p in pools for link in p.get("instances", []))
