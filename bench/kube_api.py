"""kube_api beside the CLI: ``kubectl get pods`` over 1,000 pods, ``kubectl apply -f`` of
the guestbook, each beside ``python main.py`` doing the same; and kube_api's cold start.

1. ``get pods`` over 1,000 pods: a Firestore emulator with no triggers (so no controller
   touches them) holds 1,000 pods as the pod runtime leaves them Running (IPs, node,
   conditions, container statuses); one kube_api server (functions-framework, as the local
   stack runs it) serves them. Wall time of the whole command, median of 5: the real
   kubectl (Table form, its default chunks of 500) and ``python main.py get pods``.
2. ``apply -f`` of the modern guestbook (3 Deployments, 3 Services) on the whole local
   stack: the command's wall time, into a fresh namespace each run, median of 5.
3. Cold start: a fresh interpreter imports ``main`` and serves its first request through
   ``main.kube_api`` (discovery ``/api/v1``, then the 1,000 pods as kubectl asks for them),
   peak RSS as ``bench/cold_start.py`` measures it (VmHWM), best of 3.

Run: ``.venv/bin/python bench/kube_api.py``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="bench-kube-api-"))
os.environ["FIRECONTROL_LOCAL_STATE"] = str(WORK / "stack" / "local.json")
os.environ.pop("GOOGLE_CLOUD_PROJECT", None)

from emulator.firestore import FirestoreEmulator  # noqa: E402
from emulator.functions import FunctionServer  # noqa: E402
from functions.kubeconfig import local_kubeconfig, render  # noqa: E402

PODS, NAMESPACE, RUNS = 1000, "bench", 5
KUBECTL = "kubectl"
GUESTBOOK = ROOT / "tests" / "fixtures" / "guestbook"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

PROBE = r"""
import json, sys, time
def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
t0 = time.perf_counter()
import main
t1 = time.perf_counter()
from flask import Request
from werkzeug.test import EnvironBuilder
path, query, accept = sys.argv[1], sys.argv[2], sys.argv[3]
reply = main.kube_api(Request(EnvironBuilder(method="GET", path=path, query_string=query,
                                             headers={"Accept": accept}).get_environ()))
body = reply.get_data()
t2 = time.perf_counter()
assert reply.status_code == 200, (reply.status_code, body[:300])
print(json.dumps({"import_s": t1 - t0, "first_s": t2 - t1, "peak_mib": peak_mib(), "bytes": len(body)}))
"""


def pod(i: int, now: datetime) -> dict[str, Any]:
    """Pod i of a ReplicaSet, Running on its VM: the fields the pod runtime and the agents'
    reports write (docs/agent-protocol.md), so every Table column has something to show."""
    name = f"web-7d4b9c8f6-{i:05d}"
    vm = f"firecontrol-{name}-abcde"
    started = (now - timedelta(minutes=30 + i % 60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ip = f"10.128.{i // 250}.{i % 250 + 2}"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": f"00000000-0000-4000-8000-{i:012d}",
                     "labels": {"app": "web", "pod-template-hash": "7d4b9c8f6"},
                     "creationTimestamp": started, "finalizers": ["firecontrol.io/instance"],
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c8f6",
                                          "uid": "00000000-0000-4000-8000-999999999999", "controller": True,
                                          "blockOwnerDeletion": True}]},
        "spec": {"nodeName": vm, "restartPolicy": "Always",
                 "containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": ip, "hostIPs": [{"ip": ip}],
                   "startTime": started,
                   "conditions": [{"type": t, "status": "True", "lastTransitionTime": started}
                                  for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                   "containerStatuses": [{"name": "web", "image": "nginx:1.27", "imageID": "", "ready": True,
                                          "started": True, "restartCount": i % 3,
                                          "containerID": f"fc://{vm}/web",
                                          "state": {"running": {"startedAt": started}}}]},
    }


def seed(project: str, host: str) -> None:
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    from google.cloud import firestore

    client = firestore.Client(project=project)
    now = datetime.now(UTC)
    for start in range(0, PODS, 400):
        batch = client.batch()
        for i in range(start, min(start + 400, PODS)):
            doc = pod(i, now)
            batch.set(client.document(f"namespaces/{NAMESPACE}/pods/{doc['metadata']['name']}"), doc)
        batch.commit()


def timed(args: list[str], env: dict[str, str], runs: int = RUNS) -> tuple[float, str]:
    """Median wall time of a command (it must succeed), and its last output."""
    times, out = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {result.returncode}: {result.stderr[:2000]}")
        out = result.stdout
    return statistics.median(times), out


def kube_env(kubeconfig: Path, state: Path) -> dict[str, str]:
    home = WORK / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "FIRESTORE_EMULATOR"))}
    return {**env, "HOME": str(home), "KUBECACHEDIR": str(WORK / "kube-cache"), "KUBECONFIG": str(kubeconfig),
            "FIRECONTROL_LOCAL_STATE": str(state)}


def get_pods() -> tuple[str, dict[str, str]]:
    """Part 1; answers the emulator's host and the environment part 3 probes with."""
    project = "bench-kube-api"
    firestore = FirestoreEmulator(log_path=WORK / "firestore.log").start()
    env = {"FIRESTORE_EMULATOR_HOST": firestore.host, "GOOGLE_CLOUD_PROJECT": project}
    server = FunctionServer("kube_api", "http", env, log_path=WORK / "kube_api.log").start()
    try:
        seed(project, firestore.host)
        kubeconfig, state = WORK / "kubeconfig", WORK / "local.json"
        kubeconfig.write_text(render(local_kubeconfig(server.url)))
        state.write_text(json.dumps({"project": project, "firestore": firestore.host, "database": "(default)"}))
        shell = kube_env(kubeconfig, state)
        subprocess.run([KUBECTL, "api-resources"], env=shell, capture_output=True, check=True, timeout=60)  # discovery cached
        kubectl_s, out = timed([KUBECTL, "get", "pods", "-n", NAMESPACE], shell)
        assert len(out.splitlines()) == PODS + 1, out[-500:]
        wide_s, _ = timed([KUBECTL, "get", "pods", "-n", NAMESPACE, "-o", "wide"], shell)
        json_s, out = timed([KUBECTL, "get", "pods", "-n", NAMESPACE, "-o", "json"], shell)
        assert len(json.loads(out)["items"]) == PODS
        cli_s, out = timed([sys.executable, "main.py", "get", "pods", "-n", NAMESPACE], shell)
        assert len(out.splitlines()) == PODS + 1, out[-500:]
        print(f"get pods over {PODS} pods (median of {RUNS}, whole command):")
        print(f"  kubectl get pods            {kubectl_s:6.2f} s   (Table form, chunks of 500)")
        print(f"  kubectl get pods -o wide    {wide_s:6.2f} s")
        print(f"  kubectl get pods -o json    {json_s:6.2f} s   (full objects)")
        print(f"  python main.py get pods     {cli_s:6.2f} s   (the CLI reads Firestore itself)")
        cold_start(env)
    finally:
        server.stop()
        firestore.stop()
    return firestore.host, env


def apply_guestbook() -> None:
    """Part 2, on the whole local stack."""
    from emulator.local import local_stack

    with local_stack(logs=WORK / "stack" / "logs") as endpoints:
        state = Path(os.environ["FIRECONTROL_LOCAL_STATE"])
        shell = kube_env(Path(endpoints["kubeconfig"]), state)
        subprocess.run([KUBECTL, "api-resources"], env=shell, capture_output=True, check=True, timeout=60)
        runs: dict[str, list[float]] = {"kubectl": [], "cli": []}
        for run in range(RUNS):
            for who, args in (("kubectl", [KUBECTL, "apply", "-f", str(GUESTBOOK), "-n"]),
                              ("cli", [sys.executable, "main.py", "apply", "-f", str(GUESTBOOK), "-n"])):
                seconds, _ = timed([*args, f"gb-{who}-{run}"], shell, runs=1)
                runs[who].append(seconds)
        again, out = timed([KUBECTL, "apply", "-f", str(GUESTBOOK), "-n", "gb-kubectl-0"], shell, runs=RUNS)
        assert out.count("unchanged") == 6, out
    print(f"apply -f the guestbook (3 Deployments, 3 Services) on the local stack (median of {RUNS}, whole command):")
    print(f"  kubectl apply -f            {statistics.median(runs['kubectl']):6.2f} s   (creates; again, unchanged: {again:.2f} s)")
    print(f"  python main.py apply -f     {statistics.median(runs['cli']):6.2f} s")


def cold_start(env: dict[str, str]) -> None:
    cases = (("/api/v1", "", "application/json", "discovery /api/v1"),
             (f"/api/v1/namespaces/{NAMESPACE}/pods", "limit=500", TABLE, "500 pods as a Table"),
             (f"/api/v1/namespaces/{NAMESPACE}/pods", "", "application/json", f"{PODS} pods as JSON"))
    print("kube_api cold start (fresh interpreter: import main, then its first request; best of 3):")
    for path, query, accept, what in cases:
        runs = []
        for _ in range(3):
            out = subprocess.run([sys.executable, "-c", PROBE, path, query, accept], cwd=ROOT, env={**os.environ, **env},
                                 capture_output=True, text=True, check=True, timeout=120).stdout.strip().splitlines()[-1]
            runs.append(json.loads(out))
        best = min(runs, key=lambda r: r["import_s"] + r["first_s"])
        peak = max(r["peak_mib"] for r in runs)
        print(f"  {what:<22} import main {best['import_s'] * 1000:5.0f} ms   first request {best['first_s'] * 1000:5.0f} ms"
              f"   peak RSS {peak:4.0f} MiB   ({best['bytes'] / 1024:.0f} KiB answered)")


def main() -> None:
    get_pods()
    apply_guestbook()
    print("(the default Cloud Functions instance has 256 MiB)")


if __name__ == "__main__":
    main()
