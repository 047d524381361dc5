"""The Compute Engine error body, so the real client raises what it raises against Google.

``{"error": {"code": 404, "message": ..., "errors": [{"reason": "notFound", ...}]}}``
is what ``google.api_core.exceptions.from_http_response`` parses into ``NotFound``
with ``.errors`` and ``.reason``.
"""

from __future__ import annotations

from typing import Any

# The reason Compute Engine puts in ``errors[0].reason`` for each status, and the
# code an operation carries in ``error.errors[0].code`` when it fails late.
DEFAULT_REASONS = {
    400: "invalid",
    403: "quotaExceeded",
    404: "notFound",
    409: "alreadyExists",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "backendError",
    502: "backendError",
    503: "backendError",
    504: "backendError",
}
OPERATION_CODES = {
    "invalid": "INVALID_FIELD_VALUE",
    "notFound": "RESOURCE_NOT_FOUND",
    "alreadyExists": "RESOURCE_ALREADY_EXISTS",
    "resourceInUseByAnotherResource": "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE",
    "quotaExceeded": "QUOTA_EXCEEDED",
    "conditionNotMet": "CONDITION_NOT_MET",
}


class ApiError(Exception):
    """An HTTP error answer with the Compute Engine body."""

    def __init__(self, code: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or DEFAULT_REASONS.get(code, "error")

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
            }
        }

    def operation_error(self) -> dict[str, Any]:
        """The ``error`` field of an operation that failed with this error."""
        code = OPERATION_CODES.get(self.reason, self.reason.upper())
        return {"errors": [{"code": code, "message": self.message}]}


def not_found(link: str) -> ApiError:
    return ApiError(404, f"The resource '{link}' was not found")


def already_exists(link: str) -> ApiError:
    return ApiError(409, f"The resource '{link}' already exists")


def invalid(message: str) -> ApiError:
    return ApiError(400, message)


def in_use(link: str, user: str) -> ApiError:
    return ApiError(
        400,
        f"The {link.split('/')[-2][:-1]} resource '{link}' is already being used by '{user}'",
        reason="resourceInUseByAnotherResource",
    )
