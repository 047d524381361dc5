"""Vendor errors become ours once, at the boundary (real exceptions from the real client)."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from emulator.compute import ComputeEmulator
from functions.cloudprovider import (
    AlreadyExistsError,
    CloudError,
    InvalidRequestError,
    NotFoundError,
    PermanentError,
    QuotaError,
    ResourceInUseError,
    TemporaryError,
)
from functions.cloudprovider.gce_api import translate
from tests.compute.support import PROJECT, ZONE


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (404, "notFound", NotFoundError),
        (409, "alreadyExists", AlreadyExistsError),
        (400, "invalid", InvalidRequestError),
        (400, "resourceInUseByAnotherResource", ResourceInUseError),
        (403, "quotaExceeded", QuotaError),
        (403, "forbidden", PermanentError),
        (429, "rateLimitExceeded", TemporaryError),
        (503, "backendError", TemporaryError),
    ],
)
def test_translate(emulator: ComputeEmulator, client_kwargs: dict[str, Any], status: int, reason: str,
                   expected: type[CloudError]) -> None:
    emulator.inject(path="/instances/x$", status=status, reason=reason)
    with pytest.raises(gexc.GoogleAPICallError) as vendor:
        compute_v1.InstancesClient(**client_kwargs).get(project=PROJECT, zone=ZONE, instance="x", retry=None)
    ours = translate(vendor.value, "get instance x")
    assert type(ours) is expected
    assert ours.status == status and ours.reason == reason and str(ours).startswith("get instance x: ")
