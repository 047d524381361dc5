"""kubectl's way in: kubeconfigs for an installation, and the exec credential plugin.

On Google Cloud ``kube_api`` is a Cloud Run service whose IAM check runs before our code:
it wants a Google-signed **ID token** (an OAuth access token from ``gcloud auth
print-access-token`` is refused), whose audience is the service's URL, or, for a person's
account, the one ``gcloud auth print-identity-token`` makes (infra/README.md, "kubectl").
kubectl gets it from an exec credential plugin, ``python main.py credential --audience
URL``, which prints an ``ExecCredential``; kubectl runs it when it has no valid token.

The documents are built by pure functions (tested against the real kubectl); only
``identity_token`` does I/O: google-auth first (a service account key, impersonation, or
the metadata server), then the gcloud CLI (a person's login). kubectl runs the plugin
anew in every process, and gcloud takes seconds, so a token is kept (mode 0600, in the
user's cache folder) until five minutes before it expires.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

EXEC_API = "client.authentication.k8s.io/v1"
LOCAL_CONTEXT = "firecontrol-local"
# A token whose lifetime cannot be read is trusted this long (Google's last an hour).
FALLBACK_LIFETIME = timedelta(minutes=50)
# A kept token is used while it has at least this long left.
KEEP_MARGIN = timedelta(minutes=5)
NO_CREDENTIALS = (
    "no Google credentials to call kube_api with: run `gcloud auth login` as a user granted "
    "roles/run.invoker on the kube-api function (infra/deploy.sh --kube-api-invokers, "
    "Terraform's kube_api_invokers), or set GOOGLE_APPLICATION_CREDENTIALS to a service "
    "account key file"
)


class CredentialError(Exception):
    """No identity token could be had; the message says what to do."""


@dataclass(frozen=True)
class Token:
    value: str
    expires: datetime


def _config(name: str, server: str, user: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server.rstrip("/")}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }


def local_kubeconfig(server: str, name: str = LOCAL_CONTEXT) -> dict[str, Any]:
    """The local stack's: kube_api's URL, no auth (the local functions have none)."""
    return _config(name, server, {})


def exec_kubeconfig(server: str, name: str, python: str, main_py: str) -> dict[str, Any]:
    """A deployed installation's: kubectl asks ``main.py credential`` for an ID token whose
    audience is the server's URL."""
    audience = server.rstrip("/")
    return _config(name, audience, {"exec": {
        "apiVersion": EXEC_API,
        "command": python,
        "args": [main_py, "credential", "--audience", audience],
        "interactiveMode": "Never",
        "provideClusterInfo": False,
    }})


def render(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def exec_credential(token: Token) -> dict[str, Any]:
    """What the plugin prints: kubectl sends ``status.token`` as the bearer token and asks
    again after ``expirationTimestamp``."""
    return {
        "apiVersion": EXEC_API,
        "kind": "ExecCredential",
        "status": {"token": token.value, "expirationTimestamp": token.expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }


def token_expiry(token: str, now: datetime) -> datetime:
    """A JWT's ``exp`` (not verified: Cloud Run verifies it), or a conservative guess."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (IndexError, ValueError, KeyError, TypeError):
        return now + FALLBACK_LIFETIME


def identity_token(audience: str, now: datetime) -> Token:
    """A Google ID token for ``audience``: google-auth (GOOGLE_APPLICATION_CREDENTIALS as a
    service account or impersonation file, or the metadata server on Google Cloud), else
    the gcloud CLI's active account."""
    value = _from_google_auth(audience) or _from_gcloud(audience)
    return Token(value, token_expiry(value, now))


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "firecontrol"


def kept_token(audience: str, now: datetime, folder: Path) -> Token:
    """The token kept for ``audience`` if it has ``KEEP_MARGIN`` left, else a new one, kept."""
    path = folder / f"token-{hashlib.sha256(audience.encode()).hexdigest()[:16]}.json"
    try:
        kept = json.loads(path.read_text())
        token = Token(str(kept["token"]), datetime.fromisoformat(kept["expires"]))
        if kept.get("audience") == audience and token.expires - KEEP_MARGIN > now:
            return token
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none kept, or unreadable: make one
    token = identity_token(audience, now)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"audience": audience, "token": token.value, "expires": token.expires.isoformat()}, out)
        path.with_suffix(".tmp").replace(path)
    except OSError:
        pass  # a read-only home: every kubectl call asks again, slower but correct
    return token


def _from_google_auth(audience: str) -> str | None:
    import google.auth.exceptions
    import google.auth.transport.requests
    import google.oauth2.id_token

    try:
        token = google.oauth2.id_token.fetch_id_token(  # type: ignore[no-untyped-call]
            google.auth.transport.requests.Request(), audience)
    except google.auth.exceptions.DefaultCredentialsError:
        return None  # no service account here: a person's gcloud login, perhaps
    except google.auth.exceptions.GoogleAuthError as error:
        raise CredentialError(f"google-auth could not make an identity token for {audience}: {error}") from error
    return str(token) if token else None


def _from_gcloud(audience: str) -> str:
    """``--audiences`` works for a service account (or impersonation); a person's account
    is refused it ("Invalid account type for `--audiences`"), and Cloud Run accepts that
    account's plain identity token instead (its audience is the gcloud CLI's client id)."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise CredentialError(NO_CREDENTIALS)
    result = _gcloud_token(gcloud, ["--audiences", audience])
    if result.returncode != 0 and "--audiences" in result.stderr:
        result = _gcloud_token(gcloud, [])
    token = result.stdout.strip()
    if result.returncode == 0 and token:
        return token
    first = next((line for line in result.stderr.splitlines() if line.strip()), "no token printed")
    raise CredentialError(f"{NO_CREDENTIALS} (gcloud: {first.strip()})")


def _gcloud_token(gcloud: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([gcloud, "auth", "print-identity-token", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def default_main_py() -> str:
    """This checkout's main.py, as kubectl will run it from any directory."""
    return str(Path(__file__).resolve().parent.parent / "main.py")
