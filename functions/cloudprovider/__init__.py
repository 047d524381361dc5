"""The cloud provider interface (Kubernetes' 2014 ``cloudprovider``), its registry and errors.

Importing this package is cheap: the Compute client is imported only when
``build_provider("gce", settings)`` builds the GCE provider.
"""

from .config import GceConfig, ProviderSettings
from .errors import (
    AlreadyExistsError,
    CloudError,
    InvalidRequestError,
    NameConflictError,
    NotFoundError,
    PermanentError,
    QuotaError,
    ResourceInUseError,
    TemporaryError,
    UnknownProviderError,
)
from .interface import (
    CloudProvider,
    InstanceInfo,
    Instances,
    InstanceSpec,
    Owner,
    TCPLoadBalancer,
    Zone,
    Zones,
)
from .registry import PROVIDERS, build_provider

__all__ = [
    "PROVIDERS",
    "AlreadyExistsError",
    "CloudError",
    "CloudProvider",
    "GceConfig",
    "InstanceInfo",
    "InstanceSpec",
    "Instances",
    "InvalidRequestError",
    "NameConflictError",
    "NotFoundError",
    "Owner",
    "PermanentError",
    "ProviderSettings",
    "QuotaError",
    "ResourceInUseError",
    "TCPLoadBalancer",
    "TemporaryError",
    "UnknownProviderError",
    "Zone",
    "Zones",
    "build_provider",
]
