"""Scale 0 -> 50 on the local stack with a VM boot of D seconds: time to all Running, Compute calls.

The real path, as ``python main.py up`` runs it: the Firestore emulator delivers the
triggers to functions-framework servers, the Compute emulator takes D seconds from
insert to RUNNING (``local_stack(vm_boot_seconds=D)``) and runs a simulated agent on
every VM, which reports to ``pod_status`` (its clock 20 times fast, as the e2e tests run
it). One stack per D. A controller with ``replicas: 50`` is written; the table says when
every pod was Running and Ready, as a multiple of D (after one pod in another namespace
has warmed the functions up: cold starts are measured by ``bench/cold_start.py``), when the last insert was accepted
(``spec.nodeName``), and the Compute calls per VM from the emulator's counters. With
``--quota``, the region allows 10 VMs' vCPUs and the refused inserts in 30 s are counted.

Run: ``.venv/bin/python bench/scale_out.py [--boot 3 10] [--quota]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FIRECONTROL_LOCAL_STATE", str(Path(tempfile.mkdtemp(prefix="fc-scale-")) / "local.json"))

from google.cloud import firestore  # noqa: E402

from emulator.local import local_stack  # noqa: E402

PODS = 50
AGENT_TIME_SCALE = 20.0
ZONE = "us-central1-a"
VCPUS = 2  # e2-medium, the default machine type
QUOTA_VMS = 10
Json = dict[str, Any]


def rc_doc(name: str, replicas: int) -> Json:
    return {
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"app": name},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
    }


def admin(endpoints: Json, method: str, path: str, body: Json | None = None) -> Json:
    request = urllib.request.Request(endpoints["compute"] + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        answer: Json = json.load(reply)
        return answer


def client(endpoints: Json) -> firestore.Client:
    os.environ["FIRESTORE_EMULATOR_HOST"] = endpoints["firestore"]
    return firestore.Client(project=endpoints["project"], database=endpoints["database"])


def running_and_ready(pod: Json) -> bool:
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return status.get("phase") == "Running" and ready


def scale_out(endpoints: Json, namespace: str, n: int = PODS, timeout: float = 90.0) -> Json:
    """Write a controller of ``n`` and sample its pods until every one is Running and Ready."""
    db = client(endpoints)
    admin(endpoints, "DELETE", "/emulator/requests")
    start = time.monotonic()
    db.document(f"namespaces/{namespace}/replicationControllers/web").set(rc_doc("web", n))
    wall = time.time()
    placed: dict[str, float] = {}
    created: dict[str, float] = {}
    done: float | None = None
    while time.monotonic() - start < timeout:
        snaps = list(db.collection(f"namespaces/{namespace}/pods").stream())
        pods = [s.to_dict() or {} for s in snaps]
        now = time.monotonic() - start
        for snap, pod in zip(snaps, pods, strict=True):
            created.setdefault(snap.id, snap.create_time.timestamp() - wall)
            if (pod.get("spec") or {}).get("nodeName"):
                placed.setdefault(snap.id, now)
        if len(pods) == n and all(map(running_and_ready, pods)):
            done = now
            break
        time.sleep(0.1)
    calls = Counter(admin(endpoints, "GET", "/emulator/requests")["requests"])
    rounds = Counter(round(t, 1) for t in created.values())
    waits = sorted(placed[name] - created[name] for name in placed if name in created)
    return {"seconds": done, "last_placed": max(placed.values(), default=None), "calls": dict(calls),
            "created": sorted(rounds.items()),
            "to_insert": [round(waits[len(waits) // 2], 2), round(waits[-1], 2)] if waits else None,
            "total": sum(calls.values())}


def quota_run(endpoints: Json, namespace: str, window: float = 30.0) -> Json:
    """With room for ``QUOTA_VMS`` VMs, ask for 50: how many inserts are refused in ``window`` s."""
    db = client(endpoints)
    usage = admin(endpoints, "GET", "/emulator/quotas")["usage"].get(endpoints["project"], {})
    admin(endpoints, "POST", "/emulator/quotas", {"cpus": sum(usage.values()) + QUOTA_VMS * VCPUS})
    admin(endpoints, "DELETE", "/emulator/requests")
    start = time.monotonic()
    db.document(f"namespaces/{namespace}/replicationControllers/web").set(rc_doc("web", PODS))
    most = 0
    while time.monotonic() - start < window:
        most = max(most, len(list(db.collection(f"namespaces/{namespace}/pods").stream())))
        time.sleep(0.5)
    answer = admin(endpoints, "GET", "/emulator/requests")
    pods = [s.to_dict() or {} for s in db.collection(f"namespaces/{namespace}/pods").stream()]
    placed = sum(bool((p.get("spec") or {}).get("nodeName")) for p in pods)
    rc = db.document(f"namespaces/{namespace}/replicationControllers/web").get().to_dict() or {}
    failure = [c for c in (rc.get("status") or {}).get("conditions") or [] if c.get("type") == "ReplicaFailure"]
    return {"refused": answer["refused"].get("instances.insert quotaExceeded", 0),
            "inserts": answer["requests"].get("instances.insert", 0), "placed": placed, "most_pods": most,
            "failure": failure[0].get("reason") if failure else None}


def stack(boot: float, logs: Path) -> Any:
    return local_stack(logs=logs, scheduler_time_scale=1.0, agent_time_scale=AGENT_TIME_SCALE,
                       vm_boot_seconds=boot)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boot", type=float, nargs="*", default=[3.0, 10.0], help="VM boot times D, seconds")
    parser.add_argument("--quota", action="store_true", help="also: 50 asked, room for 10 VMs")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="fc-scale-logs-"))
    rows = []
    for boot in args.boot:
        with ExitStack() as exits:
            endpoints = exits.enter_context(stack(boot, logs / f"d{boot:g}"))
            warm = scale_out(endpoints, "warm-up", n=1)  # every function imported, the clients made
            assert warm["seconds"] is not None, warm
            result = scale_out(endpoints, f"scale-d{boot:g}")
            rows.append((boot, result))
            if args.quota and boot == args.boot[0]:
                quota = quota_run(endpoints, "quota")
        print(f"D = {boot:g} s: {json.dumps(result)}", flush=True)
    print(f"\nscale 0 -> {PODS} on the local stack (agents' clock x{AGENT_TIME_SCALE:g}); logs in {logs}")
    print(f"{'D':>4} {'all Running':>12} {'x D':>6} {'last insert':>12} {'Compute calls':>14} {'per VM':>7}")
    for boot, result in rows:
        seconds = result["seconds"]
        shown = f"{seconds:.1f} s" if seconds is not None else "timeout"
        ratio = f"{seconds / boot:.2f}" if seconds is not None else "-"
        print(f"{boot:>4g} {shown:>12} {ratio:>6} {result['last_placed'] or 0:>10.1f} s {result['total']:>14} "
              f"{result['total'] / PODS:>7.1f}")
        print("     " + ", ".join(f"{k} {v}" for k, v in sorted(result["calls"].items())))
    if args.quota:
        print(f"\nquota of {QUOTA_VMS} VMs, {PODS} asked, 30 s: {json.dumps(quota)}")


if __name__ == "__main__":
    main()
