"""The v1 jobs API through the real google-cloud-scheduler client: CRUD, paging, masks, enums, errors."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import scheduler_v1
from google.protobuf import field_mask_pb2

from emulator.scheduler import SchedulerEmulator
from tests.scheduler.support import PARENT, PROJECT, SA, START, http_job, job_name, raw, seconds


def rpc_status(error: pytest.ExceptionInfo[exceptions.GoogleAPICallError]) -> str:
    """The google.rpc status name in the error body the client received."""
    response: Any = error.value.response
    return str(response.json()["error"]["status"])


def test_create_fills_defaults_and_get_returns_the_same(client: Any) -> None:
    job = http_job("a", oidc_token=scheduler_v1.OidcToken(service_account_email=SA))
    created = client.create_job(parent=PARENT, job=job)
    assert created.name == job_name("a")
    assert created.state == scheduler_v1.Job.State.ENABLED
    assert created.time_zone == "Etc/UTC"
    assert created.attempt_deadline.total_seconds() == 180
    assert created.retry_config.min_backoff_duration.total_seconds() == 5
    assert created.retry_config.max_doublings == 5
    assert created.user_update_time == START
    assert created.schedule_time == datetime(2030, 1, 1, 0, 1, tzinfo=UTC)
    assert created.http_target.headers["User-Agent"] == "Google-Cloud-Scheduler"
    assert created.http_target.oidc_token.service_account_email == SA
    assert client.get_job(name=created.name) == created


def test_list_pages_in_name_order_within_the_location(client: Any) -> None:
    ids = [f"job-{i}" for i in (6, 0, 4, 2, 5, 1, 3)]
    for job_id in ids:
        client.create_job(parent=PARENT, job=http_job(job_id))
    other = f"projects/{PROJECT}/locations/europe-west1"
    client.create_job(parent=other, job=scheduler_v1.Job(
        name=f"{other}/jobs/elsewhere", schedule="* * * * *", http_target=scheduler_v1.HttpTarget(uri="http://x/"),
    ))
    pager = client.list_jobs(request={"parent": PARENT, "page_size": 3})
    pages = [[job.name.rsplit("/", 1)[1] for job in page.jobs] for page in pager.pages]
    assert pages == [["job-0", "job-1", "job-2"], ["job-3", "job-4", "job-5"], ["job-6"]]
    assert [j.name for j in client.list_jobs(parent=other)] == [f"{other}/jobs/elsewhere"]


def test_bad_page_token_is_invalid_argument(client: Any) -> None:
    with pytest.raises(exceptions.BadRequest) as error:
        list(client.list_jobs(request={"parent": PARENT, "page_token": "not-a-token"}))
    assert rpc_status(error) == "INVALID_ARGUMENT"


def test_patch_changes_only_the_masked_fields(client: Any, emulator: SchedulerEmulator) -> None:
    client.create_job(parent=PARENT, job=http_job("a", description="first"))
    emulator.advance(10)
    change = http_job("a", schedule="*/5 * * * *", description="second")
    updated = client.update_job(job=change, update_mask=field_mask_pb2.FieldMask(paths=["schedule"]))
    assert updated.schedule == "*/5 * * * *"
    assert updated.description == "first"
    assert updated.user_update_time == START + timedelta(seconds=10)
    assert updated.schedule_time == datetime(2030, 1, 1, 0, 5, tzinfo=UTC)


def test_patch_a_nested_path_keeps_the_rest_of_the_target(client: Any) -> None:
    client.create_job(parent=PARENT, job=http_job("a", oidc_token=scheduler_v1.OidcToken(service_account_email=SA)))
    change = http_job("a", uri="http://127.0.0.1:9/other")
    updated = client.update_job(job=change, update_mask=field_mask_pb2.FieldMask(paths=["http_target.uri"]))
    assert updated.http_target.uri == "http://127.0.0.1:9/other"
    assert updated.http_target.oidc_token.service_account_email == SA


def test_delete_then_everything_is_not_found(client: Any) -> None:
    client.create_job(parent=PARENT, job=http_job("a"))
    client.delete_job(name=job_name("a"))
    assert list(client.list_jobs(parent=PARENT)) == []
    calls: list[Callable[[], Any]] = [
        lambda: client.get_job(name=job_name("a")),
        lambda: client.delete_job(name=job_name("a")),
        lambda: client.pause_job(name=job_name("a")),
        lambda: client.resume_job(name=job_name("a")),
        lambda: client.run_job(name=job_name("a")),
        lambda: client.update_job(job=http_job("a"), update_mask=field_mask_pb2.FieldMask(paths=["schedule"])),
    ]
    for call in calls:
        with pytest.raises(exceptions.NotFound) as error:
            call()
        assert rpc_status(error) == "NOT_FOUND"


def test_creating_a_job_twice_is_already_exists(client: Any) -> None:
    client.create_job(parent=PARENT, job=http_job("a"))
    with pytest.raises(exceptions.Conflict) as error:
        client.create_job(parent=PARENT, job=http_job("a", schedule="0 * * * *"))
    assert rpc_status(error) == "ALREADY_EXISTS"
    assert client.get_job(name=job_name("a")).schedule == "* * * * *"


@pytest.mark.parametrize(
    ("job", "words"),
    [
        (http_job("a", schedule="61 * * * *"), "Schedule"),
        (http_job("a", schedule="every 5 minutes please"), "Schedule"),
        (http_job("a", schedule="* * * * * *"), "Schedule"),
        (http_job("bad.name"), "JOB_ID"),
        (http_job("a", time_zone="Mars/Olympus"), "time zone"),
        (http_job("a", http_method=scheduler_v1.HttpMethod.GET, body=b"x"), "body"),
        (http_job("a", uri="ftp://example.com/"), "uri"),
        (scheduler_v1.Job(name=job_name("a"), schedule="* * * * *"), "one of"),
        (http_job("a", attempt_deadline=seconds(5)), "attempt_deadline"),
    ],
    ids=["minute-61", "english", "six-fields", "name", "time-zone", "get-body", "uri", "no-target", "deadline"],
)
def test_invalid_jobs_are_invalid_argument(client: Any, job: scheduler_v1.Job, words: str) -> None:
    with pytest.raises(exceptions.BadRequest) as error:
        client.create_job(parent=PARENT, job=job)
    assert rpc_status(error) == "INVALID_ARGUMENT"
    assert words in str(error.value)
    assert list(client.list_jobs(parent=PARENT)) == []


def test_a_bad_schedule_in_a_patch_leaves_the_job_as_it_was(client: Any) -> None:
    client.create_job(parent=PARENT, job=http_job("a"))
    with pytest.raises(exceptions.BadRequest):
        client.update_job(job=http_job("a", schedule="* * *"), update_mask=field_mask_pb2.FieldMask(paths=["schedule"]))
    assert client.get_job(name=job_name("a")).schedule == "* * * * *"


def test_pause_and_resume_move_the_state_and_refuse_twice(client: Any) -> None:
    client.create_job(parent=PARENT, job=http_job("a"))
    assert client.pause_job(name=job_name("a")).state == scheduler_v1.Job.State.PAUSED
    assert client.get_job(name=job_name("a")).state == scheduler_v1.Job.State.PAUSED
    with pytest.raises(exceptions.BadRequest) as error:
        client.pause_job(name=job_name("a"))
    assert rpc_status(error) == "FAILED_PRECONDITION"
    assert client.resume_job(name=job_name("a")).state == scheduler_v1.Job.State.ENABLED
    with pytest.raises(exceptions.BadRequest) as error:
        client.resume_job(name=job_name("a"))
    assert rpc_status(error) == "FAILED_PRECONDITION"


@pytest.mark.parametrize("method", [scheduler_v1.HttpMethod(n) for n in range(1, 8)], ids=lambda m: m.name)
def test_http_method_enum_round_trips(client: Any, method: scheduler_v1.HttpMethod) -> None:
    client.create_job(parent=PARENT, job=http_job("a", http_method=method))
    assert client.get_job(name=job_name("a")).http_target.http_method == method


def test_unspecified_method_is_post_and_body_round_trips(client: Any) -> None:
    job = http_job("a", http_method=scheduler_v1.HttpMethod.HTTP_METHOD_UNSPECIFIED, body=b"\x00\xffhello")
    created = client.create_job(parent=PARENT, job=job)
    assert created.http_target.http_method == scheduler_v1.HttpMethod.POST
    assert created.http_target.body == b"\x00\xffhello"
    assert created.http_target.headers["Content-Type"] == "application/octet-stream"


def test_enums_are_numbers_when_asked_and_names_otherwise(client: Any, emulator: SchedulerEmulator) -> None:
    path = f"/v1/{PARENT}/jobs"
    body = {"name": job_name("a"), "schedule": "* * * * *",
            "httpTarget": {"uri": "http://x/", "httpMethod": "PUT", "body": base64.b64encode(b"hi").decode()}}
    status, created = raw(emulator.url, "POST", path + "?%24alt=json%3Benum-encoding%3Dint", body)
    assert status == 200
    assert (created["state"], created["httpTarget"]["httpMethod"]) == (1, 4)
    client.pause_job(name=job_name("a"))
    _, by_name = raw(emulator.url, "GET", f"/v1/{job_name('a')}")
    assert (by_name["state"], by_name["httpTarget"]["httpMethod"]) == ("PAUSED", "PUT")
    assert by_name["attemptDeadline"] == "180s"
    assert by_name["userUpdateTime"].endswith("Z")


def test_unknown_fields_and_bad_json_are_rejected(emulator: SchedulerEmulator) -> None:
    status, error = raw(emulator.url, "POST", f"/v1/{PARENT}/jobs", {"name": job_name("a"), "schedul": "* * * * *"})
    assert status == 400
    assert error["error"]["status"] == "INVALID_ARGUMENT" and "schedul" in error["error"]["message"]
    status, _ = raw(emulator.url, "GET", "/v1/nowhere")
    assert status == 404
