"""The ``google.rpc.Status`` error body, so the real client raises what it raises against Google.

``{"error": {"code": 404, "message": ..., "status": "NOT_FOUND"}}`` is what
``google.api_core.exceptions.format_http_response_error`` parses: the HTTP status
picks the exception class (``NotFound``, ``AlreadyExists``, ``InvalidArgument``...).
"""

from __future__ import annotations

from typing import Any

# gRPC status name -> (HTTP status, gRPC code), as Google's REST gateway maps them.
STATUSES: dict[str, tuple[int, int]] = {
    "OK": (200, 0),
    "CANCELLED": (499, 1),
    "UNKNOWN": (500, 2),
    "INVALID_ARGUMENT": (400, 3),
    "DEADLINE_EXCEEDED": (504, 4),
    "NOT_FOUND": (404, 5),
    "ALREADY_EXISTS": (409, 6),
    "PERMISSION_DENIED": (403, 7),
    "RESOURCE_EXHAUSTED": (429, 8),
    "FAILED_PRECONDITION": (400, 9),
    "ABORTED": (409, 10),
    "UNIMPLEMENTED": (501, 12),
    "INTERNAL": (500, 13),
    "UNAVAILABLE": (503, 14),
    "UNAUTHENTICATED": (401, 16),
}
# What a job's ``status.code`` becomes when its HTTP target answers with this status.
HTTP_TO_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def status_for_http(code: int) -> str:
    """The gRPC status name of an HTTP answer: 2xx is OK, unknown 4xx FAILED_PRECONDITION, 5xx INTERNAL."""
    if 200 <= code < 300:
        return "OK"
    if code in HTTP_TO_STATUS:
        return HTTP_TO_STATUS[code]
    return "FAILED_PRECONDITION" if 400 <= code < 500 else "INTERNAL" if code >= 500 else "UNKNOWN"


class RpcError(Exception):
    """An error answer of the Scheduler API, as a ``google.rpc.Status``."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.http_code = STATUSES[status][0]

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.http_code, "message": self.message, "status": self.status}}


def not_found(what: str = "Job") -> RpcError:
    return RpcError("NOT_FOUND", f"{what} not found.")


def already_exists(name: str) -> RpcError:
    return RpcError("ALREADY_EXISTS", f"Job {name} already exists.")


def invalid(message: str) -> RpcError:
    return RpcError("INVALID_ARGUMENT", message)


def failed_precondition(message: str) -> RpcError:
    return RpcError("FAILED_PRECONDITION", message)
