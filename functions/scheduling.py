"""The Cloud Scheduler job that calls ``resync`` every minute: create it, or bring it up to date.

The same code runs against Google Cloud (``build_client(None)``: default credentials
and transport) and against the local emulator (``build_client(url)``: REST,
anonymous credentials). ``google.cloud.scheduler_v1`` is imported inside the
functions only: no function entry point pays for it at cold start.

``ensure_resync_job`` is read -> compare -> write once: ``resync_job_changes`` is the
pure comparison, and an up-to-date job is left untouched (its ``userUpdateTime``
does not move). A paused job stays paused: pausing it is an operator's decision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.cloud.scheduler_v1 import CloudSchedulerClient, Job

log = logging.getLogger("firecontrol.scheduling")


@dataclass(frozen=True)
class ResyncJob:
    """What firecontrol manages in the job; every other field is left as it is."""

    schedule: str
    time_zone: str
    uri: str
    service_account_email: str
    audience: str

    @classmethod
    def from_job(cls, job: Job) -> ResyncJob:
        target = job.http_target
        return cls(
            schedule=job.schedule, time_zone=job.time_zone, uri=target.uri,
            service_account_email=target.oidc_token.service_account_email,
            audience=target.oidc_token.audience or target.uri,
        )

    def to_job(self, name: str) -> Job:
        from google.cloud import scheduler_v1

        return scheduler_v1.Job(
            name=name,
            description="firecontrol: periodic resync of controllers, pods and services",
            schedule=self.schedule,
            time_zone=self.time_zone,
            http_target=scheduler_v1.HttpTarget(
                uri=self.uri,
                http_method=scheduler_v1.HttpMethod.POST,
                oidc_token=scheduler_v1.OidcToken(
                    service_account_email=self.service_account_email, audience=self.audience,
                ),
            ),
        )


def resync_job_changes(current: ResyncJob | None, desired: ResyncJob, *, post: bool = True) -> list[str]:
    """The update-mask paths that bring ``current`` to ``desired``; empty when it is up to date.

    ``post`` says whether the current target already is an HTTP POST with an OIDC token.
    """
    if current is None:
        return ["schedule", "time_zone", "http_target"]
    changes = []
    if current.schedule != desired.schedule:
        changes.append("schedule")
    if current.time_zone != desired.time_zone:
        changes.append("time_zone")
    target = (current.uri, current.service_account_email, current.audience)
    if not post or target != (desired.uri, desired.service_account_email, desired.audience):
        changes.append("http_target")
    return changes


def resync_job_id(cluster: str, function: str = "resync") -> str:
    """The job's id: it carries the cluster, so installations in one project have a job each
    (the same name infra/deploy.sh and the Terraform module give it)."""
    return f"{cluster}-{function.replace('_', '-')}"


def build_client(endpoint: str | None = None) -> CloudSchedulerClient:
    """A Scheduler client: for an endpoint (the emulator), REST with anonymous credentials; else the default."""
    from google.cloud import scheduler_v1

    if not endpoint:
        return scheduler_v1.CloudSchedulerClient()
    from google.auth.credentials import AnonymousCredentials

    credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
    return scheduler_v1.CloudSchedulerClient(
        transport="rest", credentials=credentials, client_options={"api_endpoint": endpoint},
    )


def ensure_resync_job(
    client: CloudSchedulerClient,
    *,
    project: str,
    region: str,
    job_id: str,
    uri: str,
    schedule: str,
    service_account_email: str,
    audience: str | None = None,
    time_zone: str = "Etc/UTC",
) -> str:
    """Create the job that POSTs to ``uri`` on ``schedule`` with an OIDC token, or patch it; its name.

    Idempotent: a second identical call reads the job and writes nothing. The
    audience defaults to ``uri``, as Cloud Scheduler's does.
    """
    from google.api_core import exceptions
    from google.cloud import scheduler_v1
    from google.protobuf import field_mask_pb2

    parent = f"projects/{project}/locations/{region}"
    name = f"{parent}/jobs/{job_id}"
    desired = ResyncJob(schedule, time_zone, uri, service_account_email, audience or uri)
    try:
        current = client.get_job(name=name)
    except exceptions.NotFound:
        try:
            client.create_job(parent=parent, job=desired.to_job(name))
            log.info("created scheduler job", extra={"job": name, "schedule": schedule, "uri": uri})
            return name
        except exceptions.Conflict:  # created since our read (REST says Conflict, gRPC AlreadyExists)
            current = client.get_job(name=name)
    post = (
        "http_target" in current
        and current.http_target.http_method == scheduler_v1.HttpMethod.POST
        and "oidc_token" in current.http_target
    )
    changes = resync_job_changes(ResyncJob.from_job(current) if "http_target" in current else None, desired, post=post)
    if current.state == scheduler_v1.Job.State.UPDATE_FAILED:
        changes = resync_job_changes(None, desired)
    if not changes:
        log.info("scheduler job up to date", extra={"job": name, "state": current.state.name})
        return name
    client.update_job(job=desired.to_job(name), update_mask=field_mask_pb2.FieldMask(paths=changes))
    log.info("updated scheduler job", extra={"job": name, "fields": changes, "schedule": schedule, "uri": uri})
    return name
