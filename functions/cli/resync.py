"""``resync``: run the periodic sweep now and show its summary.

Locally the URL is the stack's resync function; on Google Cloud it is ``--url``
(or ``FIRECONTROL_RESYNC_URL``), called with an ID token for that URL from the
application default credentials, as Cloud Scheduler calls it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from functions.cli.errors import CliError
from functions.cli.output import Output, dump


def id_token(url: str) -> str:
    """An ID token for ``url`` as audience, from application default credentials."""
    import google.auth.transport.requests
    from google.oauth2 import id_token as tokens

    try:
        token: str = tokens.fetch_id_token(google.auth.transport.requests.Request(), url)  # type: ignore[no-untyped-call]
    except Exception as error:  # google.auth raises several unrelated types here
        raise CliError(
            f"error: no ID token for {url}: {error}; run 'gcloud auth application-default login' "
            "or use a service account"
        ) from None
    return token


def run(url: str, token: str | None, timeout: float, fmt: str | None, out: Output) -> int:
    # By hand, a full sweep: the Scheduler's ticks skip reading pods when the cluster is idle.
    request = urllib.request.Request(url, data=json.dumps({"full": True}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise CliError(f"error: resync at {url} could not be called: {getattr(error, 'reason', error)}") from None
    try:
        summary: Any = json.loads(body or b"null")
    except ValueError:
        raise CliError(f"error: resync at {url} answered HTTP {status}: {body[:300]!r}") from None
    if fmt in ("json", "yaml"):
        out.raw(dump(summary, fmt))
    elif isinstance(summary, dict):
        show(summary, out)
    if status != 200:
        errors = summary.get("errors") if isinstance(summary, dict) else None
        raise CliError(f"error: resync answered HTTP {status}" + (f" with {len(errors)} error(s)" if errors else ""))
    return 0


def show(summary: dict[str, Any], out: Output) -> None:
    rows = []
    for key, value in summary.items():
        if key == "errors":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        rows.append([key, str(value)])
    out.table(["RESYNC", "VALUE"], rows)
    for error in summary.get("errors") or []:
        out.error(f"  {error}")
