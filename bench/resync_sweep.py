"""A full resync sweep over 10,000 pods: wall time, peak memory, Firestore reads, per pod.

Pods are seeded directly as the runtime writes them (Running on their VMs, 100
controllers of 100), their VMs in the Compute emulator (zero delays). The sweep runs
in a process of its own, so its peak resident memory is its own; beside it, the same
process reading the pods whole, as the sweep did before it read a projection.
Run: ``.venv/bin/python bench/resync_sweep.py [pods]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emulator.compute import ComputeEmulator, Timing  # noqa: E402
from emulator.firestore import FirestoreEmulator  # noqa: E402

PROJECT = "bench-sweep"
PER = 100  # pods per controller
ENV_BYTES = 2_000  # each pod's env, so a pod's document is a few kB as real ones are

CHILD = """
import json, sys, time
from datetime import UTC, datetime
sys.path.insert(0, {root!r})
from functions.cloudprovider import GceConfig
from functions.cloudprovider.gce import GceCloud
from functions.config import Settings
from functions.runtime import Runtime
from functions.store import PODS, Store
settings = Settings(project={project!r}, cluster="fc", compute_api_endpoint={endpoint!r}, max_replicas=1000)
rt = Runtime(settings=settings, store=Store.for_project(settings.project), clock=lambda: datetime.now(UTC),
             cloud=GceCloud(GceConfig.from_settings(settings)))
def peak():  # this process's own high-water mark (ru_maxrss would count the parent's too)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024
rt.store.get("namespaces/default/replicationControllers/none")
rt.provider.list_instances()
before = peak()
start = time.perf_counter()
if {whole!r}:
    docs = rt.store.all_of_kind(PODS)
    summary = {{"firestore": rt.store.ops.snapshot(), "pods": len(docs)}}
else:
    from functions.controllers.resync import resync_all
    summary = resync_all(rt, full=True)
elapsed = time.perf_counter() - start
after = peak()
print(json.dumps({{"before": before, "after": after, "seconds": elapsed, "summary": summary}}, default=str))
"""


def seed(compute: ComputeEmulator, pods: int) -> None:
    from _seed import running_pod  # beside this script
    from google.cloud import firestore

    from functions.controllers.replica_kinds import controller_uid, owner_ref
    from functions.controllers.replication import sync_controller
    from functions.store import Store
    from functions.vm_spec import instance_name

    db = firestore.Client(project=PROJECT)
    store = Store(db)
    from functions.config import Settings

    settings = Settings(project=PROJECT, cluster="fc", max_replicas=1000)
    env = [{"name": f"V{i}", "value": "v" * (ENV_BYTES // 10)} for i in range(10)]
    names: list[str] = []
    for c in range(pods // PER):
        name = f"app{c}"
        rc = db.document(f"namespaces/default/replicationControllers/{name}")
        template_spec = {"containers": [{"name": "web", "image": "nginx", "env": env}]}
        rc.set({"metadata": {"name": name}, "spec": {
            "replicas": PER, "selector": {"app": name},
            "template": {"metadata": {"labels": {"app": name}}, "spec": template_spec}}})
        owner = owner_ref(name, controller_uid(rc.path, rc.get().create_time))
        batch = db.batch()
        for p in range(PER):
            pod = f"{name}-p{p}"
            vm = instance_name("fc", "default", pod)
            names.append(vm)
            batch.set(db.document(f"namespaces/default/pods/{pod}"), running_pod(pod, name, owner, vm, template_spec))
        batch.commit()
        sync_controller(store, settings, "default", name, lambda: datetime.now(UTC))  # at rest
    compute.state.seed_instances(PROJECT, "us-central1-a", names, {"firecontrol-cluster": "fc"})


def measure(compute: ComputeEmulator, whole: bool) -> dict[str, Any]:
    script = CHILD.format(root=str(ROOT), project=PROJECT, endpoint=compute.url, whole=whole)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    pods = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    firestore = FirestoreEmulator().start()
    os.environ["FIRESTORE_EMULATOR_HOST"] = firestore.host
    compute = ComputeEmulator(timing=Timing(operation_delay=0.0, provisioning_delay=0.0, staging_delay=0.0)).start()
    try:
        start = time.perf_counter()
        seed(compute, pods)
        print(f"seeded {pods} pods ({pods // PER} controllers) and their VMs in {time.perf_counter() - start:.0f} s")
        sweep = measure(compute, whole=False)
        summary = sweep["summary"]
        assert summary["errors"] == [] and summary["deferred"] == {}, summary
        mib = 2**20
        grew = sweep["after"] - sweep["before"]
        reads = summary["firestore"]["reads"]
        print(f"full resync sweep over {pods} pods: {sweep['seconds']:.2f} s, Firestore reads {reads}, "
              f"writes {summary['firestore']['writes']}; peak RSS {sweep['after'] / mib:.0f} MiB "
              f"(grew {grew / mib:.0f} MiB over the {sweep['before'] / mib:.0f} MiB of the runtime); "
              f"controllers {summary['controllers']}, pod passes {summary['pods']}, VMs deleted {summary['vmsDeleted']}")
        print(f"    per pod: {sweep['seconds'] / pods * 1000:.3f} ms, {reads / pods:.3f} reads, "
              f"{grew / pods:.0f} bytes of peak memory")
        whole = measure(compute, whole=True)
        grew_whole = whole["after"] - whole["before"]
        print(f"reading the same pods whole (as the sweep did before): {whole['seconds']:.2f} s, "
              f"peak RSS grew {grew_whole / mib:.0f} MiB ({grew_whole / pods:.0f} bytes a pod)")
    finally:
        compute.stop()
        firestore.stop()


if __name__ == "__main__":
    main()
