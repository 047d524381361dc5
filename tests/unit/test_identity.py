"""The identity token verifier: signature, issuer, audience, lifetime, claims and the
certificate cache, with tokens signed here by a key of the test's own (google-auth's
real signer and verifier; the certificate fetch is the one thing injected)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from functions.config import Settings
from functions.identity import (
    GOOGLE_CERTS_URL,
    GOOGLE_ISSUERS,
    MIN_REFETCH_INTERVAL,
    CertCache,
    IdentityError,
    Instance,
    Verifier,
)

AUDIENCE = "https://us-central1-p.cloudfunctions.net/pod_status"
ISSUER = "http://127.0.0.1:9999"


def _key() -> tuple[bytes, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, public.decode()


def signer(pem: bytes, kid: str) -> crypt.RSASigner:
    return crypt.RSASigner.from_string(pem, key_id=kid)


PRIVATE, PUBLIC = _key()
OTHER_PRIVATE, OTHER_PUBLIC = _key()
SIGNER, OTHER_SIGNER = signer(PRIVATE, "k1"), signer(OTHER_PRIVATE, "k2")


def token(signer: crypt.RSASigner = SIGNER, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600, "sub": "1234",
        "google": {"compute_engine": {"project_id": "p", "zone": "us-central1-a", "instance_id": "42",
                                      "instance_name": "fc-1a2b-web"}},
    }
    claims.update(overrides)
    encoded: bytes = jwt.encode(signer, {k: v for k, v in claims.items() if v is not None})
    return encoded.decode()


class Certs:
    """Certificate sets served one after the other, with the max-age each is sent with."""

    def __init__(self, *sets: tuple[dict[str, str], float | None]) -> None:
        self.sets, self.urls = list(sets), list[str]()

    def __call__(self, url: str) -> tuple[dict[str, str], float | None]:
        self.urls.append(url)
        if len(self.sets) > 1:
            return self.sets.pop(0)
        return self.sets[0]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier(fetch: Certs, clock: Clock | None = None, issuers: tuple[str, ...] = (ISSUER,)) -> Verifier:
    return Verifier(issuers, AUDIENCE, CertCache("http://certs", fetch, clock or Clock()))


def test_a_good_token_names_its_instance() -> None:
    issued = int(time.time())
    instance = verifier(Certs(({"k1": PUBLIC}, None))).verify(token(iat=issued))
    assert instance == Instance(project_id="p", zone="us-central1-a", instance_id="42",
                                instance_name="fc-1a2b-web", iat=issued)


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"aud": "https://elsewhere"}, "wrong audience"),
    ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, "expired"),
    ({"iss": "https://accounts.google.com"}, "is not trusted"),
    ({"google": None}, "names no instance"),
    ({"google": {"compute_engine": {"zone": "us-central1-a"}}}, "claims are incomplete"),
    ({"exp": None}, "does not contain required claim exp"),
])
def test_a_token_that_is_not_right_is_refused_with_a_short_reason(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(IdentityError, match=reason):
        verifier(Certs(({"k1": PUBLIC}, None))).verify(token(**overrides))


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused() -> None:
    forged = token(signer(OTHER_PRIVATE, "k1"))
    with pytest.raises(IdentityError, match="Could not verify token signature"):
        verifier(Certs(({"k1": PUBLIC}, None))).verify(forged)


@pytest.mark.parametrize("raw", ["", "abc", "a.b.c", "x" * 10_000])
def test_garbage_is_refused_without_quoting_it(raw: str) -> None:
    with pytest.raises(IdentityError) as refused:
        verifier(Certs(({"k1": PUBLIC}, None))).verify(raw)
    assert len(str(refused.value)) <= 160 and "xxxxxxxx" not in str(refused.value)


def test_certificates_are_cached_for_their_max_age_then_fetched_again() -> None:
    certs, clock = Certs(({"k1": PUBLIC}, 600.0)), Clock()
    check = verifier(certs, clock)
    check.verify(token())
    clock.now += 599
    check.verify(token())
    assert len(certs.urls) == 1
    clock.now += 2
    check.verify(token())
    assert len(certs.urls) == 2


def test_an_unknown_key_id_fetches_once_and_then_not_again_for_a_while() -> None:
    certs, clock = Certs(({"k1": PUBLIC}, 3600.0), ({"k1": PUBLIC, "k2": OTHER_PUBLIC}, 3600.0)), Clock()
    check = verifier(certs, clock)
    check.verify(token())
    clock.now += MIN_REFETCH_INTERVAL
    assert check.verify(token(OTHER_SIGNER)).instance_id == "42"  # a rotated key: fetched, then trusted
    assert len(certs.urls) == 2
    for _ in range(5):  # a stream of tokens under made-up key ids costs no fetch storm
        with pytest.raises(IdentityError, match="key id made-up not found"):
            check.verify(token(signer(PRIVATE, "made-up")))
    assert len(certs.urls) == 2
    clock.now += MIN_REFETCH_INTERVAL
    with pytest.raises(IdentityError):
        check.verify(token(signer(PRIVATE, "made-up")))
    assert len(certs.urls) == 3


def test_certificates_that_cannot_be_fetched_refuse_the_token_and_keep_the_old_ones() -> None:
    def failing(url: str) -> tuple[dict[str, str], float | None]:
        raise OSError("connection refused")

    with pytest.raises(IdentityError, match="cannot fetch signing certificates: OSError"):
        Verifier((ISSUER,), AUDIENCE, CertCache("u", failing)).verify(token())
    calls: list[int] = []

    def flaky(url: str) -> tuple[dict[str, str], float | None]:
        calls.append(1)
        if len(calls) > 1:
            raise OSError("down")
        return {"k1": PUBLIC}, 1.0

    clock = Clock()
    check = Verifier((ISSUER,), AUDIENCE, CertCache("u", flaky, clock))
    check.verify(token())
    clock.now += 5
    assert check.verify(token()).instance_name == "fc-1a2b-web" and len(calls) == 2


def test_the_emulator_is_the_only_issuer_when_configured_and_never_otherwise() -> None:
    emulated = Verifier.for_settings(Settings(compute_api_endpoint=ISSUER + "/", pod_status_url=AUDIENCE))
    assert emulated.issuers == (ISSUER,) and emulated.certs.url == f"{ISSUER}/oauth2/v1/certs"
    google = Verifier.for_settings(Settings(pod_status_url=AUDIENCE))
    assert google.issuers == GOOGLE_ISSUERS and google.certs.url == GOOGLE_CERTS_URL
    assert ISSUER not in google.issuers and "https://accounts.google.com" not in emulated.issuers


def test_without_a_status_url_no_token_is_accepted() -> None:
    with pytest.raises(IdentityError, match="FIRECONTROL_POD_STATUS_URL"):
        Verifier.for_settings(Settings()).verify(token())
