"""What the provider needs to know, read once by the caller and passed in.

``ProviderSettings`` is satisfied by ``functions.config.Settings`` (read from
GOOGLE_CLOUD_PROJECT, COMPUTE_API_ENDPOINT, FIRECONTROL_REGION, FIRECONTROL_ZONE,
FIRECONTROL_CLUSTER); ``GceConfig`` adds the knobs tests turn (retry delays, deadlines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from .errors import InvalidRequestError

# Short enough to leave room for a load balancer name after the "<cluster>-" prefix, and
# without '-': the runtime's IAM conditions (infra/iam.yaml) admit names starting with
# "<cluster>-", which for a cluster "prod" would also cover every resource of "prod-eu".
# With letters and digits only, "<cluster>-" is the prefix of one cluster's names.
_CLUSTER = re.compile(r"^[a-z][a-z0-9]{0,19}\Z")

# Backoff on 429 and 5xx, as plain data: one sleep per retry, then TemporaryError.
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


class ProviderSettings(Protocol):
    @property
    def project(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def zone(self) -> str: ...
    @property
    def cluster(self) -> str: ...
    @property
    def compute_api_endpoint(self) -> str | None: ...


@dataclass(frozen=True)
class GceConfig:
    project: str
    region: str = "us-central1"
    zone: str = "us-central1-a"
    cluster: str = "firecontrol"
    endpoint: str | None = None  # None: the real API with default credentials
    network: str = "default"
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    operation_timeout: float = 300.0  # seconds to wait for one operation
    request_timeout: float = 60.0  # seconds for one HTTP request

    def __post_init__(self) -> None:
        if not _CLUSTER.match(self.cluster):
            raise InvalidRequestError(
                f"FIRECONTROL_CLUSTER={self.cluster!r} must be 1-20 lower-case letters and digits, "
                "starting with a letter, and no '-' (it prefixes every cloud resource name as "
                "'<cluster>-', so with a '-' one cluster's prefix would cover another's names)"
            )
        if not self.project:
            raise InvalidRequestError("GOOGLE_CLOUD_PROJECT is not set")

    @classmethod
    def from_settings(cls, settings: ProviderSettings) -> GceConfig:
        return cls(
            project=settings.project,
            region=settings.region,
            zone=settings.zone,
            cluster=settings.cluster,
            endpoint=settings.compute_api_endpoint,
        )
