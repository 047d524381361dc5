"""``pod_status`` against the real Firestore emulator, with identity tokens minted by the
Compute emulator (its own issuer and certs, docs/agent-protocol.md §4).

Each pod is made as the pod runtime makes an agent pod: a VM in the Compute emulator,
the pod's ``spec.nodeName``, ``status.vmZone``, ``status.vmId`` and ``status.vmAgent``,
and the initial heartbeat document. A refused report must change nothing: both
documents are compared before and after, ``update_time`` included.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from emulator.compute import ComputeEmulator
from emulator.functions import FunctionServer
from functions.config import Settings
from functions.controllers.pod_reports import handle_report
from functions.heartbeats import heartbeat_path, initial_heartbeat
from functions.runtime import Runtime
from functions.store import PODS, Store, doc_path

ZONE = "us-central1-a"
URL = "https://us-central1-test.cloudfunctions.net/pod_status"
STARTED = 1_795_000_000


# -- the Compute emulator: VMs and their identity tokens ------------------------------


def _admin(compute: ComputeEmulator, path: str, body: Any) -> Any:
    request = urllib.request.Request(compute.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as reply:
        return json.loads(reply.read() or b"{}")


def make_vm(compute: ComputeEmulator, project: str, name: str) -> str:
    """A RUNNING VM in the emulator; its numeric id."""
    _admin(compute, "/emulator/instances", {"project": project, "zone": ZONE, "names": [name]})
    link = f"{compute.url}/compute/v1/projects/{project}/zones/{ZONE}/instances/{name}"
    with urllib.request.urlopen(link, timeout=5) as reply:
        return str(json.loads(reply.read())["id"])


def mint(compute: ComputeEmulator, project: str, instance: str, audience: str = URL, **extra: Any) -> str:
    """What the VM's metadata server would answer for ``identity?audience=...&format=full``."""
    body = {"project": project, "zone": ZONE, "instance": instance, "audience": audience, **extra}
    return str(_admin(compute, "/admin/identity", body)["token"])


def foreign_token(issuer: str, project: str, instance: str, instance_id: str) -> str:
    """A well-formed token for the right audience, signed by a key that is not the emulator's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    now = int(time.time())
    claims = {"iss": issuer, "aud": URL, "iat": now, "exp": now + 3600, "sub": "1",
              "google": {"compute_engine": {"project_id": project, "zone": ZONE, "instance_id": instance_id,
                                            "instance_name": instance}}}
    token: bytes = jwt.encode(crypt.RSASigner.from_string(pem, key_id="forged"), claims)
    return token.decode()


# -- pods as the pod runtime leaves them ----------------------------------------------


@pytest.fixture
def prt(settings: Settings, store: Store, compute: ComputeEmulator) -> Runtime:
    """A runtime for ``pod_status``: reports go to URL, tokens come from the Compute emulator."""
    return Runtime(settings=replace(settings, pod_status_url=URL, compute_api_endpoint=compute.url),
                   store=store, clock=lambda: datetime.now(UTC))


class AgentPod:
    def __init__(self, store: Store, compute: ComputeEmulator, project: str, name: str, policy: str = "Always"):
        self.store, self.compute, self.project, self.name = store, compute, project, name
        self.vm = f"fc-0000-{name}"
        self.vm_id = make_vm(compute, project, self.vm)
        self.path, self.heartbeat = doc_path("default", PODS, name), heartbeat_path("default", name)
        uid = str(uuid.uuid4())
        now = datetime.now(UTC)
        store.client.document(self.path).set({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "uid": uid},
            "spec": {"nodeName": self.vm, "restartPolicy": policy,
                     "containers": [{"name": "web", "image": "nginx:1.27"}]},
            "status": {"phase": "Running", "vmZone": ZONE, "vmId": self.vm_id, "vmAgent": "1", "podIP": "10.0.0.2",
                       "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now}]},
        })
        store.client.document(self.heartbeat).set(
            initial_heartbeat(now, pod_uid=uid, instance_name=self.vm, instance_id=self.vm_id, zone=ZONE))

    def token(self, **extra: Any) -> str:
        return mint(self.compute, self.project, self.vm, **extra)

    def snapshot(self) -> tuple[Any, ...]:
        """Both documents exactly as stored, update times included."""
        pod = self.store.client.document(self.path).get()
        beat = self.store.client.document(self.heartbeat).get()
        return pod.to_dict(), pod.update_time, beat.to_dict(), beat.update_time

    def pod(self) -> dict[str, Any]:
        return self.store.client.document(self.path).get().to_dict() or {}

    def beat(self) -> dict[str, Any]:
        return self.store.client.document(self.heartbeat).get().to_dict() or {}


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "web", "state": "running", "startedAt": STARTED, "restartCount": 0, "ready": True,
            "started": True, "imageID": "docker-pullable://nginx@sha256:ab", "containerID": "docker://01ef", **fields}


def report(pod: AgentPod, sequence: int, boot: str = "b00t", **fields: Any) -> bytes:
    return json.dumps({"pod": f"default/{pod.name}", "boot": boot, "sequence": sequence, "terminating": False,
                       "containers": [container(**fields)]}).encode()


def send(rt: Runtime, token: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
    return handle_report(rt, None if token is None else f"Bearer {token}", body)


# -- accepted reports ----------------------------------------------------------------


def test_a_good_report_writes_the_status_and_the_heartbeat(prt: Runtime, store: Store, compute: ComputeEmulator,
                                                           project: str) -> None:
    pod = AgentPod(store, compute, project, "web")
    token = pod.token()
    assert send(prt, token, report(pod, 1)) == (200, {"accepted": 1, "statusWritten": True})
    status = pod.pod()["status"]
    assert status["phase"] == "Running" and status["vmId"] == pod.vm_id and status["podIP"] == "10.0.0.2"
    assert status["containerStatuses"][0]["ready"] is True
    assert status["containerStatuses"][0]["imageID"] == "docker-pullable://nginx@sha256:ab"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "PodScheduled": "True", "Initialized": "True", "ContainersReady": "True", "Ready": "True"}
    beat = pod.beat()
    claims = jwt.decode(token, verify=False)
    assert (beat["boot"], beat["sequence"], beat["iat"]) == ("b00t", 1, claims["iat"])
    assert (beat["instanceName"], beat["instanceId"], beat["zone"]) == (pod.vm, pod.vm_id, ZONE)
    assert beat["renewTime"] > beat["expireAt"].replace(year=beat["expireAt"].year - 1)

    crashed = report(pod, 2, state="waiting", reason="CrashLoopBackOff", ready=False, started=False,
                     startedAt=None, restartCount=1, lastState={"state": "terminated", "exitCode": 1})
    assert send(prt, token, crashed)[0] == 200
    status = pod.pod()["status"]
    assert status["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert status["containerStatuses"][0]["restartCount"] == 1
    assert next(c for c in status["conditions"] if c["type"] == "Ready")["status"] == "False"


def test_a_pod_written_too_often_is_told_to_report_later(prt: Runtime, store: Store, compute: ComputeEmulator,
                                                         project: str) -> None:
    """A container holding its VM's token could send changing reports in a loop: each would
    cost a pod write and a sync_pod invocation. Past the limit of status writes in a
    window the reply is 429 and nothing is written; heartbeats still are."""
    limit = prt.settings.status_write_limit
    assert limit == 10  # the default

    pod = AgentPod(store, compute, project, "web")
    token = pod.token()
    for n in range(1, limit + 1):  # each changes the restart count: a status write
        assert send(prt, token, report(pod, n, restartCount=n))[1]["statusWritten"] is True
    before = pod.snapshot()
    code, reply = send(prt, token, report(pod, limit + 1, restartCount=99))
    if code == 200:  # the window turned between the writes: the next burst is refused instead
        assert reply["statusWritten"] is True
        for n in range(limit + 2, 2 * limit + 1):
            send(prt, token, report(pod, n, restartCount=100 + n))
        before = pod.snapshot()
        code, reply = send(prt, token, report(pod, 2 * limit + 1, restartCount=7))
    assert code == 429 and "report again later" in reply["error"]
    assert pod.snapshot() == before  # nothing written, not even the heartbeat

    unlimited = replace(prt, settings=replace(prt.settings, status_write_limit=0))
    other = AgentPod(store, compute, project, "other")
    other_token = other.token()
    for n in range(1, 2 * limit + 1):  # 0: no limit
        assert send(unlimited, other_token, report(other, n, restartCount=n)) == (200, {"accepted": n, "statusWritten": True})


def test_a_heartbeat_that_changes_nothing_writes_only_the_heartbeat(prt: Runtime, store: Store,
                                                                    compute: ComputeEmulator, project: str) -> None:
    pod = AgentPod(store, compute, project, "web")
    token = pod.token()
    assert send(prt, token, report(pod, 1))[0] == 200
    pod_before, pod_time, _, beat_time = pod.snapshot()
    ops = store.ops.snapshot()
    assert send(prt, token, report(pod, 2)) == (200, {"accepted": 2, "statusWritten": False})
    after = store.ops.snapshot()
    assert (after["reads"] - ops["reads"], after["writes"] - ops["writes"]) == (1, 1)
    pod_after, pod_time_after, beat, beat_time_after = pod.snapshot()
    assert (pod_after, pod_time_after) == (pod_before, pod_time) and beat_time_after > beat_time
    assert beat["sequence"] == 2


def test_the_same_content_through_the_full_path_does_not_write_the_pod(prt: Runtime, store: Store,
                                                                       compute: ComputeEmulator, project: str) -> None:
    """A new boot of the agent reads the pod again (the heartbeat's digest is the same, but
    a cleared one, as after ``Ready Unknown``, is not): an unchanged status is not rewritten."""
    pod = AgentPod(store, compute, project, "web")
    token = pod.token()
    assert send(prt, token, report(pod, 1))[0] == 200
    store.client.document(pod.heartbeat).update({"applied": ""})
    _, pod_time, _, _ = pod.snapshot()
    assert send(prt, token, report(pod, 1, boot="again")) == (200, {"accepted": 1, "statusWritten": False})
    assert pod.snapshot()[1] == pod_time


# -- refused reports change nothing ----------------------------------------------------


def _refusals(pod: AgentPod, other: AgentPod, prt: Runtime, compute: ComputeEmulator) -> dict[str, tuple[str, bytes]]:
    now = int(time.time())
    issuer = compute.url
    return {
        "another pod's instance": (other.token(), report(pod, 10)),
        "a wrong audience": (pod.token(audience="https://elsewhere.example/pod_status"), report(pod, 10)),
        "an expired token": (pod.token(issuedAt=now - 7200, lifetime=3600), report(pod, 10)),
        "a token of Google's issuer": (foreign_token("https://accounts.google.com", pod.project, pod.vm, pod.vm_id),
                                       report(pod, 10)),
        "a forged token of the emulator's issuer": (foreign_token(issuer, pod.project, pod.vm, pod.vm_id),
                                                    report(pod, 10)),
        "a replayed report": (pod.token(), report(pod, 5)),
        "an older sequence of the same boot": (pod.token(), report(pod, 4, restartCount=3)),
        "a token older than the last accepted one": (pod.token(issuedAt=now - 600), report(pod, 10)),
        "no token": ("", report(pod, 10)),
    }


REFUSALS = ["another pod's instance", "a wrong audience", "an expired token", "a token of Google's issuer",
            "a forged token of the emulator's issuer", "a replayed report", "an older sequence of the same boot",
            "a token older than the last accepted one", "no token"]


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refused_report_is_403_and_changes_nothing(case: str, prt: Runtime, store: Store,
                                                      compute: ComputeEmulator, project: str) -> None:
    pod, other = AgentPod(store, compute, project, "web"), AgentPod(store, compute, project, "db")
    assert send(prt, pod.token(), report(pod, 5)) == (200, {"accepted": 5, "statusWritten": True})
    token, body = _refusals(pod, other, prt, compute)[case]
    before, other_before = pod.snapshot(), other.snapshot()
    code, reply = send(prt, token or None, body)
    assert code == 403, reply
    assert pod.snapshot() == before and other.snapshot() == other_before


def test_a_token_for_another_project_is_refused(prt: Runtime, store: Store, compute: ComputeEmulator,
                                                project: str) -> None:
    pod = AgentPod(store, compute, project, "web")
    before = pod.snapshot()
    elsewhere = mint(compute, "someone-else", pod.vm)
    code, reply = send(prt, elsewhere, report(pod, 1))
    assert code == 403 and "project" in reply["error"] and pod.snapshot() == before


def test_a_report_is_refused_when_the_pod_records_another_vm(prt: Runtime, store: Store,
                                                              compute: ComputeEmulator, project: str) -> None:
    """The heartbeat still names the VM, the pod does not (its VM was replaced): the pod's
    own record decides, and nothing is written."""
    pod = AgentPod(store, compute, project, "web")
    token = pod.token()
    assert send(prt, token, report(pod, 1))[0] == 200
    store.client.document(pod.path).update({"status.vmId": "999"})
    before = pod.snapshot()
    code, reply = send(prt, token, report(pod, 2, restartCount=1))
    assert code == 403 and "not this pod's VM" in reply["error"] and pod.snapshot() == before


@pytest.mark.parametrize(("body", "problem"), [
    (b"{not json", "(body): not JSON"),
    (b'{"pod": "default/web", "boot": "b", "sequence": 1, "containers": [{"name": "web", "state": "gone"}]}',
     "containers[0].state"),
    (b'{"pod": "default/web", "boot": "b", "sequence": "1", "containers": []}', "sequence"),
])
def test_a_malformed_body_is_400_and_writes_nothing(body: bytes, problem: str, prt: Runtime, store: Store,
                                                    compute: ComputeEmulator, project: str) -> None:
    pod = AgentPod(store, compute, project, "web")
    before = pod.snapshot()
    code, reply = send(prt, pod.token(), body)
    assert code == 400 and any(p.startswith(problem) for p in reply["problems"]), reply
    assert pod.snapshot() == before


# -- concurrency -----------------------------------------------------------------------


def test_concurrent_reports_and_writers_never_lose_a_write(prt: Runtime, store: Store, compute: ComputeEmulator,
                                                           project: str) -> None:
    """Reports 1..N at once, and the pod runtime writing the pod meanwhile: the newest
    report's state wins, the sequence only climbs, and the other writer's field stays."""
    pod = AgentPod(store, compute, project, "web")
    token = pod.token()
    count = 6
    replies: dict[int, int] = {}
    start = threading.Barrier(count + 1)

    def one(sequence: int) -> None:
        start.wait()
        replies[sequence] = send(prt, token, report(pod, sequence, restartCount=sequence))[0]

    def other_writer() -> None:
        start.wait()
        store.client.document(pod.path).update({"status.hostIP": "10.0.0.9"})

    threads = [threading.Thread(target=one, args=(n,)) for n in range(1, count + 1)]
    threads.append(threading.Thread(target=other_writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert replies[count] == 200 and set(replies.values()) <= {200, 403}, replies
    status, beat = pod.pod()["status"], pod.beat()
    assert beat["sequence"] == count
    assert status["containerStatuses"][0]["restartCount"] == count
    assert status["hostIP"] == "10.0.0.9" and status["podIP"] == "10.0.0.2"


def test_concurrent_heartbeats_never_move_the_sequence_back(prt: Runtime, store: Store, compute: ComputeEmulator,
                                                            project: str) -> None:
    """Heartbeats (one read, one write each) race too: the write is guarded by the
    heartbeat's update time, so a slower, older one is refused, never written over a newer."""
    pod = AgentPod(store, compute, project, "web")
    token = pod.token()
    assert send(prt, token, report(pod, 1))[0] == 200
    pod_time = pod.snapshot()[1]
    sequence = 1
    for _round in range(4):
        batch = list(range(sequence + 1, sequence + 7))
        start = threading.Barrier(len(batch))
        codes: dict[int, int] = {}

        def one(n: int, start: threading.Barrier = start, codes: dict[int, int] = codes) -> None:
            start.wait()
            codes[n] = send(prt, token, report(pod, n))[0]

        threads = [threading.Thread(target=one, args=(n,)) for n in batch]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        sequence = batch[-1]
        assert codes[sequence] == 200 and set(codes.values()) <= {200, 403}, codes
        assert pod.beat()["sequence"] == sequence
    assert pod.snapshot()[1] == pod_time  # heartbeats all: the pod was never written


# -- the HTTP entry point ------------------------------------------------------------


def test_the_function_takes_a_real_post(prt: Runtime, store: Store, compute: ComputeEmulator, project: str,
                                        tmp_path: Any) -> None:
    pod = AgentPod(store, compute, project, "web")
    server = FunctionServer("pod_status", "http", env={
        "GOOGLE_CLOUD_PROJECT": project, "FIRECONTROL_POD_STATUS_URL": URL, "COMPUTE_API_ENDPOINT": compute.url,
    }, log_path=tmp_path / "pod_status.log").start()
    try:
        def post(token: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            request = urllib.request.Request(server.url, data=body, method="POST", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as reply:
                    return reply.status, json.loads(reply.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        assert post(pod.token(), report(pod, 1)) == (200, {"accepted": 1, "statusWritten": True})
        assert pod.pod()["status"]["containerStatuses"][0]["containerID"] == "docker://01ef"
        code, reply = post(None, report(pod, 2))
        assert code == 403 and "bearer" in reply["error"]
        assert post(pod.token(), b"[]")[0] == 400
        assert pod.beat()["sequence"] == 1
    finally:
        server.stop()
