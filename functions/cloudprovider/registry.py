"""``build_provider(name, settings)``: the one way controllers get a cloud provider.

The gce module (and its 1.6 s import of ``compute_v1``) is imported only here, when a
provider is actually built.
"""

from __future__ import annotations

from collections.abc import Callable

from .config import GceConfig, ProviderSettings
from .errors import UnknownProviderError
from .interface import CloudProvider


def _gce(settings: ProviderSettings) -> CloudProvider:
    from .gce import GceCloud

    return GceCloud(GceConfig.from_settings(settings))


PROVIDERS: dict[str, Callable[[ProviderSettings], CloudProvider]] = {"gce": _gce}


def build_provider(name: str, settings: ProviderSettings) -> CloudProvider:
    factory = PROVIDERS.get(name)
    if factory is None:
        raise UnknownProviderError(
            f"unknown cloud provider {name!r} (CLOUD_PROVIDER); supported: {', '.join(sorted(PROVIDERS))}"
        )
    return factory(settings)
