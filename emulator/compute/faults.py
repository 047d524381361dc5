"""Fault injection and request counting, the emulator's knobs for tests and benchmarks.

A rule matches requests by method and a regular expression on the path (searched,
not anchored) and fires by probability (``rate``, drawn from one seedable RNG) and at
most ``count`` times. It answers with an error ``status`` (before the request is
applied, or ``after`` it, like a lost response), or only adds ``latency`` seconds.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import DEFAULT_REASONS, ApiError

_MESSAGES = {
    403: "Quota 'IN_USE_ADDRESSES' exceeded. Limit: 8.0 in region us-central1.",
    429: "Rate Limit Exceeded",
    500: "Internal Error",
    503: "The service is currently unavailable.",
}


@dataclass
class FaultRule:
    path: str = ".*"
    method: str = "*"
    status: int | None = 503
    reason: str | None = None
    message: str | None = None
    latency: float = 0.0
    rate: float = 1.0
    count: int | None = None
    after: bool = False
    fired: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path)
        self.method = self.method.upper()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k not in ("fired", "_pattern")}
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

    def matches(self, method: str, path: str) -> bool:
        if self.count is not None and self.fired >= self.count:
            return False
        return self.method in ("*", method) and self._pattern.search(path) is not None

    def error(self) -> ApiError | None:
        if self.status is None:
            return None
        reason = self.reason or DEFAULT_REASONS.get(self.status, "error")
        return ApiError(self.status, self.message or _MESSAGES.get(self.status, "Injected fault"), reason)


@dataclass(frozen=True)
class Decision:
    latency: float = 0.0
    before: ApiError | None = None
    after: ApiError | None = None


class Faults:
    """The rules, the RNG they draw from, and the request counters."""

    def __init__(self, seed: int | None = 0) -> None:
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []
        self.rng = random.Random(seed)
        self.requests: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        # Requests the emulator itself refused, by "{method} {reason}" (a quota, a conflict).
        self.refused: Counter[str] = Counter()

    def seed(self, seed: int | None) -> None:
        with self._lock:
            self.rng = random.Random(seed)

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self.rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.injected.clear()
            self.refused.clear()

    def count_refusal(self, api_method: str, reason: str) -> None:
        with self._lock:
            self.refused[f"{api_method} {reason}"] += 1

    def decide(self, method: str, path: str, api_method: str) -> Decision:
        """Count the request and pick what, if anything, goes wrong with it."""
        with self._lock:
            self.requests[api_method] += 1
            latency = 0.0
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                if rule.rate < 1.0 and self.rng.random() >= rule.rate:
                    continue
                rule.fired += 1
                latency += rule.latency
                error = rule.error()
                if error is not None:
                    self.injected[api_method] += 1
                    if rule.after:
                        return Decision(latency, after=error)
                    return Decision(latency, before=error)
            return Decision(latency)
