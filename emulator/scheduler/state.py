"""The jobs, what the API does to them, and when each is due.

Every method takes the state's lock; nothing here does I/O. Firing is split in
two so the HTTP call happens outside the lock: ``claim_due`` hands out the
``Fire``s that are due (and moves each job's ``scheduleTime`` on), ``record``
takes the ``Attempt`` back (status, retries). A job is never fired while its
previous attempt is still in flight; a paused job is not fired, and on resume its
next time is computed from the resume time, so missed times are not replayed.
"""

from __future__ import annotations

import base64
import binascii
import copy
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .clock import Clock
from .dispatch import Attempt
from .errors import already_exists, failed_precondition, invalid, not_found
from .jobs import (
    ENABLED,
    PAUSED,
    Job,
    Json,
    apply_mask,
    check_parent,
    mask_paths,
    normalize,
    split_name,
)

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Fire:
    """One attempt to make: everything ``dispatch.send`` needs, copied out of the lock."""

    job: Job
    name: str
    job_id: str
    target: Json
    trigger: str
    schedule_time: datetime
    attempt_time: datetime
    deadline: float


class SchedulerState:
    def __init__(self, clock: Clock, on_change: Callable[[], None] = lambda: None) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.jobs: dict[str, Job] = {}
        self.attempts: list[Attempt] = []
        self._on_change = on_change

    def _touched(self) -> None:
        self.changed.notify_all()
        self._on_change()

    # -- the API -------------------------------------------------------------------

    def create(self, parent: str, body: Json) -> Job:
        check_parent(parent)
        spec = normalize(body)
        if not spec["name"]:
            spec["name"] = f"{parent}/jobs/{uuid.uuid4().hex[:20]}"
        job_parent, _ = split_name(spec["name"])
        if job_parent != parent:
            raise invalid(f"Job name {spec['name']!r} is not in the parent {parent!r}.")
        with self.lock:
            if spec["name"] in self.jobs:
                raise already_exists(spec["name"])
            now = self.clock.now()
            job = Job(spec=spec, state=ENABLED, user_update_time=now)
            job.schedule_time = job.next_after(now)
            self.jobs[job.name] = job
            self._touched()
            return job

    def get(self, name: str) -> Job:
        split_name(name)
        with self.lock:
            job = self.jobs.get(name)
            if job is None:
                raise not_found()
            return job

    def list_jobs(self, parent: str, page_size: int = 0, page_token: str = "") -> tuple[list[Job], str]:
        check_parent(parent)
        if page_size < 0:
            raise invalid("page_size must not be negative.")
        size = min(page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        after = ""
        if page_token:
            try:
                after = base64.urlsafe_b64decode(page_token.encode()).decode()
            except (binascii.Error, UnicodeDecodeError) as e:
                raise invalid("Invalid page token.") from e
            if not after.startswith(f"{parent}/jobs/"):
                raise invalid("Invalid page token.")
        with self.lock:
            names = sorted(n for n in self.jobs if n.startswith(f"{parent}/jobs/") and n > after)
            page = [self.jobs[n] for n in names[:size]]
        token = base64.urlsafe_b64encode(page[-1].name.encode()).decode() if len(names) > size else ""
        return page, token

    def update(self, name: str, body: Json, update_mask: str | None) -> Job:
        split_name(name)
        if body.get("name") and body["name"] != name:
            raise invalid(f"Job name in the body {body['name']!r} does not match {name!r}.")
        with self.lock:
            job = self.get(name)
            merged = apply_mask(job.spec, body, mask_paths(update_mask, body))
            merged["name"] = name
            job.spec = normalize(merged)
            now = self.clock.now()
            job.user_update_time = now
            job.retries, job.first_failure = 0, None
            if job.state == ENABLED:
                job.schedule_time = job.next_after(now)
            self._touched()
            return job

    def delete(self, name: str) -> None:
        split_name(name)
        with self.lock:
            if self.jobs.pop(name, None) is None:
                raise not_found()
            self._touched()

    def pause(self, name: str) -> Job:
        with self.lock:
            job = self.get(name)
            if job.state != ENABLED:
                raise failed_precondition("Job must be in ENABLED state to be paused.")
            job.state = PAUSED
            job.user_update_time = self.clock.now()
            self._touched()
            return job

    def resume(self, name: str) -> Job:
        with self.lock:
            job = self.get(name)
            if job.state != PAUSED:
                raise failed_precondition("Job must be in PAUSED state to be resumed.")
            now = self.clock.now()
            job.state, job.user_update_time = ENABLED, now
            job.retries, job.first_failure = 0, None
            job.schedule_time = job.next_after(now)  # what was missed while paused is not replayed
            self._touched()
            return job

    def claim_run(self, name: str) -> tuple[Job, Fire | None]:
        """``jobs.run``: an attempt now, whatever the schedule (None for a target we cannot call)."""
        with self.lock:
            job = self.get(name)
            now = self.clock.now()
            fire = self._claim(job, "run", now, now)
            self._touched()
            return job, fire

    # -- the clock's side -----------------------------------------------------------

    def next_due(self) -> datetime | None:
        with self.lock:
            times = [j.schedule_time for j in self.jobs.values() if j.schedule_time and j.state == ENABLED and not j.running]
            return min(times, default=None)

    def claim_due(self, now: datetime) -> list[Fire]:
        """The attempts due at ``now``; each job's ``scheduleTime`` moves to its next cron time."""
        fires: list[Fire] = []
        with self.lock:
            for job in sorted(self.jobs.values(), key=lambda j: (j.schedule_time or now, j.name)):
                if job.state != ENABLED or job.running or job.schedule_time is None or job.schedule_time > now:
                    continue
                planned = job.schedule_time
                job.schedule_time = job.next_after(now)
                fire = self._claim(job, "retry" if job.retries else "schedule", planned, now)
                if fire is not None:
                    fires.append(fire)
            return fires

    def _claim(self, job: Job, trigger: str, planned: datetime, now: datetime) -> Fire | None:
        if "httpTarget" not in job.spec:
            return None  # Pub/Sub and App Engine targets are kept, never called
        job.running += 1
        job.last_attempt_time = now
        return Fire(
            job=job, name=job.name, job_id=job.job_id, target=copy.deepcopy(job.spec["httpTarget"]),
            trigger=trigger, schedule_time=planned, attempt_time=now, deadline=job.deadline,
        )

    def record(self, fire: Fire, attempt: Attempt) -> None:
        """Take an attempt back: the job's status, and a retry if it failed and has retries left."""
        with self.lock:
            self.attempts.append(attempt)
            job = self.jobs.get(fire.name)
            if job is fire.job:  # not deleted (or re-created) meanwhile
                job.running -= 1
                job.status = attempt.job_status()
                if fire.trigger != "run":
                    self._after_attempt(job, attempt)
            self._touched()

    def _after_attempt(self, job: Job, attempt: Attempt) -> None:
        delay = None if attempt.ok or job.state != ENABLED else job.retry_delay()
        if delay is not None and job.schedule_time is not None:
            first = job.first_failure or attempt.attempt_time
            retry_at = attempt.attempt_time + delay
            limit = job.spec["retryConfig"]["maxRetryDuration"]
            within = not limit or retry_at - first <= timedelta(seconds=limit)
            if retry_at < job.schedule_time and within:
                job.retries += 1
                job.first_failure = first
                job.schedule_time = retry_at
                return
        job.retries, job.first_failure = 0, None

    # -- admin ------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.jobs.clear()
            self.attempts.clear()
            self._touched()

    def attempts_of(self, job: str | None = None) -> list[Attempt]:
        with self.lock:
            return [a for a in self.attempts if job is None or a.job == job or a.job.endswith(f"/jobs/{job}")]
