"""Pods that report what their containers do, through the real path on the local stack.

``python main.py up`` runs as a user runs it: the Firestore emulator delivers the
triggers, every function is its own functions-framework server, the Scheduler emulator
fires resync, and the Compute emulator runs a simulated agent on every pod VM that
reports to the ``pod_status`` function with tokens its identity issuer signs. The
agents' clock runs 20 times fast (a 10 s back-off takes 0.5 s); the functions' timeouts
are real seconds. Each test works in a namespace of its own on the one stack.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.stack import REGION, ROOT, ZONE, Json, Stack, running_stack
from tests.helpers import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = {"FIRECONTROL_SCHEDULER_TIME_SCALE": "30",
                "FIRECONTROL_AGENT_TIME_SCALE": "20",  # agents' heartbeat every 60 / 20 = 3 s
                "FIRECONTROL_HEARTBEAT_TIMEOUT": "10", "FIRECONTROL_EVICTION_TIMEOUT": "5",
                # 20 times fast, a crash loop's real writes come 20 times as often
                "FIRECONTROL_STATUS_WRITE_LIMIT": "200"}
    with running_stack(tmp_path_factory.mktemp("agent-stack"), settings) as running:
        yield running


class History:
    """Every version of a document a Firestore listener delivers, for claims about the
    whole run (a state that lasted half a second is seen, not sampled or missed)."""

    def __init__(self, stack: Stack, path: str) -> None:
        self.versions: list[Json] = []
        self.lock = threading.Lock()
        self.watch = stack.db.document(path).on_snapshot(self._on)

    def _on(self, snapshots: list[Any], *_: Any) -> None:
        with self.lock:
            self.versions += [s.to_dict() or {} for s in snapshots if s.exists]

    def any(self, check: Callable[[Json], bool]) -> bool:
        with self.lock:
            return any(check(v) for v in self.versions)

    def close(self) -> None:
        self.watch.unsubscribe()


def container(name: str = "web", port: int = 80, **extra: Any) -> Json:
    return {"name": name, "image": "nginx:1.27", "ports": [{"containerPort": port, "name": "http"}], **extra}


def rc(name: str, replicas: int, *containers: Json, **spec: Any) -> Json:
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"app": name}, **spec,
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": list(containers)}}}}


def lb(name: str, app: str, port: int, target: int | str) -> Json:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "selector": {"app": app},
                     "ports": [{"port": port, "targetPort": target, "protocol": "TCP"}]}}


def condition(pod: Json, kind: str) -> str | None:
    found = [c.get("status") for c in (pod.get("status") or {}).get("conditions", []) if c.get("type") == kind]
    return found[0] if found else None


def ready_pods(stack: Stack, namespace: str, n: int) -> list[Json]:
    """Exactly ``n`` pods, all Running and Ready as their agents report, each in its pool
    if a service selects it; or an empty list."""
    found = [p for p in stack.pods(namespace) if not (p.get("metadata") or {}).get("deletionTimestamp")]
    good = [p for p in found if (p.get("status") or {}).get("phase") == "Running" and condition(p, "Ready") == "True"]
    return good if len(good) == n == len(found) else []


def restarts(pod: Json | None) -> int:
    statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or [{}]
    return int(statuses[0].get("restartCount") or 0)


def waiting(pod: Json) -> Json:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return dict((statuses[0].get("state") or {}).get("waiting") or {})


def test_a_crashing_container_restarts_with_growing_back_off_and_leaves_service(stack: Stack) -> None:
    ns = "crash"
    stack.put(ns, "replicationControllers", rc("web", 2, container()))
    stack.put(ns, "services", lb("web", "web", 80, 80))
    [a, b] = wait_for(lambda: ready_pods(stack, ns, 2), timeout=90, interval=0.3)
    vm = a["spec"]["nodeName"]
    wait_for(lambda: stack.health(vm) == "HEALTHY" and stack.health(b["spec"]["nodeName"]) == "HEALTHY",
             timeout=60, interval=0.3)
    wait_for(lambda: (stack.get(ns, "replicationControllers", "web") or {}).get("status", {}).get("readyReplicas") == 2,
             timeout=30, interval=0.3)
    history = History(stack, f"namespaces/{ns}/pods/{a['_name']}")
    controller = History(stack, f"namespaces/{ns}/replicationControllers/web")
    try:
        # The kubelet restarts at once the first time, then backs off 10, 20, 40 s, ...
        for crash in range(1, 6):
            wait_for(lambda: stack.agent(vm)["containers"][0]["state"] == "running", timeout=30, interval=0.1)
            stack.agent(vm, container="web", action="crash")
            wait_for(lambda n=crash: restarts(stack.get(ns, "pods", a["_name"])) == n, timeout=30, interval=0.1)
        wait_for(lambda: stack.agent(vm)["containers"][0]["state"] == "running", timeout=30, interval=0.1)
        stack.agent(vm, container="web", action="crash")  # the sixth restart waits 160 s (8 s here)
        # While it backs off: not Ready, out of the load balancer's healthy set, one ready replica.
        wait_for(lambda: condition(stack.get(ns, "pods", a["_name"]) or {}, "Ready") == "False", timeout=8, interval=0.1)
        assert stack.health(vm) == "UNHEALTHY" and stack.health(b["spec"]["nodeName"]) == "HEALTHY"
        wait_for(lambda: controller.any(lambda v: (v.get("status") or {}).get("readyReplicas") == 1), timeout=8)
        wait_for(lambda: restarts(stack.get(ns, "pods", a["_name"])) == 6, timeout=30, interval=0.2)
        back_offs = []
        with history.lock:
            for version in history.versions:
                message = waiting(version).get("message") or ""
                if waiting(version).get("reason") == "CrashLoopBackOff" and message.startswith("back-off "):
                    back_offs.append(int(message.split()[1].rstrip("s")))
        assert sorted(set(back_offs)) == [10, 20, 40, 80, 160], back_offs  # doubling, as the kubelet's
        wait_for(lambda: stack.health(vm) == "HEALTHY", timeout=30, interval=0.2)  # back once it runs again
        wait_for(lambda: (stack.get(ns, "replicationControllers", "web") or {}).get("status", {}).get("readyReplicas") == 2,
                 timeout=30, interval=0.3)
    finally:
        history.close()
        controller.close()


def test_readiness_takes_a_pod_out_of_service_and_back_liveness_restarts(stack: Stack) -> None:
    ns = "probes"
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2, "failureThreshold": 2}
    stack.put(ns, "replicationControllers", rc("web", 1, container(readinessProbe=probe, livenessProbe=probe)))
    stack.put(ns, "services", lb("web", "web", 80, "http"))
    [pod] = wait_for(lambda: ready_pods(stack, ns, 1), timeout=90, interval=0.3)
    vm, name = pod["spec"]["nodeName"], pod["_name"]
    wait_for(lambda: stack.health(vm) == "HEALTHY", timeout=60, interval=0.3)

    stack.agent(vm, container="web", action="readiness", ok=False)
    wait_for(lambda: condition(stack.get(ns, "pods", name) or {}, "Ready") == "False", timeout=30, interval=0.2)
    assert stack.health(vm) == "UNHEALTHY"
    assert restarts(stack.get(ns, "pods", name)) == 0  # readiness never restarts
    stack.agent(vm, container="web", action="readiness", ok=True)
    wait_for(lambda: condition(stack.get(ns, "pods", name) or {}, "Ready") == "True", timeout=30, interval=0.2)
    assert stack.health(vm) == "HEALTHY"

    stack.agent(vm, container="web", action="liveness", ok=False)
    wait_for(lambda: restarts(stack.get(ns, "pods", name)) >= 1, timeout=30, interval=0.2)
    stack.agent(vm, container="web", action="liveness", ok=True)
    last = (stack.get(ns, "pods", name) or {})["status"]["containerStatuses"][0]
    assert last["lastState"]["terminated"]["exitCode"] == 137  # killed for its failed liveness probe
    wait_for(lambda: condition(stack.get(ns, "pods", name) or {}, "Ready") == "True", timeout=30, interval=0.2)


@pytest.mark.parametrize(("code", "phase", "reason"), [(0, "Succeeded", "Completed"), (1, "Failed", "Error")])
def test_a_bare_pod_that_never_restarts_finishes(stack: Stack, code: int, phase: str, reason: str) -> None:
    ns, name = f"bare-{code}", "job"
    stack.put(ns, "pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "job"}},
                           "spec": {"restartPolicy": "Never", "containers": [container("task")]}})
    pod = wait_for(lambda: (p := stack.get(ns, "pods", name)) and (p.get("status") or {}).get("phase") == "Running" and p,
                   timeout=90, interval=0.3)
    vm = pod["spec"]["nodeName"]
    wait_for(lambda: stack.agent(vm)["containers"][0]["state"] == "running", timeout=30, interval=0.1)
    stack.agent(vm, container="task", action="output", text=f"exiting with {code}")
    stack.agent(vm, container="task", action="exit", code=code)
    done = wait_for(lambda: (p := stack.get(ns, "pods", name)) and p["status"]["phase"] == phase and p,
                    timeout=30, interval=0.2)
    terminated = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (code, reason)
    assert restarts(done) == 0
    wait_for(lambda: vm not in stack.vms(), timeout=30, interval=0.3)  # a finished pod's VM is released
    assert (stack.get(ns, "pods", name) or {})["status"]["phase"] == phase  # and the pod keeps its record
    printed = stack.cli("logs", name, "-n", ns)  # its output outlives its VM, as kubectl logs has it
    assert printed.returncode == 0 and f"exiting with {code}" in printed.stdout, printed


def test_a_silent_vm_is_unknown_then_failed_and_replaced(stack: Stack) -> None:
    ns = "silent"
    stack.put(ns, "replicationControllers", rc("web", 1, container()))
    [pod] = wait_for(lambda: ready_pods(stack, ns, 1), timeout=90, interval=0.3)
    vm, name = pod["spec"]["nodeName"], pod["_name"]
    stack.agent(vm, action="silent", ok=True)
    unknown = wait_for(lambda: (p := stack.get(ns, "pods", name)) and condition(p, "Ready") == "Unknown" and p,
                       timeout=40, interval=0.3)
    assert unknown["status"]["phase"] == "Running"  # Unknown first: not yet given up
    lost = wait_for(lambda: (p := stack.get(ns, "pods", name)) and p["status"]["phase"] == "Failed" and p,
                    timeout=40, interval=0.3)
    assert lost["status"]["reason"] == "NodeLost"

    def replacement() -> Json | None:
        others = [p for p in stack.pods(ns) if p["_name"] != name]
        return others[0] if len(others) == 1 and condition(others[0], "Ready") == "True" else None

    new = wait_for(replacement, timeout=90, interval=0.3)  # the controller made a new pod, on a new VM
    assert new["spec"]["nodeName"] != vm and new["status"]["phase"] == "Running"
    wait_for(lambda: vm not in stack.vms(), timeout=30, interval=0.3)


def _post_report(stack: Stack, token: str, body: Json) -> int:
    request = urllib.request.Request(stack.endpoints["functions"]["pod_status"], method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_forged_reports_are_refused_and_change_nothing(stack: Stack) -> None:
    ns = "forged"
    stack.put(ns, "replicationControllers", rc("web", 2, container()))
    [a, b] = wait_for(lambda: ready_pods(stack, ns, 2), timeout=90, interval=0.3)
    audience = stack.endpoints["functions"]["pod_status"]
    # Pod a's VM goes quiet, so nothing but the forgeries could write its status.
    stack.agent(a["spec"]["nodeName"], action="silent", ok=True)
    time.sleep(1)
    before = stack.db.document(f"namespaces/{ns}/pods/{a['_name']}").get()
    heartbeat = stack.db.document(f"namespaces/{ns}/heartbeats/{a['_name']}").get()
    report = {"pod": f"{ns}/{a['_name']}", "boot": "forger", "sequence": 10**9, "terminating": False,
              "containers": [{"name": "web", "state": "terminated", "reason": "Error", "message": None,
                              "exitCode": 1, "signal": None, "startedAt": None, "finishedAt": None,
                              "lastState": None, "restartCount": 99, "ready": False, "started": False,
                              "imageID": "", "containerID": ""}]}

    def token(instance: str, **claims: Any) -> str:
        body = {"project": stack.project, "zone": ZONE, "instance": instance, "audience": audience, **claims}
        return str(stack.compute("POST", "/admin/identity", body)["token"])

    forgeries = {
        "another pod's VM": token(b["spec"]["nodeName"]),
        "another audience": token(a["spec"]["nodeName"], audience="https://example.com/pod_status"),
        "an expired token": token(a["spec"]["nodeName"], issuedAt=int(time.time()) - 7200, lifetime=3600),
        "a made-up VM": token("firecontrol-not-a-vm-0000000000"),
    }
    for what, forged in forgeries.items():
        assert _post_report(stack, forged, report) == 403, what
    # A replay: the right VM's token, but a report its agent sent long ago (its boot, an old sequence).
    view = stack.agent(a["spec"]["nodeName"])
    replayed = {**report, "boot": view["boot"], "sequence": 1}
    assert _post_report(stack, token(a["spec"]["nodeName"]), replayed) == 403
    assert _post_report(stack, "not-a-token", report) == 403
    after = stack.db.document(f"namespaces/{ns}/pods/{a['_name']}").get()
    assert after.update_time == before.update_time and after.to_dict() == before.to_dict()
    assert stack.db.document(f"namespaces/{ns}/heartbeats/{a['_name']}").get().update_time == heartbeat.update_time
    stack.agent(a["spec"]["nodeName"], action="silent", ok=False)


GUESTBOOK_CONTROLLER = {  # kubernetes/examples guestbook-go/guestbook-controller.json, as published
    "kind": "ReplicationController", "apiVersion": "v1",
    "metadata": {"name": "guestbook", "labels": {"app": "guestbook"}},
    "spec": {"replicas": 3, "selector": {"app": "guestbook"}, "template": {
        "metadata": {"labels": {"app": "guestbook"}},
        "spec": {"containers": [{"name": "guestbook", "image": "registry.k8s.io/guestbook:v3",
                                 "ports": [{"name": "http-server", "containerPort": 3000}]}]}}},
}
GUESTBOOK_SERVICE = {  # guestbook-go/guestbook-service.json
    "kind": "Service", "apiVersion": "v1",
    "metadata": {"name": "guestbook", "labels": {"app": "guestbook"}},
    "spec": {"ports": [{"port": 3000, "targetPort": "http-server"}], "selector": {"app": "guestbook"},
             "type": "LoadBalancer"},
}


def _reach(stack: Stack, ip: str, port: int) -> list[Json]:
    query = f"/admin/lb?project={stack.project}&region={REGION}&ip={ip}&port={port}&protocol=TCP"
    answer = stack.compute("GET", query)
    backends: list[Json] = answer["backends"]
    return backends


def _ingress(stack: Stack, ns: str, name: str) -> str | None:
    ingress = ((stack.get(ns, "services", name) or {}).get("status") or {}).get("loadBalancer", {}).get("ingress")
    return str(ingress[0]["ip"]) if ingress else None


def test_named_and_different_target_ports_reach_the_pods(stack: Stack) -> None:
    ns = "guestbook"
    stack.put(ns, "replicationControllers", GUESTBOOK_CONTROLLER)
    stack.put(ns, "services", GUESTBOOK_SERVICE)
    stack.put(ns, "services", lb("frontend", "guestbook", 80, 3000))
    pods = wait_for(lambda: ready_pods(stack, ns, 3), timeout=120, interval=0.3)
    vms = sorted(p["spec"]["nodeName"] for p in pods)
    for name, port in (("guestbook", 3000), ("frontend", 80)):
        ip = wait_for(lambda n=name: _ingress(stack, ns, n), timeout=60, interval=0.3)
        # A new load balancer's members get their redirects just after it is made: wait for them.
        reached = wait_for(lambda i=ip, p=port: len(r := _reach(stack, i, p)) == 3 and {m["port"] for m in r} == {3000}
                           and r, timeout=60, interval=0.3)
        assert sorted(m["name"] for m in reached) == vms
        assert {m["port"] for m in reached} == {3000}, reached  # 3000 -> http-server, 80 -> 3000
    for service in ("guestbook", "frontend"):
        conditions = ((stack.get(ns, "services", service) or {}).get("status") or {}).get("conditions", [])
        assert not [c for c in conditions if c.get("status") == "False"], conditions


def test_a_deleted_pod_leaves_the_pool_before_its_vm_goes(stack: Stack) -> None:
    ns = "graceful"
    hook = {"preStop": {"sleep": {"seconds": 40}}}  # 2 s here; the grace is 30 s (1.5 s): killed at its end
    stack.put(ns, "pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo", "labels": {"app": "solo"}},
                           "spec": {"containers": [container(lifecycle=hook)], "terminationGracePeriodSeconds": 30}})
    stack.put(ns, "services", lb("solo", "solo", 80, 80))
    pod = wait_for(lambda: ready_pods(stack, ns, 1) and stack.get(ns, "pods", "solo"), timeout=90, interval=0.3)
    vm = pod["spec"]["nodeName"]
    wait_for(lambda: stack.pool_of(vm) is not None, timeout=60, interval=0.3)

    seen: list[tuple[float, bool, bool]] = []  # (time, in a pool, VM exists)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            state = stack.state()
            pools = [u.rsplit("/", 1)[1] for p in state["targetPools"] for u in p.get("instances", [])]
            seen.append((time.monotonic(), vm in pools, vm in {i["name"] for i in state["instances"]}))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    asked = time.monotonic()
    done = stack.cli("delete", "pod", "solo", "-n", ns)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: stack.get(ns, "pods", "solo") is None, timeout=60, interval=0.2)
    # The VM is gone before the document is, but the sampler may not have looked since: let it.
    wait_for(lambda: any(not exists for _, _, exists in seen), timeout=10, interval=0.05)
    stop.set()
    sampler.join()
    out = next(t for t, pooled, _ in seen if not pooled)
    gone = next(t for t, _, exists in seen if not exists)
    assert all(exists for t, _, exists in seen if t < out)  # the pool first ...
    assert gone > out  # ... the VM after
    assert gone - asked >= 1.0  # not before the containers' preStop and exit (1.5 s of grace here)
    [killing] = [e for e in stack.events(ns) if e.get("reason") == "Killing"]
    assert "solo" in json.dumps(killing, default=str)


def test_logs_prints_a_containers_output_and_follows_it(stack: Stack) -> None:
    ns = "logs"
    stack.put(ns, "pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "talker"},
                           "spec": {"containers": [container("talk")]}})
    pod = wait_for(lambda: (p := stack.get(ns, "pods", "talker")) and (p.get("status") or {}).get("phase") == "Running"
                   and p, timeout=90, interval=0.3)
    vm = pod["spec"]["nodeName"]
    stack.agent(vm, container="talk", action="output", text="hello from talk\nsecond line")
    wait_for(lambda: "second line" in stack.cli("logs", "talker", "-n", ns).stdout, timeout=20, interval=0.3)
    printed = stack.cli("logs", "talker", "-n", ns, "--tail", "1")
    assert printed.returncode == 0 and printed.stdout.splitlines() == ["second line"], printed

    follow = subprocess.Popen([sys.executable, "main.py", "logs", "talker", "-n", ns, "-f"], cwd=ROOT, env=stack.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)
        stack.agent(vm, container="talk", action="output", text="later line")
        lines: list[str] = []
        assert follow.stdout is not None
        deadline = time.monotonic() + 20
        while "later line" not in lines and time.monotonic() < deadline:
            lines.append(follow.stdout.readline().rstrip("\n"))
        assert "later line" in lines and "hello from talk" in lines, lines
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(timeout=20)
