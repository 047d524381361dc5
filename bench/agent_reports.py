"""The pod agent's reports through the real path: crash-to-status latency, and steady-state cost.

The local stack runs (Firestore emulator with triggers, every function on its own
functions-framework server, the Compute emulator's simulated agents reporting to
``pod_status`` with signed identity tokens). Two figures:

1. From a container's crash (the emulator's admin call) to the pod document saying so
   (a Firestore listener sees the container down, or restarted), p50 and p95 over many crashes.
2. At steady state (pods Ready, nothing changing), what the heartbeats cost: reports
   (= ``pod_status`` invocations), heartbeat-document writes and pod-document writes per
   pod per hour, measured over a window with the agents' clock sped up, then scaled to
   the real heartbeat period; and what that costs a month for 1,000 pods at list prices.

Run: ``.venv/bin/python bench/agent_reports.py [pods] [crashes per pod]``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.local import local_stack

HEARTBEAT = 60  # seconds, the default FIRECONTROL_AGENT_HEARTBEAT
TIME_SCALE = 30.0  # the agents' clock: a 60 s heartbeat every 2 s, a 10 s back-off in 0.33 s
WINDOW = 20.0  # real seconds of steady state measured
ZONE = "us-central1-a"
# List prices (us-central1, checked 2026-11): Firestore Standard edition per 100,000
# operations; Cloud Run functions per million invocations, and CPU and memory per second
# at the 256 MiB / 0.167 vCPU size, each invocation billed 100 ms.
READ, WRITE = 0.03 / 100_000, 0.09 / 100_000
INVOCATION = 0.40 / 1_000_000
SECOND = 0.167 * 0.000024 + 0.25 * 0.0000025
BILLED = 0.1
HOURS_PER_MONTH = 730


def admin(compute: str, project: str, vm: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(f"{compute}/admin/agents/{project}/{ZONE}/{vm}", method="POST" if body else "GET",
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        answer: dict[str, Any] = json.load(reply)
        return answer


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait(check: Any, timeout: float = 120.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("benchmark condition not reached")


def crashes_shown(data: dict[str, Any]) -> int:
    """How many crashes the status shows: its restarts, plus one while the container is
    down (waiting out its back-off, or terminated) before its next restart."""
    statuses = (data.get("status") or {}).get("containerStatuses") or [{}]
    restarts = int(statuses[0].get("restartCount") or 0)
    return restarts + (0 if "running" in (statuses[0].get("state") or {}) else 1)


def main(n_pods: int, crashes: int) -> None:
    logs = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    # The agents' clock runs TIME_SCALE times fast, and so do their status changes.
    settings = {"FIRECONTROL_AGENT_HEARTBEAT": str(HEARTBEAT), "FIRECONTROL_STATUS_WRITE_LIMIT": str(int(10 * TIME_SCALE))}
    with local_stack(logs=logs, agent_time_scale=TIME_SCALE, settings=settings) as endpoints:
        os.environ["FIRESTORE_EMULATOR_HOST"] = endpoints["firestore"]
        from google.cloud import firestore

        project, compute = endpoints["project"], endpoints["compute"]
        db = firestore.Client(project=project, database=endpoints["database"])
        rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
              "spec": {"replicas": n_pods, "selector": {"app": "web"}, "template": {
                  "metadata": {"labels": {"app": "web"}},
                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}
        db.document("namespaces/default/replicationControllers/web").set(rc)

        def ready() -> list[Any]:
            pods = list(db.collection("namespaces/default/pods").stream())
            good = [p for p in pods if any(c.get("type") == "Ready" and c.get("status") == "True"
                                           for c in (p.to_dict() or {}).get("status", {}).get("conditions", []))]
            return good if len(good) == n_pods == len(pods) else []

        pods = wait(ready)
        print(f"{n_pods} pods Ready through their agents' reports")

        # 1. crash -> status
        latencies: list[float] = []
        for snap in pods:
            vm, path = (snap.to_dict() or {})["spec"]["nodeName"], snap.reference.path
            seen: dict[int, float] = {}
            event = threading.Event()

            def on(snapshots: list[Any], *_: Any, seen: dict[int, float] = seen, event: threading.Event = event) -> None:
                for s in snapshots:
                    seen.setdefault(crashes_shown(s.to_dict() or {}), time.perf_counter())
                event.set()

            watch = db.document(path).on_snapshot(on)
            try:
                for n in range(1, crashes + 1):
                    wait(lambda vm=vm: admin(compute, project, vm)["containers"][0]["state"] == "running", interval=0.01)
                    asked = time.perf_counter()
                    admin(compute, project, vm, {"container": "web", "action": "crash"})
                    wait(lambda n=n, seen=seen: n in seen, timeout=30, interval=0.002)
                    latencies.append(seen[n] - asked)
            finally:
                watch.unsubscribe()
        print(f"crash -> pod status says so (down, or restarted), {len(latencies)} crashes: "
              f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
              f"max {max(latencies) * 1000:.0f} ms (agent tick 20 ms; heartbeat {HEARTBEAT} s)")

        # 2. steady state: let every container run again, then count for WINDOW seconds
        vms = [(p.to_dict() or {})["spec"]["nodeName"] for p in pods]
        wait(lambda: all(admin(compute, project, vm)["containers"][0]["state"] == "running" for vm in vms))
        wait(ready)
        time.sleep(2 * HEARTBEAT / TIME_SCALE)
        pod_writes, heartbeat_writes = [0], [0]

        def count(into: list[int]) -> Any:
            first = [True]

            def on(_: Any, changes: list[Any], __: Any) -> None:
                if first[0]:  # the listener's first delivery is the current state, not a write
                    first[0] = False
                    return
                into[0] += len(changes)
            return on

        watches = [db.collection("namespaces/default/pods").on_snapshot(count(pod_writes)),
                   db.collection_group("heartbeats").on_snapshot(count(heartbeat_writes))]
        time.sleep(0.5)
        sent_before = sum(admin(compute, project, vm)["reportsSent"] for vm in vms)
        started = time.perf_counter()
        time.sleep(WINDOW)
        elapsed = time.perf_counter() - started
        sent = sum(admin(compute, project, vm)["reportsSent"] for vm in vms) - sent_before
        for watch in watches:
            watch.unsubscribe()
        simulated_hours = elapsed * TIME_SCALE / 3600
        per_pod_hour = {"reports (pod_status invocations)": sent, "heartbeat writes": heartbeat_writes[0],
                        "pod document writes (sync_pod invocations)": pod_writes[0]}
        print(f"steady state, {n_pods} pods, {elapsed:.1f} s at {TIME_SCALE:g}x = {simulated_hours * 60:.1f} agent minutes:")
        for what, total in per_pod_hour.items():
            print(f"  {what}: {total} in all, {total / n_pods / simulated_hours:.1f} per pod per hour")
        reports = sent / n_pods / simulated_hours
        monthly = 1000 * reports * HOURS_PER_MONTH
        cost = {"Firestore reads (1 per report)": monthly * READ, "Firestore writes (1 per report)": monthly * WRITE,
                "invocations": monthly * INVOCATION, "CPU and memory (100 ms each)": monthly * BILLED * SECOND}
        print(f"1,000 pods for a month: {monthly / 1e6:.1f} M reports")
        for what, dollars in cost.items():
            print(f"  {what}: ${dollars:,.2f}")
        print(f"  total: ${sum(cost.values()):,.2f} a month (one report every {HEARTBEAT} s per pod)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5, int(sys.argv[2]) if len(sys.argv) > 2 else 6)
