"""The one place that talks to ``google-cloud-compute``: clients, retries, operations, errors.

Every call goes through ``ComputeApi.call``: 429, 5xx, 403 rate limits and broken
connections are retried after each delay in ``retry_delays`` and then raised as
``TemporaryError``; every other vendor error is translated into ``errors``.
``mutate`` also waits for the operation (``*Operations.wait`` with a deadline), since
``ExtendedOperation.result()`` would poll the real endpoint, not ours.
Importing this module costs the ~1.6 s import of ``compute_v1``; only ``registry``
(building the gce provider) imports it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import google.auth
import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from .config import GceConfig
from .errors import (
    AlreadyExistsError,
    CloudError,
    InvalidRequestError,
    NotFoundError,
    PermanentError,
    QuotaError,
    ResourceInUseError,
    TemporaryError,
)
from .gce_healthchecks import HttpHealthChecksClient

log = logging.getLogger("firecontrol.cloudprovider")
T = TypeVar("T")
DONE = compute_v1.Operation.Status.DONE
_RETRY_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "backendError"}
_OPERATION_ERRORS: dict[str, type[CloudError]] = {
    "RESOURCE_NOT_FOUND": NotFoundError,
    "RESOURCE_ALREADY_EXISTS": AlreadyExistsError,
    "ALREADY_EXISTS": AlreadyExistsError,
    "QUOTA_EXCEEDED": QuotaError,
    "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE": ResourceInUseError,
}


def _reason(error: gexc.GoogleAPICallError) -> str:
    return str(error.reason or next((e.get("reason", "") for e in error.errors or [] if isinstance(e, dict)), ""))


def _retryable(error: Exception) -> bool:
    if isinstance(error, requests.ConnectionError | requests.Timeout):
        return True
    if isinstance(error, gexc.GoogleAPICallError):
        code = error.code or 0
        return code == 429 or code >= 500 or (code == 403 and _reason(error) in _RETRY_REASONS)
    return False


def translate(error: gexc.GoogleAPICallError, what: str) -> CloudError:
    """Our error for a vendor error that is not worth retrying (or no longer)."""
    code, reason = int(error.code or 0), _reason(error)
    message = f"{what}: {error.message}"
    cls: type[CloudError]
    if code == 404:
        cls = NotFoundError
    elif code == 409:
        cls = AlreadyExistsError
    elif reason == "resourceInUseByAnotherResource":
        cls = ResourceInUseError
    elif reason == "quotaExceeded":
        cls = QuotaError
    elif code == 429 or code >= 500:
        cls = TemporaryError
    elif code == 400:
        cls = InvalidRequestError
    else:
        cls = PermanentError
    return cls(message, status=code, reason=reason)


def translate_operation(op: compute_v1.Operation, what: str) -> CloudError:
    first = op.error.errors[0]
    code = int(op.http_error_status_code or 0)
    cls = _OPERATION_ERRORS.get(first.code)
    if cls is None:
        cls = TemporaryError if code >= 500 or code == 429 else InvalidRequestError
    return cls(f"{what}: {first.code}: {first.message}", status=code, reason=first.code)


class ComputeApi:
    """The Compute clients for one project, built with the same endpoint and credentials."""

    def __init__(self, config: GceConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.sleep = sleep
        kwargs: dict[str, Any] = {"transport": "rest"}
        if config.endpoint:
            credentials: Any = AnonymousCredentials()  # type: ignore[no-untyped-call]
            kwargs.update(credentials=credentials, client_options={"api_endpoint": config.endpoint})
        else:
            credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
            kwargs.update(credentials=credentials)
        self.instances = compute_v1.InstancesClient(**kwargs)
        self.addresses = compute_v1.AddressesClient(**kwargs)
        self.firewalls = compute_v1.FirewallsClient(**kwargs)
        self.host: str = self.instances.transport.host  # scheme://host of every resource URL
        self.health_checks = HttpHealthChecksClient(credentials, self.host)
        self.target_pools = compute_v1.TargetPoolsClient(**kwargs)
        self.forwarding_rules = compute_v1.ForwardingRulesClient(**kwargs)
        self.zone_operations = compute_v1.ZoneOperationsClient(**kwargs)
        self.region_operations = compute_v1.RegionOperationsClient(**kwargs)
        self.global_operations = compute_v1.GlobalOperationsClient(**kwargs)

    def call(self, what: str, method: Callable[..., T], **kwargs: Any) -> T:
        """``method(**kwargs)`` with our retries and our errors; ``what`` names it in messages."""
        delays = self.config.retry_delays
        for attempt in range(len(delays) + 1):
            try:
                return method(**kwargs, retry=None, timeout=self.config.request_timeout)
            except (gexc.GoogleAPICallError, requests.RequestException) as e:
                if not _retryable(e):
                    if isinstance(e, gexc.GoogleAPICallError):
                        raise translate(e, what) from e
                    raise PermanentError(f"{what}: {e}") from e
                if attempt == len(delays):
                    raise TemporaryError(f"{what}: still failing after {attempt + 1} attempts: {e}",
                                         status=getattr(e, "code", None)) from e
                log.warning("compute call failed, retrying",
                            extra={"call": what, "attempt": attempt + 1, "delay": delays[attempt], "error": str(e)})
                self.sleep(delays[attempt])
        raise AssertionError("unreachable")

    def mutate(self, what: str, method: Callable[..., compute_v1.Operation], **kwargs: Any) -> None:
        """Start a change and wait until its operation is DONE; raise its error, if any."""
        self.wait(self.call(what, method, **kwargs), what)

    def wait(self, op: compute_v1.Operation, what: str) -> compute_v1.Operation:
        deadline = time.monotonic() + self.config.operation_timeout
        project = self.config.project
        while op.status != DONE:
            if time.monotonic() > deadline:
                raise TemporaryError(f"{what}: operation {op.name} not done after {self.config.operation_timeout}s")
            if op.zone:
                op = self.call(f"wait for {what}", self.zone_operations.wait, project=project,
                               zone=op.zone.rsplit("/", 1)[-1], operation=op.name)
            elif op.region:
                op = self.call(f"wait for {what}", self.region_operations.wait, project=project,
                               region=op.region.rsplit("/", 1)[-1], operation=op.name)
            else:
                op = self.call(f"wait for {what}", self.global_operations.wait, project=project, operation=op.name)
        if op.error and op.error.errors:
            raise translate_operation(op, what)
        return op
