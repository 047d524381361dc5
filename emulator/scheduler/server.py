"""The HTTP front of the emulator: the Scheduler v1 REST routes, the ``/emulator`` admin routes, the clock loop.

``SchedulerEmulator(port=0).start()`` serves in background threads (tests, ``up``);
``python -m emulator.scheduler --port N`` serves in the foreground. A loop thread
fires each ENABLED job when the emulator's clock reaches its ``scheduleTime``;
``advance(seconds)`` and ``tick()`` fire synchronously instead, for tests.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from emulator.jsonhttp import JsonHandler

from .clock import Clock
from .dispatch import Attempt, send
from .errors import RpcError, invalid, not_found
from .jobs import Json, parse_timestamp, timestamp
from .state import Fire, SchedulerState

log = logging.getLogger("emulator.scheduler")

_LOCATION = r"projects/(?P<project>[^/:]+)/locations/(?P<location>[^/:]+)"
_API = re.compile(rf"^/v1/{_LOCATION}/jobs(?:/(?P<job>[^/:]+)(?::(?P<verb>[A-Za-z]+))?)?$")
_LOCATIONS = re.compile(r"^/v1/projects/(?P<project>[^/:]+)/locations(?:/(?P<location>[^/:]+))?$")
MAX_STEPS = 100_000  # fires per ``advance``, so a runaway schedule cannot hang a test


class SchedulerEmulator:
    """A stateful Cloud Scheduler API on ``url``; bind port 0 for a free port.

    ``time_scale`` speeds the clock up (60: a minute per second) or freezes it (0:
    only ``advance``/``set_time`` move it); ``start_time`` is where the clock starts
    (default: now).
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, time_scale: float = 1.0,
        start_time: datetime | None = None, max_sleep: float = 0.5,
    ) -> None:
        self._wake = threading.Event()
        self.clock = Clock(start_time, time_scale)
        self.state = SchedulerState(self.clock, on_change=self._wake.set)
        self.max_sleep = max_sleep
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._stopping = threading.Event()
        self._fire_lock = threading.Lock()
        self._inflight: set[threading.Thread] = set()
        self._inflight_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> SchedulerEmulator:
        self._start_loop()
        serving = threading.Thread(target=self.server.serve_forever, args=(0.1,), name="scheduler-emulator", daemon=True)
        serving.start()
        self._threads.append(serving)
        return self

    def serve_forever(self) -> None:
        self._start_loop()
        self.server.serve_forever(0.1)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self.server.shutdown()
        self.server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._drain(timeout=5)

    # -- the clock -------------------------------------------------------------------

    def _start_loop(self) -> None:
        loop = threading.Thread(target=self._loop, name="scheduler-clock", daemon=True)
        loop.start()
        self._threads.append(loop)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            with self._fire_lock:
                for fire in self.state.claim_due(self.clock.now()):
                    self._dispatch(fire)
            self._wake.wait(self._sleep())

    def _sleep(self) -> float:
        due = self.state.next_due()
        if due is None:
            return self.max_sleep
        seconds = self.clock.real_seconds((due - self.clock.now()).total_seconds())
        return min(max(seconds, 0.002), self.max_sleep)

    def _fire(self, fire: Fire) -> Attempt:
        attempt = send(
            fire.name, fire.job_id, fire.target, trigger=fire.trigger, schedule_time=fire.schedule_time,
            attempt_time=fire.attempt_time, deadline=fire.deadline,
        )
        self.state.record(fire, attempt)
        level = logging.INFO if attempt.ok else logging.WARNING
        log.log(level, "attempt of %s (%s) -> %s %s %s", fire.name, fire.trigger, attempt.status_code, attempt.status, attempt.error, extra={
            "job": fire.name, "trigger": fire.trigger, "uri": fire.target["uri"],
            "status_code": attempt.status_code, "status": attempt.status, "error": attempt.error,
        })
        return attempt

    def _dispatch(self, fire: Fire) -> None:
        """Fire in a thread of its own, as the real service does not wait for one job to call the next."""

        def run() -> None:
            try:
                self._fire(fire)
            finally:
                with self._inflight_lock:
                    self._inflight.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"scheduler-fire-{fire.job_id}", daemon=True)
        with self._inflight_lock:
            self._inflight.add(thread)
        thread.start()

    def _drain(self, timeout: float | None = None) -> None:
        with self._inflight_lock:
            threads = list(self._inflight)
        for thread in threads:
            thread.join(timeout)

    def tick(self) -> list[Attempt]:
        """Fire, and wait for, every attempt due at the clock's current time."""
        with self._fire_lock:
            self._drain()
            return [self._fire(fire) for fire in self.state.claim_due(self.clock.now())]

    def advance(self, seconds: float) -> list[Attempt]:
        """Move the clock ``seconds`` on, stopping at each due time to fire (and wait for) its attempts."""
        with self._fire_lock:
            self._drain()
            target = self.clock.now() + timedelta(seconds=seconds)
            made: list[Attempt] = []
            for _ in range(MAX_STEPS):
                due = self.state.next_due()
                if due is None or due > target:
                    break
                if due > self.clock.now():
                    self.clock.set(due)
                made += [self._fire(fire) for fire in self.state.claim_due(self.clock.now())]
            if self.clock.now() < target:
                self.clock.set(target)
        self._wake.set()
        return made

    def set_time(self, when: datetime) -> None:
        """Jump the clock (forward or back) without firing what lies between; the loop fires what is due."""
        self.clock.set(when)
        self._wake.set()

    def set_time_scale(self, scale: float) -> None:
        self.clock.set_scale(scale)
        self._wake.set()

    # -- the admin surface, also callable in-process -----------------------------------

    def attempts(self, job: str | None = None) -> list[Attempt]:
        """Attempts so far, oldest first; ``job`` is a full name or a job id."""
        return self.state.attempts_of(job)

    def wait_for_attempts(self, count: int, *, job: str | None = None, timeout: float = 10.0) -> list[Attempt]:
        """Block until at least ``count`` attempts (of ``job``) are recorded; TimeoutError otherwise."""
        with self.state.changed:
            if not self.state.changed.wait_for(lambda: len(self.state.attempts_of(job)) >= count, timeout):
                have = len(self.state.attempts_of(job))
                raise TimeoutError(f"{have} of {count} attempts of {job or 'any job'} after {timeout} s")
            return self.state.attempts_of(job)

    def clear_attempts(self) -> None:
        with self.state.lock:
            self.state.attempts.clear()

    def reset(self) -> None:
        """Forget every job and attempt (the clock keeps its time and scale)."""
        self._drain(timeout=5)
        self.state.reset()

    def clock_json(self) -> Json:
        return {"now": timestamp(self.clock.now()), "timeScale": self.clock.scale}

    def dump(self) -> Json:
        with self.state.lock:
            jobs = [job.render(enum_ints=False) for _, job in sorted(self.state.jobs.items())]
        return {**self.clock_json(), "jobs": jobs, "attempts": [a.to_json() for a in self.attempts()]}

    def handle_admin(self, method: str, path: str, query: dict[str, str], body: Json) -> tuple[int, Any]:
        if path == "/emulator/attempts":
            if method == "DELETE":
                self.clear_attempts()
                return 200, {}
            return 200, {"attempts": [a.to_json() for a in self.attempts(query.get("job"))]}
        if path == "/emulator/state" and method == "GET":
            return 200, self.dump()
        if path == "/emulator/reset" and method == "POST":
            self.reset()
            return 200, {}
        if path == "/emulator/tick" and method == "POST":
            return 200, {"attempts": [a.to_json() for a in self.tick()]}
        if path == "/emulator/clock":
            if method != "POST":
                return 200, self.clock_json()
            made: list[Attempt] = []
            if "timeScale" in body:
                self.set_time_scale(float(body["timeScale"]))
            if "now" in body:
                self.set_time(parse_timestamp(str(body["now"])))
            if "advance" in body:
                made = self.advance(float(body["advance"]))
            return 200, {**self.clock_json(), "attempts": [a.to_json() for a in made]}
        return 404, {"error": {"code": 404, "message": f"no admin route {method} {path}", "status": "NOT_FOUND"}}

    # -- the API ---------------------------------------------------------------------------

    def handle_api(self, method: str, path: str, query: dict[str, str], body: Json) -> Json:
        with self.state.lock:  # the clock loop must not move a job while it is being rendered
            return self._api(method, path, query, body)

    def _api(self, method: str, path: str, query: dict[str, str], body: Json) -> Json:
        enum_ints = "enum-encoding=int" in query.get("$alt", "")
        match = _API.match(path)
        if match is None:
            return self._locations(method, path)
        parent = f"projects/{match['project']}/locations/{match['location']}"
        job_id, verb = match["job"], match["verb"]
        state = self.state
        if job_id is None:
            if method == "POST":
                return state.create(parent, body).render(enum_ints=enum_ints)
            if method == "GET":
                jobs, token = state.list_jobs(parent, _int(query.get("pageSize", "0")), query.get("pageToken", ""))
                page: Json = {"jobs": [j.render(enum_ints=enum_ints) for j in jobs]} if jobs else {}
                if token:
                    page["nextPageToken"] = token
                return page
        else:
            name = f"{parent}/jobs/{job_id}"
            if verb is None and method == "GET":
                return state.get(name).render(enum_ints=enum_ints)
            if verb is None and method == "PATCH":
                return state.update(name, body, query.get("updateMask")).render(enum_ints=enum_ints)
            if verb is None and method == "DELETE":
                state.delete(name)
                return {}
            if method == "POST" and verb in ("pause", "resume"):
                job = state.pause(name) if verb == "pause" else state.resume(name)
                return job.render(enum_ints=enum_ints)
            if method == "POST" and verb == "run":
                job, fire = state.claim_run(name)
                rendered = job.render(enum_ints=enum_ints)
                if fire is not None:
                    self._dispatch(fire)
                return rendered
        raise not_found(f"Method {method} {path}")

    def _locations(self, method: str, path: str) -> Json:
        match = _LOCATIONS.match(path)
        if match is None or method != "GET":
            raise not_found(f"Method {method} {path}")
        project = match["project"]

        def location(loc: str) -> Json:
            return {"name": f"projects/{project}/locations/{loc}", "locationId": loc}

        if match["location"]:
            return location(match["location"])
        return {"locations": [location(loc) for loc in ("us-central1", "europe-west1", "asia-northeast1")]}


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError as e:
        raise invalid(f"Invalid value {text!r}: not an integer.") from e


def _handler(emulator: SchedulerEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def _serve(self) -> None:
            url, query, raw = self._request()
            path = unquote(url.path)
            try:
                body = json.loads(raw) if raw.strip() else {}
                if not isinstance(body, dict):
                    raise invalid("Invalid JSON payload received: expected an object.")
            except json.JSONDecodeError:
                self._reply(400, invalid("Invalid JSON payload received.").body())
                return
            except RpcError as e:
                self._reply(e.http_code, e.body())
                return
            if path.startswith("/emulator/"):
                try:
                    self._reply(*emulator.handle_admin(self.command, path, query, body))
                except (KeyError, TypeError, ValueError) as e:
                    self._reply(400, {"error": {"code": 400, "message": f"bad admin request: {e!r}", "status": "INVALID_ARGUMENT"}})
                return
            try:
                self._reply(200, emulator.handle_api(self.command, path, query, body))
            except RpcError as e:
                self._reply(e.http_code, e.body())

        do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve

    return Handler
