"""What every handler needs, built once per function instance: settings, store, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from functions.config import Settings
from functions.store import Store

if TYPE_CHECKING:
    from functions.cloudprovider import CloudProvider


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    clock: Callable[[], datetime] = field(default=utcnow)
    cloud: CloudProvider | None = None

    @property
    def provider(self) -> CloudProvider:
        """The cloud provider, built on first use: only the functions that need it pay its import."""
        if self.cloud is None:
            from functions.cloudprovider import build_provider

            self.cloud = build_provider(self.settings.cloud_provider, self.settings)
        return self.cloud

    @classmethod
    def from_env(cls) -> Runtime:
        settings = Settings.from_env()
        return cls(settings=settings, store=Store.for_project(settings.project, settings.database))
