"""The HTTP front of the emulator: the Compute v1 REST routes, the ``/emulator`` admin routes,
and the simulated agents' ``/admin`` routes and identity certs (``agent``, ``identity``).

``ComputeEmulator(port=0).start()`` serves in a background thread (tests, benchmarks);
``python -m emulator.compute --port N`` serves in the foreground.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import asdict, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from emulator.jsonhttp import JsonHandler

from . import health, serial
from .agent import Agents
from .agent_pod import AdminError
from .errors import ApiError, not_found
from .faults import FaultRule, Faults
from .identity import LIFETIME, Issuer, identity_of
from .model import KINDS, Key, Quotas, Timing
from .resources import cpus_in_use, region_of
from .state import ComputeState

Json = dict[str, Any]

_API = re.compile(
    r"^/compute/v1/projects/(?P<project>[^/]+)/"
    r"(?:(?P<scope>(?:zones|regions)/[^/]+|global)/(?P<collection>[A-Za-z]+)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<action>[A-Za-z]+))?)?"
    r"|aggregated/(?P<aggregated>[A-Za-z]+))$"
)
_ADMIN_INSTANCE = re.compile(r"^/emulator/projects/(?P<project>[^/]+)/zones/(?P<zone>[^/]+)/instances/(?P<name>[^/]+)(?P<stop>/stop)?$")
_AGENT = re.compile(r"^/admin/agents/(?P<project>[^/]+)/(?P<zone>[^/]+)/(?P<name>[^/]+)$")
_OPERATIONS = {"zones": "zoneOperations", "regions": "regionOperations", "global": "globalOperations"}


def api_method(method: str, match: re.Match[str] | None) -> str:
    """The Compute API method a request calls, e.g. ``targetPools.addInstance``: the counter key."""
    if match is None:
        return f"unknown.{method}"
    if match["aggregated"]:
        return f"{match['aggregated']}.aggregatedList"
    collection = match["collection"]
    if collection == "operations":
        collection = _OPERATIONS[match["scope"].split("/")[0]]
    if match["action"]:
        return f"{collection}.{match['action']}"
    verb = {"GET": "get" if match["name"] else "list", "POST": "insert", "DELETE": "delete", "PATCH": "patch"}
    return f"{collection}.{verb.get(method, method.lower())}"


class ComputeEmulator:
    """A stateful Compute Engine API on ``url``; bind port 0 for a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, timing: Timing | None = None, seed: int | None = 0,
                 quotas: Quotas | None = None, agent_time_scale: float | None = None) -> None:
        self._quotas = quotas or Quotas()  # what ``reset`` goes back to
        self.state = ComputeState(timing or Timing(), quotas=_copy(self._quotas))
        self.faults = Faults(seed)
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self.state.base_url = self.url
        self.issuer = Issuer(self.url)
        self.agents = Agents(self.state, self.issuer, agent_time_scale)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> ComputeEmulator:
        self.agents.start()
        self._thread = threading.Thread(target=self.server.serve_forever, name="compute-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.agents.start()
        try:
            self.server.serve_forever()
        finally:
            self.agents.stop()

    def stop(self) -> None:
        self.agents.stop()
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- the admin surface, also callable in-process ---------------------------

    def inject(self, **rule: Any) -> FaultRule:
        fault = FaultRule.from_json(rule)
        self.faults.add(fault)
        return fault

    def requests(self) -> dict[str, int]:
        return dict(self.faults.requests)

    def reset(self) -> None:
        self.agents.reset()
        self.state.reset()
        self.state.quotas = _copy(self._quotas)
        self.faults.clear()
        self.faults.reset_counts()

    def set_quotas(self, data: Json) -> Json:
        """Change the quotas (``cpus``: every region's CPUS limit, ``region_cpus``: per region)
        until the next reset; answer the limits and each region's usage."""
        with self.state.lock:
            quotas = self.state.quotas
            if "cpus" in data:
                quotas.cpus = float(data["cpus"])
            if "region_cpus" in data:
                quotas.region_cpus = {str(r): float(v) for r, v in dict(data["region_cpus"]).items()}
            return self.quotas()

    def quotas(self) -> Json:
        """The limits, and the CPUS in use in each region that has instances."""
        self.state.advance()
        with self.state.lock:
            quotas = self.state.quotas
            keys = [k for k in (*self.state.resources, *self.state.pending) if k.collection == "instances"]
            regions = sorted({(k.project, region_of(k.scope) or "") for k in keys})
            usage: dict[str, dict[str, int]] = {}
            for project, region in regions:
                usage.setdefault(project, {})[region] = cpus_in_use(self.state, project, region)
            return {"cpus": quotas.cpus, "region_cpus": dict(quotas.region_cpus), "usage": usage}

    def configure(self, data: Json) -> Json:
        for name in asdict(self.state.timing):
            if name in data:
                setattr(self.state.timing, name, float(data[name]))
        if "seed" in data:
            self.faults.seed(data["seed"])
        if "agent_time_scale" in data:
            scale = float(data["agent_time_scale"])
            if not scale > 0:
                raise ValueError(f"agent_time_scale must be above 0, not {scale}")
            self.agents.scale = scale
        return {**asdict(self.state.timing), "agent_time_scale": self.agents.scale}

    # -- request handling --------------------------------------------------------

    def handle_api(self, method: str, path: str, query: dict[str, str], body: Json) -> Json:
        match = _API.match(path)
        if match is None:
            raise not_found(path.removeprefix("/compute/v1/"))
        state = self.state
        project = match["project"]
        if match["aggregated"]:
            if method != "GET" or match["aggregated"] not in KINDS:
                raise not_found(path)
            return state.aggregated_list(project, match["aggregated"], query)
        scope, collection, name, action = match["scope"], match["collection"], match["name"], match["action"]
        if collection == "operations" and name:
            return self._operation(Key(project, scope, "operations", name), method, action)
        kind = KINDS.get(collection)
        if kind is None or kind.scope != scope.split("/")[0]:
            raise not_found(path.removeprefix("/compute/v1/"))
        key = Key(project, scope, collection, name or "")
        if name is None:
            if method == "GET":
                return state.list_scope(project, scope, collection, query)
            if method == "POST":
                return state.insert(project, scope, collection, body)
        elif action is None:
            if method == "GET":
                return state.get(key)
            if method == "DELETE":
                return state.delete(key)
            if method == "PATCH" and collection in ("firewalls", "httpHealthChecks"):
                return state.action(key, "patch", body)
        elif collection == "instances" and action == "serialPort" and method == "GET":
            return self.serial_output(key, query)
        elif collection == "targetPools" and action == "getHealth" and method == "POST":
            return health.get_health(state, key, body, self.pod_ready)
        elif method == "POST":
            return state.action(key, action, body)
        raise ApiError(405, f"Method {method} is not allowed on {path}", "methodNotAllowed")

    def serial_output(self, key: Key, query: dict[str, str]) -> Json:
        """``instances.getSerialPortOutput``: int64 ``start`` and ``next`` as JSON strings, as Compute writes them."""
        port = serial.check_port(query.get("port", "1"))
        start = serial.check_start(query.get("start", "0"))
        self.state.advance()
        with self.state.lock:
            instance_id = str(self.state.require(key).get("id", ""))
        contents, first, after = self.state.serial.read(key, instance_id, port, start)
        return {"kind": "compute#serialPortOutput", "contents": contents, "start": str(first), "next": str(after),
                "selfLink": f"{self.state.link(key)}/serialPort"}

    def pod_ready(self, key: Key, instance_id: str) -> bool:
        """Whether the instance's simulated agent says its pod is Ready."""
        return self.agents.ready(key, instance_id)

    def mint_identity(self, data: Json) -> Json:
        """``POST /admin/identity``: a token of a stored or made-up instance, for any audience,
        issued at any time (``issuedAt``, epoch seconds) for any ``lifetime``."""
        project, zone, name = str(data["project"]), str(data["zone"]), str(data["instance"])
        with self.state.lock:
            stored = self.state.resources.get(Key(project, f"zones/{zone}", "instances", name))
            who = identity_of(project, zone, name, stored)
        issued = data.get("issuedAt")
        token = self.issuer.mint(who, str(data["audience"]), lifetime=int(data.get("lifetime", LIFETIME)),
                                 issued_at=None if issued is None else float(issued))
        return {"token": token}

    def handle_agent_admin(self, method: str, path: str, query: dict[str, str], body: Json) -> tuple[int, Any]:
        """The identity issuer's certs and the simulated agents' admin routes (``agent``)."""
        if path == "/oauth2/v1/certs" and method == "GET":
            return 200, self.issuer.certs()
        if path == "/admin/identity" and method == "POST":
            return 200, self.mint_identity(body)
        if path == "/admin/lb" and method == "GET":
            return 200, health.lb_backends(self.state, query["project"], query["region"], query["ip"],
                                           int(query["port"]), query.get("protocol", "TCP"), self.pod_ready)
        match = _AGENT.match(path)
        if match and method in ("GET", "POST"):
            key = Key(match["project"], f"zones/{match['zone']}", "instances", match["name"])
            view = self.agents.admin(key, body) if method == "POST" else self.agents.view(key)
            if view is None:
                return 404, {"error": {"code": 404, "message": f"no running agent on {key.path}"}}
            return 200, view
        return 404, {"error": {"code": 404, "message": f"no admin route {method} {path}"}}

    def _operation(self, key: Key, method: str, action: str | None) -> Json:
        op = self.state.operation(key)
        if method == "POST" and action == "wait":
            deadline = time.monotonic() + self.state.timing.wait_timeout
            while not op.done and time.monotonic() < deadline:
                time.sleep(max(0.0, min(op.done_at, deadline) - time.monotonic()) + 0.001)
                op = self.state.operation(key)
        elif method != "GET" or action is not None:
            raise ApiError(405, f"Method {method} is not allowed on operations", "methodNotAllowed")
        with self.state.lock:
            return self.state.render_operation(op)

    def handle_admin(self, method: str, path: str, body: Json) -> tuple[int, Any]:
        if path == "/emulator/state" and method == "GET":
            return 200, self.state.dump()
        if path == "/emulator/reset" and method == "POST":
            self.reset()
            return 200, {}
        if path == "/emulator/faults":
            if method == "POST":
                return 200, self.inject(**body).to_json()
            if method == "DELETE":
                self.faults.clear()
                return 200, {}
            return 200, {"faults": [r.to_json() for r in self.faults.rules]}
        if path == "/emulator/requests":
            if method == "DELETE":
                self.faults.reset_counts()
                return 200, {}
            return 200, {"requests": self.requests(), "injected": dict(self.faults.injected),
                         "refused": dict(self.faults.refused), "total": sum(self.faults.requests.values())}
        if path == "/emulator/config":
            return 200, self.configure(body if method == "POST" else {})
        if path == "/emulator/quotas":
            return 200, self.set_quotas(body) if method == "POST" else self.quotas()
        if path == "/emulator/instances" and method == "POST":
            created = self.state.seed_instances(body["project"], body["zone"], list(body["names"]), dict(body.get("labels", {})))
            return 200, {"created": created}
        match = _ADMIN_INSTANCE.match(path)
        if match:
            key = Key(match["project"], f"zones/{match['zone']}", "instances", match["name"])
            if method == "POST" and match["stop"]:
                return 200, self.state.stop_instance(key)
            if method == "DELETE" and not match["stop"]:
                self.state.remove_now(key)
                return 200, {}
        return 404, {"error": {"code": 404, "message": f"no admin route {method} {path}"}}


def _copy(quotas: Quotas) -> Quotas:
    return replace(quotas, region_cpus=dict(quotas.region_cpus))


def _handler(emulator: ComputeEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def _serve(self) -> None:
            url, query, raw = self._request()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError:
                self._reply(400, ApiError(400, "Parse Error", "parseError").body())
                return
            if url.path.startswith(("/admin/", "/oauth2/")):
                try:
                    self._reply(*emulator.handle_agent_admin(self.command, url.path, query, body))
                except ApiError as e:
                    self._reply(e.code, e.body())
                except (AdminError, AttributeError, KeyError, TypeError, ValueError) as e:
                    self._reply(400, {"error": {"code": 400, "message": f"bad admin request: {e}"}})
                return
            if url.path.startswith("/emulator/"):
                try:
                    self._reply(*emulator.handle_admin(self.command, url.path, body))
                except ApiError as e:
                    self._reply(e.code, e.body())
                except (KeyError, TypeError, ValueError) as e:
                    self._reply(400, {"error": {"code": 400, "message": f"bad admin request: {e!r}"}})
                return
            method = api_method(self.command, _API.match(url.path))
            decision = emulator.faults.decide(self.command, url.path, method)
            if decision.latency:
                time.sleep(decision.latency)
            if decision.before is not None:
                self._reply(decision.before.code, decision.before.body())
                return
            try:
                result = emulator.handle_api(self.command, url.path, query, body)
            except ApiError as e:
                emulator.faults.count_refusal(method, e.reason)
                self._reply(e.code, e.body())
                return
            if decision.after is not None:
                self._reply(decision.after.code, decision.after.body())
                return
            self._reply(200, result)

        do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve

    return Handler
