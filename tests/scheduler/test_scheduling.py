"""``functions.scheduling``: the resync job is created, patched when it differs, and left alone when not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from google.cloud import scheduler_v1

from emulator.scheduler import SchedulerEmulator, decode_token
from functions.scheduling import ResyncJob, ensure_resync_job, resync_job_changes
from tests.scheduler.support import PARENT, PROJECT, REGION, SA, Target, job_name

ROOT = Path(__file__).resolve().parents[2]


def ensure(client: Any, uri: str, schedule: str = "* * * * *", **kwargs: Any) -> str:
    return ensure_resync_job(
        client, project=PROJECT, region=REGION, job_id="firecontrol-resync", uri=uri, schedule=schedule,
        service_account_email=SA, **kwargs,
    )


def test_creates_the_job_then_a_second_identical_call_changes_nothing(client: Any, emulator: SchedulerEmulator) -> None:
    name = ensure(client, "http://127.0.0.1:9/resync")
    assert name == job_name("firecontrol-resync")
    created = client.get_job(name=name)
    assert created.schedule == "* * * * *" and created.time_zone == "Etc/UTC"
    assert created.http_target.http_method == scheduler_v1.HttpMethod.POST
    assert created.http_target.oidc_token.service_account_email == SA
    assert created.http_target.oidc_token.audience == "http://127.0.0.1:9/resync"
    emulator.advance(5)
    assert ensure(client, "http://127.0.0.1:9/resync") == name
    again = client.get_job(name=name)
    assert again.user_update_time == created.user_update_time
    assert [j.name for j in client.list_jobs(parent=PARENT)] == [name]


def test_a_changed_schedule_is_patched_and_nothing_else(client: Any, emulator: SchedulerEmulator) -> None:
    name = ensure(client, "http://127.0.0.1:9/resync")
    created = client.get_job(name=name)
    emulator.advance(5)
    ensure(client, "http://127.0.0.1:9/resync", schedule="*/2 * * * *")
    patched = client.get_job(name=name)
    assert patched.schedule == "*/2 * * * *"
    assert patched.user_update_time > created.user_update_time
    assert patched.http_target == created.http_target
    assert patched.description == created.description
    emulator.advance(5)
    ensure(client, "http://127.0.0.1:9/resync", schedule="*/2 * * * *")
    assert client.get_job(name=name).user_update_time == patched.user_update_time


def test_a_changed_target_audience_or_time_zone_is_patched(client: Any) -> None:
    name = ensure(client, "http://127.0.0.1:9/resync")
    ensure(client, "http://127.0.0.1:8/resync", audience="https://resync.example", time_zone="Europe/Paris")
    job = client.get_job(name=name)
    assert job.http_target.uri == "http://127.0.0.1:8/resync"
    assert job.http_target.oidc_token.audience == "https://resync.example"
    assert job.time_zone == "Europe/Paris"


def test_a_paused_job_stays_paused(client: Any) -> None:
    name = ensure(client, "http://127.0.0.1:9/resync")
    client.pause_job(name=name)
    ensure(client, "http://127.0.0.1:9/resync", schedule="*/5 * * * *")
    job = client.get_job(name=name)
    assert job.state == scheduler_v1.Job.State.PAUSED and job.schedule == "*/5 * * * *"


def test_a_job_made_by_hand_with_another_method_is_repaired(client: Any) -> None:
    client.create_job(parent=PARENT, job=scheduler_v1.Job(
        name=job_name("firecontrol-resync"), schedule="* * * * *",
        http_target=scheduler_v1.HttpTarget(uri="http://127.0.0.1:9/resync", http_method=scheduler_v1.HttpMethod.GET),
    ))
    ensure(client, "http://127.0.0.1:9/resync")
    target = client.get_job(name=job_name("firecontrol-resync")).http_target
    assert target.http_method == scheduler_v1.HttpMethod.POST
    assert target.oidc_token.service_account_email == SA


def test_the_job_calls_the_resync_uri_with_a_token_for_it(client: Any, emulator: SchedulerEmulator, target: Target) -> None:
    ensure(client, f"{target.url}/resync")
    [attempt] = emulator.advance(60)
    assert attempt.status_code == 200
    [request] = target.wait(1)
    claims = decode_token(request.headers["authorization"].removeprefix("Bearer "))
    assert (request.method, request.path) == ("POST", "/resync")
    assert (claims["aud"], claims["email"]) == (f"{target.url}/resync", SA)


def test_changes_are_computed_field_by_field() -> None:
    desired = ResyncJob("* * * * *", "Etc/UTC", "https://f/resync", SA, "https://f/resync")
    assert resync_job_changes(desired, desired) == []
    assert resync_job_changes(None, desired) == ["schedule", "time_zone", "http_target"]
    other = ResyncJob("*/5 * * * *", "UTC", "https://f/resync", SA, "https://other")
    assert resync_job_changes(other, desired) == ["schedule", "time_zone", "http_target"]
    assert resync_job_changes(desired, desired, post=False) == ["http_target"]


def test_importing_the_module_does_not_import_the_scheduler_client() -> None:
    code = "import sys, functions.scheduling; print('google.cloud.scheduler_v1' in sys.modules, 'google.api_core' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.split() == ["False", "False"]


def test_the_job_name_carries_the_cluster() -> None:
    """Two installations in one project have a job each, named as deploy.sh and Terraform name it."""
    from functions.scheduling import resync_job_id

    assert resync_job_id("blue") == "blue-resync"
    assert resync_job_id("green", "resync") != resync_job_id("blue", "resync")
    assert resync_job_id("prod-eu", "sync_pod") == "prod-eu-sync-pod"
