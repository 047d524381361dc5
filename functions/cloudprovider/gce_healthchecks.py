"""Legacy HTTP health checks (``httpHealthChecks``), the only kind a target pool accepts.

google-cloud-compute 1.56 no longer ships ``HttpHealthChecksClient``, yet target
pools still take only legacy health checks. This is the missing client: four REST
calls over the same endpoint and credentials, raising the same
``google.api_core`` exceptions as the generated clients, so ``ComputeApi.call``
retries and translates them like any other call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc
from google.auth.transport.requests import AuthorizedSession
from google.cloud import compute_v1


@dataclass(frozen=True)
class HttpHealthCheck:
    name: str
    self_link: str
    port: int
    request_path: str
    description: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HttpHealthCheck:
        return cls(data["name"], data["selfLink"], int(data.get("port", 80)), data.get("requestPath", "/"),
                   str(data.get("description", "")))


class HttpHealthChecksClient:
    def __init__(self, credentials: Any, host: str) -> None:
        self._session: Any = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
        self._host = host if "://" in host else f"https://{host}"

    def _url(self, project: str, name: str | None = None) -> str:
        url = f"{self._host}/compute/v1/projects/{project}/global/httpHealthChecks"
        return f"{url}/{name}" if name else url

    def _send(self, method: str, url: str, timeout: float | None, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._session.request(method, url, json=body, timeout=timeout)
        if response.status_code >= 400:
            raise gexc.from_http_response(response)  # type: ignore[no-untyped-call]
        result: dict[str, Any] = response.json()
        return result

    @staticmethod
    def _operation(data: dict[str, Any]) -> compute_v1.Operation:
        op: compute_v1.Operation = compute_v1.Operation.from_json(json.dumps(data), ignore_unknown_fields=True)
        return op

    def get(self, *, project: str, http_health_check: str, retry: Any = None, timeout: float | None = None) -> HttpHealthCheck:
        return HttpHealthCheck.from_json(self._send("GET", self._url(project, http_health_check), timeout))

    def insert_unary(self, *, project: str, http_health_check_resource: dict[str, Any], retry: Any = None,
                     timeout: float | None = None) -> compute_v1.Operation:
        return self._operation(self._send("POST", self._url(project), timeout, http_health_check_resource))

    def patch_unary(self, *, project: str, http_health_check: str, http_health_check_resource: dict[str, Any],
                    retry: Any = None, timeout: float | None = None) -> compute_v1.Operation:
        return self._operation(self._send("PATCH", self._url(project, http_health_check), timeout, http_health_check_resource))

    def list_descriptions(self, *, project: str, retry: Any = None, timeout: float | None = None) -> list[tuple[str, str]]:
        """(name, description) of every health check, all pages."""
        found: list[tuple[str, str]] = []
        token = ""
        while True:
            url = self._url(project) + (f"?pageToken={token}" if token else "")
            page = self._send("GET", url, timeout)
            found += [(item["name"], item.get("description", "")) for item in page.get("items", [])]
            token = page.get("nextPageToken", "")
            if not token:
                return found

    def delete_unary(self, *, project: str, http_health_check: str, retry: Any = None,
                     timeout: float | None = None) -> compute_v1.Operation:
        return self._operation(self._send("DELETE", self._url(project, http_health_check), timeout))
