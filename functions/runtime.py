"""What every handler needs, built once per function instance: settings, store, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from functions.config import Settings
from functions.store import Store


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def from_env(cls) -> Runtime:
        settings = Settings.from_env()
        return cls(settings=settings, store=Store.for_project(settings.project))
