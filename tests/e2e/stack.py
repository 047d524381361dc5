"""The local stack as a user runs it (``python main.py up``), for end-to-end tests: its
documents through a Firestore client, its Compute emulator through REST and the admin
routes, the CLI as a subprocess, and the real kubectl with the kubeconfig ``up`` wrote."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from google.cloud import firestore

from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
ZONE, REGION = "us-central1-a", "us-central1"
KUBECTL = shutil.which("kubectl")
Json = dict[str, Any]


class Stack:
    def __init__(self, endpoints: Json, env: dict[str, str], tmp: Path | None = None) -> None:
        self.endpoints, self.env = endpoints, env
        self.tmp = tmp
        self.project: str = endpoints["project"]
        saved = os.environ.get("FIRESTORE_EMULATOR_HOST")
        os.environ["FIRESTORE_EMULATOR_HOST"] = endpoints["firestore"]
        try:  # the client keeps the emulator's address; the process's setting is put back
            self.db = firestore.Client(project=self.project, database=endpoints["database"])
        finally:
            if saved is None:
                os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
            else:
                os.environ["FIRESTORE_EMULATOR_HOST"] = saved

    # -- Firestore, as any client writes and reads it ------------------------

    def put(self, namespace: str, collection: str, doc: Json) -> None:
        self.db.document(f"namespaces/{namespace}/{collection}/{doc['metadata']['name']}").set(doc)

    def get(self, namespace: str, collection: str, name: str) -> Json | None:
        snap = self.db.document(f"namespaces/{namespace}/{collection}/{name}").get()
        return snap.to_dict() if snap.exists else None

    def pods(self, namespace: str) -> list[Json]:
        return [s.to_dict() | {"_name": s.id} for s in self.db.collection(f"namespaces/{namespace}/pods").stream()]

    def events(self, namespace: str) -> list[Json]:
        return [s.to_dict() or {} for s in self.db.collection(f"namespaces/{namespace}/events").stream()]

    # -- Compute, through its REST API and the emulator's admin routes --------

    def compute(self, method: str, path: str, body: Json | None = None) -> Json:
        request = urllib.request.Request(self.endpoints["compute"] + path, method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            answer: Json = json.load(reply)
            return answer

    def state(self) -> Json:
        resources: Json = self.compute("GET", "/emulator/state")["resources"]
        return resources

    def vms(self) -> set[str]:
        return {i["name"] for i in self.state()["instances"]}

    def agent(self, vm: str, **body: Any) -> Json:
        path = f"/admin/agents/{self.project}/{ZONE}/{vm}"
        return self.compute("POST", path, body) if body else self.compute("GET", path)

    def pool_of(self, vm: str) -> str | None:
        for pool in self.state()["targetPools"]:
            if any(url.rsplit("/", 1)[1] == vm for url in pool.get("instances", [])):
                return str(pool["name"])
        return None

    def health(self, vm: str) -> str | None:
        pool = self.pool_of(vm)
        if pool is None:
            return None
        instance = f"projects/{self.project}/zones/{ZONE}/instances/{vm}"
        answer = self.compute("POST", f"/compute/v1/projects/{self.project}/regions/{REGION}/targetPools/{pool}/getHealth",
                              {"instance": instance})
        return str(answer["healthStatus"][0]["healthState"])

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    # -- kubectl, as a user runs it against the stack ---------------------------

    def kubectl_env(self, **more: str) -> dict[str, str]:
        """KUBECONFIG = the file ``up`` wrote; HOME and kubectl's cache in this stack's
        folder, so no user's configuration or cached discovery leaks in."""
        assert self.tmp is not None and KUBECTL is not None
        home = self.tmp / "kube-home"
        home.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        return {**env, "HOME": str(home), "KUBECACHEDIR": str(self.tmp / "kube-cache"),
                "KUBECONFIG": str(self.endpoints["kubeconfig"]), **more}

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 60,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """The real kubectl, unmodified; its output as text, its exit code unchecked."""
        assert KUBECTL is not None, "kubectl is not installed"
        return subprocess.run([KUBECTL, *args], cwd=ROOT, env=env or self.kubectl_env(), input=stdin,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def kubectl_ok(self, *args: str, **kwargs: Any) -> str:
        """kubectl that must succeed: its standard output."""
        result = self.kubectl(*args, **kwargs)
        assert result.returncode == 0, f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr}"
        return result.stdout

    def kubectl_json(self, *args: str) -> Json:
        loaded: Json = json.loads(self.kubectl_ok(*args, "-o", "json"))
        return loaded


# A stack for clients of kube_api: fast scheduler and agents, pods' reports never throttled.
CLIENT_SETTINGS = {"FIRECONTROL_SCHEDULER_TIME_SCALE": "30", "FIRECONTROL_AGENT_TIME_SCALE": "20",
                   "FIRECONTROL_STATUS_WRITE_LIMIT": "200"}


@contextmanager
def running_stack(tmp: Path, settings: dict[str, str]) -> Iterator[Stack]:
    """``python main.py up`` with ``settings`` (``FIRECONTROL_*``) in its environment, stopped
    (SIGTERM, as Ctrl-C) on the way out; its log is ``tmp/up.log``."""
    state = tmp / "local.json"
    env = {**os.environ, "FIRECONTROL_LOCAL_STATE": str(state), **settings}
    env.pop("FIRESTORE_EMULATOR_HOST", None)
    env.pop("GOOGLE_CLOUD_PROJECT", None)
    log = open(tmp / "up.log", "wb")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "main.py", "up"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: state.exists() or process.poll() is not None, timeout=90, interval=0.2)
        assert process.poll() is None, (tmp / "up.log").read_text()
        yield Stack(json.loads(state.read_text()), env, tmp)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        log.close()
