"""Who is calling: a VM's instance identity token, verified (docs/agent-protocol.md §4.1).

A pod's agent holds no credentials; it proves which VM it runs on with the metadata
server's identity token (``format=full``), a JWT that Google signs and that names the
instance in its ``google.compute_engine`` claims. Here the token's signature, issuer,
audience and lifetime are checked, with the signing certificates cached per function
instance as their ``Cache-Control`` allows. Pointed at the Compute emulator
(``COMPUTE_API_ENDPOINT``), the emulator is the only issuer trusted: Google's tokens are
not, and the emulator's are never trusted in production.

Every failure is one ``IdentityError`` with a short reason, never google-auth's own
exceptions: the handler answers 403 and logs the reason.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.auth import exceptions as auth_exceptions
from google.auth import jwt

from functions.config import Settings

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
CLOCK_SKEW_SECONDS = 10
DEFAULT_MAX_AGE = 300.0  # certificates without a Cache-Control max-age are kept this long
MIN_REFETCH_INTERVAL = 10.0  # an unknown key id refetches at most this often (no fetch storms)
FETCH_TIMEOUT = 5.0
MAX_TOKEN_BYTES = 8192
_MAX_AGE = re.compile(r"max-age=(\d+)")


class IdentityError(Exception):
    """The token is refused; the message is a short reason, safe to log and to answer."""


@dataclass(frozen=True)
class Instance:
    """The VM a verified token names, and when the token was issued."""

    project_id: str
    zone: str
    instance_id: str
    instance_name: str
    iat: int


Fetch = Callable[[str], tuple[dict[str, str], float | None]]


def fetch_certs(url: str) -> tuple[dict[str, str], float | None]:
    """The certificates (key id -> PEM) at ``url`` and their max-age in seconds, if given."""
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as reply:
        max_age = _MAX_AGE.search(reply.headers.get("Cache-Control") or "")
        data = json.loads(reply.read(1_000_000))
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError("the certificates are not a map of key ids to PEM certificates")
    return data, float(max_age[1]) if max_age else None


class CertCache:
    """One issuer's certificates, fetched when stale or when a token names an unknown key."""

    def __init__(self, url: str, fetch: Fetch = fetch_certs, clock: Callable[[], float] = time.monotonic) -> None:
        self.url, self._fetch, self._clock = url, fetch, clock
        self._certs: dict[str, str] = {}
        self._expires = 0.0
        self._fetched = -MIN_REFETCH_INTERVAL
        self._lock = threading.Lock()
        self.fetches = 0

    def certs(self, kid: str | None) -> Mapping[str, str]:
        with self._lock:
            now = self._clock()
            stale = now >= self._expires
            unknown = kid is not None and kid not in self._certs and now - self._fetched >= MIN_REFETCH_INTERVAL
            if stale or unknown:
                self._refresh(now)
            return dict(self._certs)

    def _refresh(self, now: float) -> None:
        self._fetched = now
        self.fetches += 1
        try:
            certs, max_age = self._fetch(self.url)
        except Exception as error:  # any failure to fetch is one reason to refuse
            if not self._certs:
                raise IdentityError(f"cannot fetch signing certificates: {type(error).__name__}") from None
            return  # keep the old ones; try again on the next token
        self._certs = certs
        self._expires = now + (DEFAULT_MAX_AGE if max_age is None else max_age)


_caches: dict[str, CertCache] = {}
_caches_lock = threading.Lock()


def cert_cache(url: str) -> CertCache:
    """The function instance's cache for one certificates URL (shared by every request)."""
    with _caches_lock:
        return _caches.setdefault(url, CertCache(url))


@dataclass(frozen=True)
class Verifier:
    """Checks tokens for one audience against one issuer's certificates."""

    issuers: tuple[str, ...]
    audience: str | None
    certs: CertCache

    @classmethod
    def for_settings(cls, settings: Settings) -> Verifier:
        endpoint = settings.compute_api_endpoint
        if endpoint:
            issuer = endpoint.rstrip("/")
            return cls((issuer,), settings.pod_status_url, cert_cache(f"{issuer}/oauth2/v1/certs"))
        return cls(GOOGLE_ISSUERS, settings.pod_status_url, cert_cache(GOOGLE_CERTS_URL))

    def verify(self, token: str) -> Instance:
        if self.audience is None:
            raise IdentityError("this installation takes no reports (FIRECONTROL_POD_STATUS_URL is not set)")
        if not token or len(token) > MAX_TOKEN_BYTES:
            raise IdentityError("no token, or a token too long")
        try:
            header = jwt.decode_header(token)  # type: ignore[no-untyped-call]
            kid = header.get("kid") if isinstance(header, Mapping) else None
            claims = jwt.decode(  # type: ignore[no-untyped-call]
                token, certs=self.certs.certs(kid if isinstance(kid, str) else None), audience=self.audience,
                clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
            )
        except IdentityError:
            raise
        except (auth_exceptions.GoogleAuthError, ValueError, TypeError, KeyError) as error:
            raise IdentityError(_short(error)) from None
        if claims.get("iss") not in self.issuers:
            raise IdentityError(f"issuer {str(claims.get('iss'))[:100]!r} is not trusted")
        return _instance(claims)


def _instance(claims: Mapping[str, Any]) -> Instance:
    google = claims.get("google")
    engine = google.get("compute_engine") if isinstance(google, Mapping) else None
    if not isinstance(engine, Mapping):
        raise IdentityError("the token names no instance (ask for format=full)")
    values = {key: engine.get(key) for key in ("project_id", "zone", "instance_id", "instance_name")}
    if not all(isinstance(v, str) and v for v in values.values()):
        raise IdentityError("the token's compute_engine claims are incomplete")
    iat = claims.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise IdentityError("the token has no integer iat")
    return Instance(iat=iat, **{k: str(v) for k, v in values.items()})


def _short(error: Exception) -> str:
    """google-auth's message without the token or certificate it may quote."""
    text = str(error).split("\n", 1)[0]
    if "Wrong number of segments" in text or "Can't parse segment" in text:
        return "malformed token: not a JWT"
    return text if len(text) <= 160 else text[:157] + "..."
