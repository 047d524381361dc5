"""Sending one attempt of a job to its HTTP target, as Cloud Scheduler sends it.

The request carries the job's method, headers and body, Cloud Scheduler's own
headers (``User-Agent: Google-Cloud-Scheduler``, ``X-CloudScheduler*``) and, for an
``oidcToken`` job, ``Authorization: Bearer <JWT>``. The JWT is unsigned (``alg:
none``): its claims are those Google puts in an ID token (iss, aud, email, sub,
iat, exp, with iat/exp on the real wall clock, as a receiver checks them), but
nothing can verify it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import STATUSES, status_for_http
from .jobs import HTTP_METHODS, USER_AGENT, Json, timestamp

ISSUER = "https://accounts.google.com"
TOKEN_LIFETIME = 3600


@dataclass(frozen=True)
class Attempt:
    """One delivery of a job: when (emulated time), why, and what the target answered."""

    job: str
    trigger: str  # "schedule", "retry" or "run"
    schedule_time: datetime
    attempt_time: datetime
    status_code: int | None  # the HTTP status, None when no answer came
    status: str  # the gRPC status name the job reports: OK, NOT_FOUND, UNAVAILABLE...
    error: str = ""
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "OK"

    def job_status(self) -> Json:
        """The job's ``status`` field after this attempt: empty when it succeeded."""
        if self.ok:
            return {}
        return {"code": STATUSES[self.status][1], "message": self.error or self.status}

    def to_json(self) -> Json:
        return {
            "job": self.job, "trigger": self.trigger, "scheduleTime": timestamp(self.schedule_time),
            "attemptTime": timestamp(self.attempt_time), "statusCode": self.status_code,
            "status": self.status, "error": self.error, "durationMs": round(self.duration_ms, 1),
        }


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def oidc_token(service_account_email: str, audience: str, issued_at: float | None = None) -> str:
    """An unsigned ID token with the claims Google's would carry for this service account."""
    iat = int(issued_at if issued_at is not None else time.time())
    subject = str(int(hashlib.sha256(service_account_email.encode()).hexdigest()[:15], 16))
    claims = {
        "iss": ISSUER, "aud": audience, "azp": subject, "sub": subject,
        "email": service_account_email, "email_verified": True, "iat": iat, "exp": iat + TOKEN_LIFETIME,
    }
    header = {"alg": "none", "typ": "JWT"}
    return f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}."


def decode_token(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (for tests and targets that want to look)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def build_request(job_id: str, target: Json, schedule_time: datetime) -> urllib.request.Request:
    headers = {k: v for k, v in target.get("headers", {}).items() if k.lower() not in ("host", "content-length")}
    headers["User-Agent"] = USER_AGENT
    headers["X-CloudScheduler"] = "true"
    headers["X-CloudScheduler-JobName"] = job_id
    headers["X-CloudScheduler-ScheduleTime"] = timestamp(schedule_time)
    oidc = target.get("oidcToken")
    if oidc:
        audience = oidc.get("audience") or target["uri"]
        headers["Authorization"] = f"Bearer {oidc_token(oidc['serviceAccountEmail'], audience)}"
    body = base64.b64decode(target["body"]) if target.get("body") else None
    return urllib.request.Request(
        target["uri"], data=body, headers=headers, method=HTTP_METHODS[target["httpMethod"]]
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def send(
    job: str, job_id: str, target: Json, *, trigger: str, schedule_time: datetime,
    attempt_time: datetime, deadline: float,
) -> Attempt:
    """Deliver one attempt; never raises: a failure is an attempt with a non-OK status."""
    request = build_request(job_id, target, schedule_time)
    started = time.monotonic()
    code: int | None = None
    error = ""
    try:
        with _OPENER.open(request, timeout=deadline) as response:
            response.read()
            code = int(response.status)
    except urllib.error.HTTPError as e:
        code = int(e.code)
        error = f"HTTP {e.code} {e.reason}"
        e.close()
    except TimeoutError:
        error = f"no answer within the attempt deadline of {deadline:g} s"
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, TimeoutError):
            error = f"no answer within the attempt deadline of {deadline:g} s"
        else:
            error = f"could not reach {target['uri']}: {reason}"
    if code is not None:
        status = status_for_http(code)
    else:
        status = "DEADLINE_EXCEEDED" if error.startswith("no answer") else "UNAVAILABLE"
    return Attempt(
        job=job, trigger=trigger, schedule_time=schedule_time, attempt_time=attempt_time,
        status_code=code, status=status, error=error, duration_ms=(time.monotonic() - started) * 1000,
    )
