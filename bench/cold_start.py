"""Cold start per entry point: import time, first invocation, and peak memory.

Each entry point runs in a fresh interpreter, as a new Cloud Run instance does:
import ``main`` (what the platform does at start), then one real invocation against
the Firestore and Compute Engine emulators, on a document that makes it do its real
work (a controller that creates pods, a pod that gets a VM, a service that gets a
load balancer). Peak memory is the process's own high-water RSS (VmHWM; ``ru_maxrss``
survives exec and would show the parent's size); every function must fit
the default 256 MiB. Run: ``.venv/bin/python bench/cold_start.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emulator.compute import ComputeEmulator, Timing  # noqa: E402
from emulator.firestore import FirestoreEmulator  # noqa: E402

PROBE = r"""
import json, resource, sys, time
def peak_mib():
    # VmHWM: this process's own high-water mark. ru_maxrss is kept across exec, so it
    # would report the parent's size at fork when that is larger.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
import main
t1 = time.perf_counter()
target, subject, body_file = sys.argv[1], sys.argv[2], sys.argv[3]
if target == "resync":
    from flask import Request
    from werkzeug.test import EnvironBuilder
    main.resync(Request(EnvironBuilder(method="POST").get_environ()))  # as Cloud Scheduler: no body
elif target == "pod_status":
    from flask import Request
    from werkzeug.test import EnvironBuilder
    token, report = json.load(open(body_file))
    builder = EnvironBuilder(method="POST", data=json.dumps(report), content_type="application/json",
                             headers={"Authorization": f"Bearer {token}"})
    reply = main.pod_status(Request(builder.get_environ()))
    assert reply[1] == 200, reply  # a real report, verified and written
else:
    from cloudevents.http import CloudEvent
    event = CloudEvent({"type": "google.cloud.firestore.document.v1.written", "source": "bench",
                        "subject": subject}, open(body_file, "rb").read())
    getattr(main, target)(event)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_call_s": t2 - t1,
    "peak_mib": peak_mib(),
    "compute_imported": "google.cloud.compute_v1" in sys.modules}))
"""


def _value(v: Any) -> Any:
    from google.events.cloud.firestore_v1 import ArrayValue, MapValue, Value

    if isinstance(v, dict):
        return Value(map_value=MapValue(fields={k: _value(x) for k, x in v.items()}))
    if isinstance(v, list):
        return Value(array_value=ArrayValue(values=[_value(x) for x in v]))
    if isinstance(v, bool):
        return Value(boolean_value=v)
    if isinstance(v, int):
        return Value(integer_value=v)
    return Value(string_value=str(v))


def written_event(project: str, path: str, document: dict[str, Any], out: Path) -> None:
    """Write the document, and the Eventarc body announcing it, as the platform would."""
    from google.cloud import firestore
    from google.events.cloud.firestore_v1 import Document, DocumentEventData

    client = firestore.Client(project=project)
    client.document(path).set(document)
    snap = client.document(path).get()
    message = DocumentEventData(value=Document(
        name=f"projects/{project}/databases/(default)/documents/{path}",
        fields={k: _value(v) for k, v in document.items()},
        create_time=snap.create_time, update_time=snap.update_time,
    ))
    out.write_bytes(DocumentEventData.serialize(message))


CONTAINERS = [{"name": "web", "image": "nginx"}]
CASES = {
    "sync_controller": ("namespaces/default/replicationControllers/web", {
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"app": "web"},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": CONTAINERS}}},
    }),
    "sync_replicaset": ("namespaces/default/replicaSets/web", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": CONTAINERS}}},
    }),
    "sync_deployment": ("namespaces/default/deployments/web", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": CONTAINERS}}},
    }),
    "sync_pod": ("namespaces/default/pods/solo", {
        "metadata": {"name": "solo", "labels": {"app": "solo"}}, "spec": {"containers": CONTAINERS},
    }),
    "sync_service": ("namespaces/default/services/front", {
        "metadata": {"name": "front"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    }),
    "resync": ("", {}),
    "pod_status": ("namespaces/default/pods/solo", {
        "metadata": {"name": "solo", "labels": {"app": "solo"}}, "spec": {"containers": CONTAINERS},
    }),
}
STATUS_URL = "https://firecontrol-pod-status-bench.a.run.app"


def agent_report(project: str, compute: ComputeEmulator, path: str, document: dict[str, Any], out: Path) -> None:
    """A pod whose VM the pod runtime made, and its agent's first report with a token the
    Compute emulator's issuer signed for that VM: what ``pod_status`` gets on Google Cloud."""
    import urllib.request
    from dataclasses import replace

    from functions.config import Settings
    from functions.controllers.pods import sync_pod
    from functions.runtime import Runtime
    from functions.store import Store

    settings = replace(Settings(project=project, compute_api_endpoint=compute.url), pod_status_url=STATUS_URL)
    rt = Runtime(settings=settings, store=Store.for_project(project))
    rt.store.client.document(path).set(document)
    for _ in range(3):  # the finalizer first, then the VM
        sync_pod(rt.store, rt.provider, settings, "default", "solo", rt.clock)
    pod = rt.store.client.document(path).get().to_dict() or {}
    vm = pod["spec"]["nodeName"]
    ask = urllib.request.Request(f"{compute.url}/admin/identity", method="POST", headers={"Content-Type": "application/json"},
                                 data=json.dumps({"project": project, "zone": "us-central1-a", "instance": vm,
                                                  "audience": STATUS_URL}).encode())
    with urllib.request.urlopen(ask, timeout=10) as reply:
        token = json.load(reply)["token"]
    report = {"pod": "default/solo", "boot": "bench", "sequence": 1, "terminating": False, "containers": [
        {"name": c["name"], "state": "running", "reason": None, "message": None, "exitCode": None, "signal": None,
         "startedAt": 1795000000, "finishedAt": None, "lastState": None, "restartCount": 0, "ready": True,
         "started": True, "imageID": "", "containerID": ""} for c in CONTAINERS]}
    out.write_text(json.dumps([token, report]))


def main() -> None:
    firestore = FirestoreEmulator().start()
    compute = ComputeEmulator(timing=Timing(operation_delay=0.0, provisioning_delay=0.0, staging_delay=0.0)).start()
    try:
        print(f"{'entry point':<18}{'import main':>12}{'first call':>12}{'peak RSS':>11}  compute_v1 imported")
        os.environ["FIRESTORE_EMULATOR_HOST"] = firestore.host
        body = Path(tempfile.mkdtemp(prefix="cold-start-")) / "event.bin"
        for run, (target, (path, document)) in enumerate(CASES.items()):
            runs = []
            for attempt in range(3):
                project = f"bench-cold-{run}-{attempt}"
                if target == "pod_status":
                    agent_report(project, compute, path, document, body)
                elif path:
                    written_event(project, path, document, body)
                env = {**os.environ, "FIRESTORE_EMULATOR_HOST": firestore.host,
                       "GOOGLE_CLOUD_PROJECT": project, "COMPUTE_API_ENDPOINT": compute.url,
                       "FIRECONTROL_POD_START_TIMEOUT": "5", "FIRECONTROL_POD_STATUS_URL": STATUS_URL}
                out = subprocess.run(
                    [sys.executable, "-c", PROBE, target, f"documents/{path}", str(body)], cwd=ROOT, env=env,
                    capture_output=True, text=True, check=True,
                ).stdout.strip().splitlines()[-1]
                runs.append(json.loads(out))
            best = min(runs, key=lambda r: r["import_s"] + r["first_call_s"])
            print(
                f"{target:<18}{best['import_s'] * 1000:>10.0f}ms{best['first_call_s'] * 1000:>10.0f}ms"
                f"{best['peak_mib']:>8.0f}MiB  {best['compute_imported']}"
            )
        print("(best of 3 fresh interpreters; the default Cloud Functions instance has 256 MiB)")
    finally:
        compute.stop()
        firestore.stop()


if __name__ == "__main__":
    main()
