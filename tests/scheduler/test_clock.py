"""The clock: jobs fire on their cron schedule, in their time zone, with the OIDC token; pause, run, retries."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.cloud import scheduler_v1

from emulator.scheduler import SchedulerEmulator, decode_token
from functions.scheduling import build_client
from tests.scheduler.support import PARENT, SA, START, Target, http_job, job_name, raw, seconds

MINUTE = datetime(2030, 1, 1, 0, 1, tzinfo=UTC)


def test_an_every_minute_job_fires_its_target_with_an_oidc_token(client: Any, emulator: SchedulerEmulator, target: Target) -> None:
    job = http_job(
        "tick", uri=f"{target.url}/resync?x=1", body=b'{"reason": "tick"}',
        headers={"Content-Type": "application/json", "X-Custom": "yes"},
        oidc_token=scheduler_v1.OidcToken(service_account_email=SA, audience="https://resync.example"),
    )
    client.create_job(parent=PARENT, job=job)
    assert emulator.advance(29) == [] and target.received == []

    before = time.time()
    attempts = emulator.advance(1)

    assert [(a.status_code, a.schedule_time, a.trigger) for a in attempts] == [(200, MINUTE, "schedule")]
    [request] = target.wait(1)
    assert (request.method, request.path, request.body) == ("POST", "/resync?x=1", b'{"reason": "tick"}')
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-custom"] == "yes"
    assert request.headers["user-agent"] == "Google-Cloud-Scheduler"
    assert request.headers["x-cloudscheduler-jobname"] == "tick"
    assert request.headers["x-cloudscheduler-scheduletime"].startswith("2030-01-01T00:01:00")
    scheme, token = request.headers["authorization"].split(" ")
    claims = decode_token(token)
    assert scheme == "Bearer"
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["aud"] == "https://resync.example"
    assert claims["email"] == SA and claims["email_verified"] is True
    assert before - 1 <= claims["iat"] <= time.time() + 1
    assert claims["exp"] == claims["iat"] + 3600

    fired = client.get_job(name=job_name("tick"))
    assert fired.last_attempt_time == MINUTE
    assert fired.schedule_time == MINUTE + timedelta(minutes=1)
    assert fired.status.code == 0


def test_the_audience_defaults_to_the_uri(client: Any, emulator: SchedulerEmulator, target: Target) -> None:
    client.create_job(parent=PARENT, job=http_job("a", uri=f"{target.url}/", oidc_token=scheduler_v1.OidcToken(service_account_email=SA)))
    emulator.advance(30)
    [request] = target.wait(1)
    assert decode_token(request.headers["authorization"].split()[1])["aud"] == f"{target.url}/"


def test_advancing_fires_once_per_due_time(client: Any, emulator: SchedulerEmulator, target: Target) -> None:
    client.create_job(parent=PARENT, job=http_job("a", uri=f"{target.url}/"))
    client.create_job(parent=PARENT, job=http_job("b", uri=f"{target.url}/", schedule="*/2 * * * *"))
    attempts = emulator.advance(210)  # 00:00:30 -> 00:04:00
    by_job = {name: [a.schedule_time.minute for a in attempts if a.job == job_name(name)] for name in ("a", "b")}
    assert by_job == {"a": [1, 2, 3, 4], "b": [2, 4]}
    assert len(target.wait(6)) == 6
    assert emulator.clock.now() == START + timedelta(seconds=210)


@pytest.mark.parametrize(
    ("time_zone", "now", "expected"),
    [
        ("America/New_York", START, datetime(2030, 1, 1, 14, 0, tzinfo=UTC)),  # EST, UTC-5
        ("America/New_York", datetime(2030, 7, 1, tzinfo=UTC), datetime(2030, 7, 1, 13, 0, tzinfo=UTC)),  # EDT
        ("Asia/Tokyo", START, datetime(2030, 1, 2, 0, 0, tzinfo=UTC)),  # 09:00:30 JST already passed
        ("Etc/UTC", START, datetime(2030, 1, 1, 9, 0, tzinfo=UTC)),
    ],
)
def test_schedules_are_read_in_the_job_time_zone(
    client: Any, emulator: SchedulerEmulator, target: Target, time_zone: str, now: datetime, expected: datetime
) -> None:
    emulator.set_time(now)
    job = client.create_job(parent=PARENT, job=http_job("nine", uri=f"{target.url}/", schedule="0 9 * * *", time_zone=time_zone))
    assert job.schedule_time == expected
    attempts = emulator.advance((expected - now).total_seconds())
    assert [a.attempt_time for a in attempts] == [expected]


def test_a_paused_job_does_not_fire_and_missed_times_are_not_replayed(client: Any, emulator: SchedulerEmulator, target: Target) -> None:
    client.create_job(parent=PARENT, job=http_job("a", uri=f"{target.url}/"))
    client.pause_job(name=job_name("a"))
    assert emulator.advance(600) == []
    resumed = client.resume_job(name=job_name("a"))  # at 00:10:30
    assert resumed.schedule_time == datetime(2030, 1, 1, 0, 11, tzinfo=UTC)
    assert emulator.tick() == []
    attempts = emulator.advance(30)
    assert [a.schedule_time for a in attempts] == [datetime(2030, 1, 1, 0, 11, tzinfo=UTC)]
    assert len(target.received) == 1


def test_run_fires_at_once_and_keeps_the_schedule(client: Any, emulator: SchedulerEmulator, target: Target) -> None:
    client.create_job(parent=PARENT, job=http_job("a", uri=f"{target.url}/", schedule="0 0 1 1 *"))
    client.pause_job(name=job_name("a"))
    ran = client.run_job(name=job_name("a"))
    assert ran.name == job_name("a")
    [attempt] = emulator.wait_for_attempts(1, job="a")
    assert (attempt.trigger, attempt.status_code, attempt.attempt_time) == ("run", 200, START)
    assert len(target.wait(1)) == 1
    job = client.get_job(name=job_name("a"))
    assert job.schedule_time == datetime(2031, 1, 1, tzinfo=UTC)
    assert job.last_attempt_time == START
    assert job.state == scheduler_v1.Job.State.PAUSED


def test_a_failing_target_sets_the_status_and_is_retried_with_backoff(client: Any, emulator: SchedulerEmulator, target: Target) -> None:
    target.status = 503
    retry = scheduler_v1.RetryConfig(retry_count=2, min_backoff_duration=seconds(5), max_backoff_duration=seconds(60))
    client.create_job(parent=PARENT, job=http_job("a", uri=f"{target.url}/", retry_config=retry))
    attempts = emulator.advance(59)  # to 00:01:29: the attempt at 00:01:00 and both retries
    assert [(a.trigger, a.attempt_time.second, a.status_code) for a in attempts] == [
        ("schedule", 0, 503), ("retry", 5, 503), ("retry", 15, 503),
    ]
    job = client.get_job(name=job_name("a"))
    assert job.status.code == 14  # UNAVAILABLE
    assert job.schedule_time == datetime(2030, 1, 1, 0, 2, tzinfo=UTC)
    target.status = 200
    assert [a.status_code for a in emulator.advance(60)] == [200]
    assert client.get_job(name=job_name("a")).status.code == 0


def test_an_unreachable_target_is_unavailable(client: Any, emulator: SchedulerEmulator) -> None:
    client.create_job(parent=PARENT, job=http_job("a", uri="http://127.0.0.1:9/"))
    [attempt] = emulator.advance(30)
    assert (attempt.status_code, attempt.status) == (None, "UNAVAILABLE")
    assert client.get_job(name=job_name("a")).status.code == 14


def test_an_accelerated_clock_fires_on_its_own(target: Target) -> None:
    """No advance(): the loop thread fires when the sped-up clock reaches the minute."""
    emulator = SchedulerEmulator(time_scale=0, start_time=START).start()
    try:
        client = build_client(emulator.url)
        client.create_job(parent=PARENT, job=http_job("a", uri=f"{target.url}/"))
        started = time.monotonic()
        emulator.set_time_scale(60)  # 30 emulated seconds to the minute: half a real second
        [attempt] = emulator.wait_for_attempts(1, timeout=5)
        assert 0.4 < time.monotonic() - started < 2
        assert attempt.schedule_time == MINUTE and attempt.status_code == 200
        assert len(target.wait(1)) == 1
    finally:
        emulator.stop()


def test_the_admin_surface(client: Any, emulator: SchedulerEmulator, target: Target) -> None:
    client.create_job(parent=PARENT, job=http_job("a", uri=f"{target.url}/"))
    status, clock = raw(emulator.url, "POST", "/emulator/clock", {"advance": 90})
    assert status == 200
    assert clock["now"].startswith("2030-01-01T00:02:00") and clock["timeScale"] == 0
    assert [a["scheduleTime"][:19] for a in clock["attempts"]] == ["2030-01-01T00:01:00", "2030-01-01T00:02:00"]
    _, listed = raw(emulator.url, "GET", "/emulator/attempts")
    assert [(a["job"], a["statusCode"], a["status"]) for a in listed["attempts"]] == [(job_name("a"), 200, "OK")] * 2
    _, state = raw(emulator.url, "GET", "/emulator/state")
    assert [j["state"] for j in state["jobs"]] == ["ENABLED"]
    assert raw(emulator.url, "DELETE", "/emulator/attempts")[0] == 200
    assert emulator.attempts() == []
    raw(emulator.url, "POST", "/emulator/clock", {"now": "2030-01-01T00:02:59.5Z"})
    _, ticked = raw(emulator.url, "POST", "/emulator/tick")
    assert ticked["attempts"] == []
    raw(emulator.url, "POST", "/emulator/clock", {"advance": 0.5})
    assert len(emulator.attempts()) == 1
    assert raw(emulator.url, "POST", "/emulator/reset")[0] == 200
    assert list(client.list_jobs(parent=PARENT)) == []
