"""The local stack: Firestore emulator with triggers, the router, one server per function.

``python main.py up`` runs it until Ctrl-C or SIGTERM, then stops every process it
started. The endpoints are printed and written to ``.firecontrol/local.json``, and a
kubeconfig for kubectl (``kube_api``'s URL, context ``firecontrol-local``, no auth) to
``.firecontrol/kubeconfig`` beside it; both are removed on the way out.

The Compute emulator runs a simulated agent per VM, which reports to ``pod_status`` as
the real agent does. That function starts first: every function is told its URL
(``FIRECONTROL_POD_STATUS_URL``), which the pod runtime writes into each VM and which is
the audience of the emulator's identity tokens. Any ``FIRECONTROL_*`` setting in the
environment (a shorter ``FIRECONTROL_AGENT_HEARTBEAT``, ``FIRECONTROL_HEARTBEAT_TIMEOUT``
or ``FIRECONTROL_EVICTION_TIMEOUT``, say) reaches every function server, and
``FIRECONTROL_AGENT_TIME_SCALE`` makes the simulated agents' clocks run faster.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml

from emulator.compute import ComputeEmulator, Timing
from emulator.firestore import EmulatorError, FirestoreEmulator
from emulator.functions import ROOT, FunctionServer
from emulator.process import EmulatorError as PortError
from emulator.process import free_port
from emulator.router import TriggerRouter
from emulator.scheduler import SchedulerEmulator
from functions.kubeconfig import LOCAL_CONTEXT, local_kubeconfig, render
from functions.scheduling import build_client, ensure_resync_job, resync_job_id

PROJECT = "firecontrol-local"
REGION = "us-central1"
# The installation, as on Google Cloud: every name carries the cluster, and its documents
# live in its own database (FIRECONTROL_CLUSTER, FIRECONTROL_DATABASE; the CLI reads the
# database from the state file).
CLUSTER = os.environ.get("FIRECONTROL_CLUSTER") or "firecontrol"
DATABASE = os.environ.get("FIRECONTROL_DATABASE") or "(default)"
# Where the endpoints are written (and the CLI reads them); logs go beside it.
STATE_FILE = Path(os.environ.get("FIRECONTROL_LOCAL_STATE") or ROOT / ".firecontrol" / "local.json")
# kubectl's configuration for the stack: KUBECONFIG=this file.
KUBECONFIG_FILE = STATE_FILE.parent / "kubeconfig"
# How fast the Scheduler emulator's clock runs: 30 fires a every-minute job every 2 s.
SCHEDULER_TIME_SCALE = float(os.environ.get("FIRECONTROL_SCHEDULER_TIME_SCALE") or 1.0)
# How fast the simulated agents' clocks run (heartbeats, back-off, probes); None: real time.
AGENT_TIME_SCALE = float(os.environ.get("FIRECONTROL_AGENT_TIME_SCALE") or 0) or None
# How long a VM takes from insert to RUNNING in the Compute emulator (half provisioning,
# half staging); None: the emulator's default, a fifth of a second.
VM_BOOT_SECONDS = float(os.environ.get("FIRECONTROL_VM_BOOT_SECONDS") or 0) or None
DEFINITION = ROOT / "infra" / "functions.yaml"
# Invocations at once: deliveries in flight, and requests each function server serves
# (a Cloud Run function scales out to max_instances, one request each).
ROUTER_WORKERS, FUNCTION_THREADS = 64, 32
# The function the agents report to: started first, its URL given to every function.
POD_STATUS = "pod_status"
# The Kubernetes API: kubectl's server.
KUBE_API = "kube_api"


def functions() -> list[dict[str, Any]]:
    """The functions and their triggers, from the one definition the deployment uses too."""
    loaded: list[dict[str, Any]] = yaml.safe_load(DEFINITION.read_text())["functions"]
    return loaded


def start_order(defined: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pod_status first (every other function is told its URL), the rest as defined."""
    return sorted(defined, key=lambda f: f["name"] != POD_STATUS)


def start_function(name: str, kind: str, env: dict[str, str], log_path: Path, url_env: str | None = None,
                   attempts: int = 3) -> FunctionServer:
    """A function server; with ``url_env``, one told its own URL in that variable, so its
    port is chosen first (and chosen again if another process takes it meanwhile)."""
    if url_env is None:
        return FunctionServer(name, kind, env, log_path=log_path).start()
    for attempt in range(attempts):
        port = free_port()
        own = {**env, url_env: f"http://127.0.0.1:{port}/"}
        try:
            return FunctionServer(name, kind, own, port=port, log_path=log_path).start()
        except PortError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def function_name(cluster: str, entry_point: str) -> str:
    """A function's name in an installation (its trigger's id here), as deploy.sh names it."""
    return f"{cluster}-{entry_point.replace('_', '-')}"


@contextmanager
def local_stack(
    project: str = PROJECT, logs: Path = STATE_FILE.parent / "logs", scheduler_time_scale: float = SCHEDULER_TIME_SCALE,
    cluster: str = CLUSTER, database: str = DATABASE, agent_time_scale: float | None = AGENT_TIME_SCALE,
    settings: dict[str, str] | None = None, vm_boot_seconds: float | None = VM_BOOT_SECONDS,
) -> Iterator[dict[str, Any]]:
    """The stack, stopped on the way out. ``settings``: more environment for every
    function server (``FIRECONTROL_HEARTBEAT_TIMEOUT`` and the like), over the process's."""
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        # Eventarc and Cloud Run scale out to many invocations at once: a wide pool of
        # deliveries, and many threads per function server (functions-framework's THREADS).
        router = TriggerRouter(workers=ROUTER_WORKERS).start()
        stack.callback(router.stop)
        firestore = FirestoreEmulator(functions_emulator=router.address, log_path=logs / "firestore.log").start()
        stack.callback(firestore.stop)
        timing = Timing(provisioning_delay=vm_boot_seconds / 2, staging_delay=vm_boot_seconds / 2) \
            if vm_boot_seconds else None
        compute = ComputeEmulator(agent_time_scale=agent_time_scale, timing=timing).start()
        stack.callback(compute.stop)
        env = {
            **{k: v for k, v in os.environ.items() if k.startswith("FIRECONTROL_")},
            **(settings or {}),
            "THREADS": str(FUNCTION_THREADS),
            "FIRESTORE_EMULATOR_HOST": firestore.host,
            "GOOGLE_CLOUD_PROJECT": project,
            "COMPUTE_API_ENDPOINT": compute.url,
            "FIRECONTROL_CLUSTER": cluster,
            "FIRECONTROL_DATABASE": database,
        }
        endpoints: dict[str, Any] = {
            "project": project, "cluster": cluster, "database": database,
            "firestore": firestore.host, "compute": compute.url, "functions": {},
        }
        scheduler = SchedulerEmulator(time_scale=scheduler_time_scale).start()
        stack.callback(scheduler.stop)
        endpoints["scheduler"] = scheduler.url
        for function in start_order(functions()):
            name, trigger = function["name"], function["trigger"]
            kind = "cloudevent" if trigger["type"] == "firestore" else "http"
            own_url = "FIRECONTROL_POD_STATUS_URL" if name == POD_STATUS else None
            server = start_function(name, kind, env, logs / f"{name}.log", url_env=own_url)
            stack.callback(server.stop)
            endpoints["functions"][name] = server.url
            if name == POD_STATUS:
                # Where the pod runtime tells each VM to report: the agents' audience too. The
                # function trusts the Compute emulator's issuer (COMPUTE_API_ENDPOINT is set).
                env["FIRECONTROL_POD_STATUS_URL"] = server.url
            if trigger["type"] == "firestore":
                # One trigger per installation, on its database only (Eventarc's database filter).
                trigger_id = function_name(cluster, name)
                router.route(project, trigger_id, server.url)
                firestore.register_trigger(project, trigger_id, trigger["document"], database)
            if function.get("schedule"):
                # The same code and client that create the job on Google Cloud.
                ensure_resync_job(
                    build_client(scheduler.url), project=project, region=REGION,
                    job_id=resync_job_id(cluster, name), uri=server.url,
                    schedule=function["schedule"],
                    service_account_email=f"{cluster}-scheduler@{project}.iam.gserviceaccount.com",
                )
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        kube_api = endpoints["functions"].get(KUBE_API)
        if kube_api:
            KUBECONFIG_FILE.write_text(render(local_kubeconfig(kube_api, LOCAL_CONTEXT)))
            stack.callback(KUBECONFIG_FILE.unlink, missing_ok=True)
            endpoints["kubeconfig"] = str(KUBECONFIG_FILE)
        STATE_FILE.write_text(json.dumps(endpoints, indent=2))
        try:
            yield endpoints
        finally:
            STATE_FILE.unlink(missing_ok=True)


def apply_demo(project: str, firestore_host: str, database: str = "(default)") -> None:
    os.environ["FIRESTORE_EMULATOR_HOST"] = firestore_host
    from google.cloud import firestore

    client = firestore.Client(project=project, database=database)
    collections = {"ReplicationController": "replicationControllers", "ReplicaSet": "replicaSets",
                   "Deployment": "deployments", "Service": "services"}
    for manifest in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(manifest.read_text()):
            if not doc:
                continue  # an empty document between two `---`
            collection = collections.get(doc.get("kind"))
            if collection is None:
                raise ValueError(f"{manifest.name}: kind {doc.get('kind')!r} is not one the demo applies "
                                 f"({', '.join(collections)})")
            client.document(f"namespaces/default/{collection}/{doc['metadata']['name']}").set(doc)


def show(project: str, stop: threading.Event, database: str = "(default)") -> None:
    """A live table of controllers and pods until stopped."""
    from google.cloud import firestore
    from rich.live import Live
    from rich.table import Table

    client = firestore.Client(project=project, database=database)

    def table() -> Table:
        grid = Table(title=f"firecontrol local · project {project}")
        for column in ("KIND", "NAME", "DESIRED", "CURRENT", "STATUS"):
            grid.add_column(column)
        for short, collection in (("deploy", "deployments"), ("rs", "replicaSets"), ("rc", "replicationControllers")):
            for snap in client.collection_group(collection).stream():
                data = snap.to_dict() or {}
                spec, status = data.get("spec") or {}, data.get("status") or {}
                failure = next((c.get("message") for c in status.get("conditions", [])
                                if c.get("type") == "ReplicaFailure"), "")
                grid.add_row(short, snap.id, str(spec.get("replicas", "")), str(status.get("replicas", 0)),
                             failure or "ok")
        for snap in client.collection_group("services").stream():
            data = snap.to_dict() or {}
            status = data.get("status") or {}
            ips = [i.get("ip") for i in (status.get("loadBalancer") or {}).get("ingress", [])]
            ready: dict[str, Any] = next(
                (c for c in status.get("conditions", []) if c.get("type") == "LoadBalancerReady"), {}
            )
            grid.add_row("svc", snap.id, "", ", ".join(ips) or "<pending>", str(ready.get("message") or ""))
        for snap in client.collection_group("pods").stream():
            data = snap.to_dict() or {}
            grid.add_row("pod", snap.id, "", "", str((data.get("status") or {}).get("phase", "")))
        return grid

    with Live(table(), refresh_per_second=2) as live:
        while not stop.wait(0.5):
            live.update(table())


def up(demo: bool = False) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with local_stack() as endpoints:
            print(json.dumps(endpoints, indent=2))
            if "kubeconfig" in endpoints:
                print(f"kubectl: export KUBECONFIG={endpoints['kubeconfig']}")
            print(f"endpoints written to {STATE_FILE}; Ctrl-C stops everything", flush=True)
            if demo:
                apply_demo(endpoints["project"], endpoints["firestore"], endpoints["database"])
                show(endpoints["project"], stop, endpoints["database"])
            else:
                while not stop.wait(1):
                    time.sleep(0)
    except EmulatorError as error:
        # Everything started so far was stopped on the way out of the stack.
        print(f"firecontrol up: cannot start the local stack: {error}", file=sys.stderr)
        return 2
    print("stopped")
    return 0
