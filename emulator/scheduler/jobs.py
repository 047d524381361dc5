"""A Cloud Scheduler job: the validated configuration, the output-only fields, and its cron.

The configuration (``spec``) is kept as the camelCase JSON the API speaks, with enums
held as integers; ``render`` writes them back as integers or names, whichever encoding
the caller asked for. The next fire time comes from croniter, in the job's time zone.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter  # type: ignore[import-untyped]

from .errors import invalid

Json = dict[str, Any]

HTTP_METHODS = ["HTTP_METHOD_UNSPECIFIED", "POST", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]
STATES = ["STATE_UNSPECIFIED", "ENABLED", "PAUSED", "DISABLED", "UPDATE_FAILED"]
ENABLED, PAUSED = 1, 2
BODY_METHODS = {1, 4, 6}  # POST, PUT, PATCH: the only methods that may carry a body

TARGETS = ("httpTarget", "pubsubTarget", "appEngineHttpTarget")
CONFIG_FIELDS = ("name", "description", "schedule", "timeZone", *TARGETS, "retryConfig", "attemptDeadline")
OUTPUT_FIELDS = ("userUpdateTime", "state", "status", "scheduleTime", "lastAttemptTime")
DEFAULT_TIME_ZONE = "Etc/UTC"
DEFAULT_RETRY = {"retryCount": 0, "maxRetryDuration": 0.0, "minBackoffDuration": 5.0,
                 "maxBackoffDuration": 3600.0, "maxDoublings": 5}
DEFAULT_DEADLINE = 180.0
USER_AGENT = "Google-Cloud-Scheduler"

_PARENT = re.compile(r"^projects/[A-Za-z0-9.:-]+/locations/[A-Za-z0-9-]+$")
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,500}$")
_DURATION = re.compile(r"^(-?\d+(?:\.\d{1,9})?)s$")


# -- small codecs ---------------------------------------------------------------------


def timestamp(when: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as Google's JSON writes a Timestamp."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def duration(seconds: float) -> str:
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{seconds:.9f}".rstrip("0") + "s"


def parse_duration(value: Any, field_name: str) -> float:
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise invalid(f"Invalid value at '{field_name}' (type.googleapis.com/google.protobuf.Duration), {value!r}")
    return float(match[1])


def enum_value(value: Any, names: list[str], field_name: str) -> int:
    """An enum as its number, whether it came as a number or a name."""
    if isinstance(value, bool):
        raise invalid(f"Invalid value at '{field_name}', {value!r}")
    if isinstance(value, int) and 0 <= value < len(names):
        return value
    if isinstance(value, str) and value in names:
        return names.index(value)
    raise invalid(f"Invalid value at '{field_name}' ({names[0].rsplit('_', 1)[0]}), {value!r}")


def split_name(name: str) -> tuple[str, str]:
    """``projects/p/locations/l/jobs/j`` -> (parent, job id), or INVALID_ARGUMENT."""
    parent, sep, job_id = name.rpartition("/jobs/")
    if not sep or not _PARENT.match(parent) or not _JOB_ID.match(job_id):
        raise invalid(
            f"Job name must be formatted: \"projects/<PROJECT_ID>/locations/<LOCATION_ID>/jobs/<JOB_ID>\"; "
            f"JOB_ID can contain only letters, numbers, hyphens or underscores: {name!r}"
        )
    return parent, job_id


def check_parent(parent: str) -> str:
    if not _PARENT.match(parent):
        raise invalid(f"Parent must be formatted: \"projects/<PROJECT_ID>/locations/<LOCATION_ID>\": {parent!r}")
    return parent


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo("UTC" if name.lower() == "utc" else name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise invalid(f"Invalid time zone: {name!r}") from e


def next_fire(schedule: str, time_zone: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that matches the unix-cron ``schedule`` in ``time_zone``."""
    start = after.astimezone(zone(time_zone))
    following: datetime = croniter(schedule, start).get_next(datetime)
    return following.astimezone(UTC)


# -- validation ---------------------------------------------------------------------


def check_schedule(schedule: Any) -> str:
    if not isinstance(schedule, str) or not schedule.strip():
        raise invalid("Schedule is required.")
    if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        raise invalid(f"Schedule has invalid format: {schedule!r} is not a unix-cron expression.")
    return schedule


def _check_keys(data: Any, allowed: tuple[str, ...], where: str) -> Json:
    if not isinstance(data, dict):
        raise invalid(f"Invalid JSON payload received at '{where}': expected an object.")
    for key in data:
        if key not in allowed:
            raise invalid(f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field.")
    return data


def _http_target(raw: Any) -> Json:
    data = _check_keys(raw, ("uri", "httpMethod", "headers", "body", "oauthToken", "oidcToken"), "job.http_target")
    uri = data.get("uri")
    parts = urlsplit(uri) if isinstance(uri, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(f"HttpTarget.uri must be an absolute http or https URL: {uri!r}")
    method = enum_value(data.get("httpMethod", 0), HTTP_METHODS, "job.http_target.http_method") or 1
    headers = data.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise invalid("HttpTarget.headers must map header names to strings.")
    target: Json = {"uri": uri, "httpMethod": method, "headers": {**headers}}
    body = data.get("body") or ""
    if body:
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, TypeError) as e:
            raise invalid("HttpTarget.body must be base64.") from e
        if method not in BODY_METHODS:
            raise invalid(f"A body is allowed only with POST, PUT or PATCH, not {HTTP_METHODS[method]}.")
        target["body"] = body
        if not any(k.lower() == "content-type" for k in headers):
            target["headers"]["Content-Type"] = "application/octet-stream"
    if not any(k.lower() == "user-agent" for k in headers):
        target["headers"]["User-Agent"] = USER_AGENT
    if data.get("oauthToken") and data.get("oidcToken"):
        raise invalid("Only one of HttpTarget.oauth_token and HttpTarget.oidc_token may be set.")
    if data.get("oidcToken"):
        oidc = _check_keys(data["oidcToken"], ("serviceAccountEmail", "audience"), "job.http_target.oidc_token")
        if not oidc.get("serviceAccountEmail"):
            raise invalid("OidcToken.service_account_email is required.")
        target["oidcToken"] = {k: v for k, v in oidc.items() if v}
    if data.get("oauthToken"):
        oauth = _check_keys(data["oauthToken"], ("serviceAccountEmail", "scope"), "job.http_target.oauth_token")
        target["oauthToken"] = {k: v for k, v in oauth.items() if v}
    return target


def _retry_config(raw: Any) -> Json:
    data = _check_keys(raw or {}, tuple(DEFAULT_RETRY), "job.retry_config")
    config: Json = dict(DEFAULT_RETRY)
    for key, value in data.items():
        if key in ("retryCount", "maxDoublings"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise invalid(f"RetryConfig.{key} must be a non-negative integer: {value!r}")
            config[key] = value
        else:
            config[key] = parse_duration(value, f"job.retry_config.{key}")
    if config["retryCount"] > 5:
        raise invalid("RetryConfig.retry_count must be between 0 and 5.")
    return config


def normalize(raw: Json) -> Json:
    """A job's configuration, validated and with the defaults Cloud Scheduler fills in.

    Output-only fields in ``raw`` are ignored; anything unknown is INVALID_ARGUMENT.
    """
    data = _check_keys(raw, CONFIG_FIELDS + OUTPUT_FIELDS, "job")
    spec: Json = {"name": data.get("name", "")}
    description = data.get("description") or ""
    if len(description) > 500:
        raise invalid("Job.description must be at most 500 characters.")
    if description:
        spec["description"] = description
    spec["schedule"] = check_schedule(data.get("schedule"))
    spec["timeZone"] = data.get("timeZone") or DEFAULT_TIME_ZONE
    zone(spec["timeZone"])
    targets = [t for t in TARGETS if data.get(t)]
    if len(targets) != 1:
        raise invalid("Exactly one of http_target, pubsub_target and app_engine_http_target must be set.")
    if targets[0] == "httpTarget":
        spec["httpTarget"] = _http_target(data["httpTarget"])
    else:
        spec[targets[0]] = copy.deepcopy(data[targets[0]])
    spec["retryConfig"] = _retry_config(data.get("retryConfig"))
    deadline = parse_duration(data["attemptDeadline"], "job.attempt_deadline") if data.get("attemptDeadline") else DEFAULT_DEADLINE
    if "httpTarget" in spec and not 15 <= deadline <= 1800:
        raise invalid("Job.attempt_deadline must be between 15 seconds and 30 minutes for HTTP targets.")
    spec["attemptDeadline"] = deadline
    return spec


def apply_mask(spec: Json, patch: Json, paths: list[str]) -> Json:
    """The raw configuration ``spec`` with each masked (dotted, camelCase) path taken from ``patch``.

    A path absent from ``patch`` clears that field; setting one target clears the others.
    """
    merged = render_spec(spec, enum_ints=True)
    for path in paths:
        keys = path.split(".")
        if keys[0] in OUTPUT_FIELDS or keys[0] == "name":
            continue
        if keys[0] not in CONFIG_FIELDS:
            raise invalid(f"Invalid update_mask path: {path!r}")
        source: Any = patch
        for key in keys:
            source = source.get(key) if isinstance(source, dict) else None
        dest = merged
        for key in keys[:-1]:
            dest = dest.setdefault(key, {})
            if not isinstance(dest, dict):
                raise invalid(f"Invalid update_mask path: {path!r}")
        if source is None:
            dest.pop(keys[-1], None)
        else:
            dest[keys[-1]] = copy.deepcopy(source)
        if keys[0] in TARGETS and source is not None:
            for other in TARGETS:
                if other != keys[0]:
                    merged.pop(other, None)
    return merged


def mask_paths(update_mask: str | None, patch: Json) -> list[str]:
    """The update mask's paths in camelCase; with no mask, every configuration field in ``patch``."""
    if not update_mask:
        return [key for key in patch if key in CONFIG_FIELDS and key != "name"]
    return [_camel(p.strip()) for p in update_mask.split(",") if p.strip()]


def _camel(path: str) -> str:
    return ".".join(re.sub(r"_([a-z])", lambda m: m[1].upper(), part) for part in path.split("."))


def render_spec(spec: Json, *, enum_ints: bool) -> Json:
    out = copy.deepcopy(spec)
    if "httpTarget" in out:
        method = out["httpTarget"]["httpMethod"]
        out["httpTarget"]["httpMethod"] = method if enum_ints else HTTP_METHODS[method]
    if "retryConfig" in out:
        retry = out["retryConfig"]
        for key in ("maxRetryDuration", "minBackoffDuration", "maxBackoffDuration"):
            retry[key] = duration(retry[key])
        if not retry["retryCount"]:
            del retry["retryCount"]  # proto3 JSON leaves zero scalars out
    if "attemptDeadline" in out:
        out["attemptDeadline"] = duration(out["attemptDeadline"])
    return out


# -- the job ---------------------------------------------------------------------------


@dataclass
class Job:
    """One job: its configuration and what Cloud Scheduler reports about it."""

    spec: Json
    state: int
    user_update_time: datetime
    schedule_time: datetime | None = None
    last_attempt_time: datetime | None = None
    status: Json | None = None
    running: int = 0  # attempts in flight
    retries: int = 0  # failed attempts since the last scheduled one started
    first_failure: datetime | None = None

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def job_id(self) -> str:
        return self.name.rsplit("/", 1)[1]

    @property
    def parent(self) -> str:
        return self.name.rsplit("/jobs/", 1)[0]

    @property
    def deadline(self) -> float:
        return float(self.spec["attemptDeadline"])

    def next_after(self, when: datetime) -> datetime:
        return next_fire(self.spec["schedule"], self.spec["timeZone"], when)

    def retry_delay(self) -> timedelta | None:
        """The backoff before the next retry of a failed attempt, or None when retries are spent."""
        retry = self.spec["retryConfig"]
        if self.retries >= retry["retryCount"]:
            return None
        doublings = min(self.retries, retry["maxDoublings"])
        seconds = min(retry["minBackoffDuration"] * 2**doublings, retry["maxBackoffDuration"])
        return timedelta(seconds=seconds)

    def render(self, *, enum_ints: bool) -> Json:
        out = render_spec(self.spec, enum_ints=enum_ints)
        out["userUpdateTime"] = timestamp(self.user_update_time)
        out["state"] = self.state if enum_ints else STATES[self.state]
        if self.status is not None:
            out["status"] = dict(self.status)
        if self.schedule_time is not None:
            out["scheduleTime"] = timestamp(self.schedule_time)
        if self.last_attempt_time is not None:
            out["lastAttemptTime"] = timestamp(self.last_attempt_time)
        return out
