"""The emulated project: stored resources, asynchronous operations, and the generic verbs.

Every mutation is an operation that finishes ``operation_delay`` after it was asked
for; its change is applied when it turns DONE. Time moves lazily: each request first
finishes every operation that is due, so no background thread is needed and a test
that waits for an operation sees exactly the state Compute Engine would show. Checks
that Compute Engine makes at request time (names, references, conflicts, resources in
use) happen at request time here too; the kind-specific rules live in ``resources``.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import catalog, resources
from .errors import ApiError, already_exists, invalid, not_found
from .listing import page, parse_filter
from .model import KINDS, NAME, IpPool, Key, Quotas, Timing, timestamp
from .serial import SerialConsoles

Json = dict[str, Any]


def check_name(name: object) -> str:
    """Every resource name is an RFC 1035 label of at most 63 characters."""
    if not isinstance(name, str) or not NAME.match(name):
        raise invalid(
            f"Invalid value for field 'resource.name': '{name}'. "
            "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'"
        )
    return name


@dataclass
class Operation:
    key: Key
    body: Json
    started_at: float
    done_at: float
    apply: Callable[[], None]
    done: bool = False


@dataclass
class ComputeState:
    timing: Timing = field(default_factory=Timing)
    base_url: str = "http://127.0.0.1"
    quotas: Quotas = field(default_factory=Quotas)

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.serial = SerialConsoles()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.resources: dict[Key, Json] = {}
            self.created: dict[Key, float] = {}  # monotonic creation time of instances
            self.overrides: dict[Key, str] = {}  # instance status set from outside
            self.pending: dict[Key, Json] = {}  # inserts not yet DONE: their names are taken
            self.operations: dict[Key, Operation] = {}
            self.queue: list[Operation] = []
            self.internal_ips = IpPool("10.128.0.0/9", skip=2)
            self.external_ips = IpPool("203.0.113.0/24")
            self.nat_ips = IpPool("198.18.0.0/15")
            self._ids = itertools.count(1_000_000_000_000_000_001, 7919)
            self.serial.clear()

    # -- links ---------------------------------------------------------------

    def new_id(self) -> str:
        return str(next(self._ids))

    def link(self, key: Key) -> str:
        return f"{self.base_url}/compute/v1/{key.path}"

    def scope_link(self, project: str, scope: str) -> str:
        return f"{self.base_url}/compute/v1/projects/{project}/{scope}"

    def resolve(self, ref: str, project: str, collection: str, scope: str | None = None) -> Key:
        """The key a reference names: a full URL, ``projects/p/...``, ``zones/z/...``, or a bare name."""
        path = ref.split("/compute/v1/", 1)[-1].strip("/")
        parts = path.split("/")
        if parts[0] == "projects" and len(parts) >= 2:
            project, parts = parts[1], parts[2:]
        if len(parts) == 1 and scope is not None:
            parts = [*scope.split("/"), collection, parts[0]]
        if parts and parts[0] == "global" and len(parts) == 3:
            return Key(project, "global", parts[1], parts[2])
        if len(parts) == 4 and parts[0] in ("zones", "regions"):
            return Key(project, f"{parts[0]}/{parts[1]}", parts[2], parts[3])
        raise invalid(f"Invalid value for field 'resource': '{ref}'. The URL is malformed.")

    def require(self, key: Key) -> Json:
        resource = self.resources.get(key)
        if resource is None:
            raise not_found(key.path)
        return resource

    # -- time ----------------------------------------------------------------

    def advance(self) -> None:
        """Finish every operation that is due, in the order they were asked for."""
        now = time.monotonic()
        with self.lock:
            while self.queue and self.queue[0].done_at <= now:
                self._finish(self.queue.pop(0))

    def _finish(self, op: Operation) -> None:
        try:
            op.apply()
        except ApiError as e:
            op.body["error"] = e.operation_error()
            op.body["httpErrorStatusCode"] = e.code
            op.body["httpErrorMessage"] = {400: "BAD REQUEST", 404: "NOT FOUND", 409: "CONFLICT", 412: "PRECONDITION FAILED"}.get(e.code, "ERROR")
        op.done = True
        op.body.update(status="DONE", progress=100, endTime=timestamp())

    def start_operation(self, target: Key, op_type: str, apply: Callable[[], None]) -> Json:
        """Queue ``apply`` as an operation on ``target`` and return the operation as inserted."""
        now = time.monotonic()
        scope = target.scope
        name = f"operation-{int(time.time() * 1000)}-{uuid.uuid4().hex[:13]}-{uuid.uuid4().hex[:8]}"
        key = Key(target.project, scope, "operations", name)
        body: Json = {
            "kind": "compute#operation",
            "id": self.new_id(),
            "name": name,
            "operationType": op_type,
            "targetLink": self.link(target),
            "targetId": self.resources.get(target, {}).get("id") or self.new_id(),
            "status": "PENDING",
            "user": "emulator@firecontrol.invalid",
            "progress": 0,
            "insertTime": timestamp(),
            "startTime": timestamp(),
            "selfLink": self.link(key),
        }
        if scope != "global":
            body[scope.split("/")[0][:-1]] = self.scope_link(target.project, scope)
        op = Operation(key, body, now, now + self.timing.operation_delay, apply)
        self.operations[key] = op
        if self.timing.operation_delay <= 0:
            self._finish(op)
        else:
            self.queue.append(op)
        return self.render_operation(op)

    def render_operation(self, op: Operation) -> Json:
        body = copy.deepcopy(op.body)
        if not op.done:
            third = (op.done_at - op.started_at) / 3
            body["status"] = "RUNNING" if time.monotonic() >= op.started_at + third else "PENDING"
        return body

    def operation(self, key: Key) -> Operation:
        self.advance()
        with self.lock:
            op = self.operations.get(key)
            if op is None:
                raise not_found(key.path)
            return op

    # -- verbs -----------------------------------------------------------------

    def render(self, key: Key) -> Json:
        body = {k: copy.deepcopy(v) for k, v in self.resources[key].items() if not k.startswith("_")}
        if key.collection == "instances":
            body["status"] = resources.instance_status(self, key)
        return body

    def check_scope(self, scope: str) -> None:
        """A zone or region Compute Engine has (see ``catalog``); anything else is a 400."""
        kind, _, where = scope.partition("/")
        known = {"zones": catalog.ZONES, "regions": catalog.REGIONS}.get(kind)
        if known is not None and where not in known:
            raise invalid(f"Invalid value for field '{kind[:-1]}': '{where}'. Unknown {kind[:-1]}.")

    def get(self, key: Key) -> Json:
        self.advance()
        with self.lock:
            self.require(key)
            return self.render(key)

    def list_scope(self, project: str, scope: str, collection: str, query: dict[str, str]) -> Json:
        self.advance()
        self.check_scope(scope)
        kind = KINDS[collection]
        keep = parse_filter(query.get("filter", ""))
        with self.lock:
            keys = sorted(k for k in self.resources if (k.project, k.scope, k.collection) == (project, scope, collection))
            items = [body for body in (self.render(k) for k in keys) if keep(body)]
        chunk, token = page(items, query.get("maxResults"), query.get("pageToken"))
        out: Json = {"kind": kind.list_kind, "id": f"projects/{project}/{scope}/{collection}", "selfLink": self.scope_link(project, scope) + "/" + collection}
        if chunk:
            out["items"] = chunk
        if token:
            out["nextPageToken"] = token
        return out

    def aggregated_list(self, project: str, collection: str, query: dict[str, str]) -> Json:
        self.advance()
        kind = KINDS[collection]
        keep = parse_filter(query.get("filter", ""))
        with self.lock:
            keys = sorted(k for k in self.resources if (k.project, k.collection) == (project, collection))
            pairs = [(k.scope, body) for k, body in ((k, self.render(k)) for k in keys) if keep(body)]
        chunk, token = page(pairs, query.get("maxResults"), query.get("pageToken"))
        items: dict[str, Json] = {}
        for scope, body in chunk:
            items.setdefault(scope, {collection: []})[collection].append(body)
        out: Json = {
            "kind": kind.kind + "AggregatedList",
            "id": f"projects/{project}/aggregated/{collection}",
            "items": items,
            "selfLink": f"{self.base_url}/compute/v1/projects/{project}/aggregated/{collection}",
        }
        if token:
            out["nextPageToken"] = token
        return out

    def insert(self, project: str, scope: str, collection: str, body: Json) -> Json:
        self.advance()
        self.check_scope(scope)
        name = check_name(body.get("name"))
        key = Key(project, scope, collection, name)
        with self.lock:
            if key in self.resources or key in self.pending:
                raise already_exists(key.path)
            resource = resources.prepare(self, key, copy.deepcopy(body))
            resource.update(
                kind=KINDS[collection].kind,
                id=self.new_id(),
                name=name,
                creationTimestamp=timestamp(),
                selfLink=self.link(key),
            )
            if scope != "global":
                resource[scope.split("/")[0][:-1]] = self.scope_link(project, scope)
            self.pending[key] = resource

            def apply() -> None:
                self.pending.pop(key, None)
                resources.created(self, key, resource)
                self.resources[key] = resource

            return self.start_operation(key, "insert", apply)

    def delete(self, key: Key) -> Json:
        self.advance()
        with self.lock:
            self.require(key)
            resources.check_unused(self, key)
            resources.deleting(self, key)

            def apply() -> None:
                if key not in self.resources:
                    raise not_found(key.path)
                resources.check_unused(self, key)
                resources.deleted(self, key, self.resources.pop(key))

            return self.start_operation(key, "delete", apply)

    def action(self, key: Key, action: str, body: Json) -> Json:
        self.advance()
        with self.lock:
            self.require(key)
            apply = resources.action(self, key, action, body)
            return self.start_operation(key, action, apply)

    # -- behind the controller's back -----------------------------------------

    def stop_instance(self, key: Key) -> Json:
        with self.lock:
            self.require(key)
            self.overrides[key] = "TERMINATED"
            return self.render(key)

    def remove_now(self, key: Key) -> None:
        with self.lock:
            resources.deleted(self, key, self.resources.pop(key))

    def seed_instances(self, project: str, zone: str, names: list[str], labels: dict[str, str]) -> int:
        """Create RUNNING instances at once, without operations (test fixtures)."""
        self.check_scope(f"zones/{zone}")
        with self.lock:
            for name in names:
                key = Key(project, f"zones/{zone}", "instances", check_name(name))
                if key in self.resources:
                    raise already_exists(key.path)
                seeded = {"name": name, "labels": dict(labels), "machineType": f"zones/{zone}/machineTypes/e2-small",
                          "disks": [{"boot": True, "autoDelete": True}]}
                body = resources.prepare(self, key, seeded, quota=False)
                body.update(kind="compute#instance", id=self.new_id(), name=name, creationTimestamp=timestamp(), selfLink=self.link(key), zone=self.scope_link(project, f"zones/{zone}"))
                resources.created(self, key, body)
                self.created[key] = float("-inf")
                self.resources[key] = body
            return len(names)

    def dump(self) -> Json:
        self.advance()
        with self.lock:
            out: dict[str, list[Json]] = {c: [] for c in KINDS}
            for key in sorted(self.resources):
                out[key.collection].append(self.render(key))
            pending = [self.render_operation(op) for op in self.queue]
            return {"resources": out, "pendingOperations": pending}
