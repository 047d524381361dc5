"""The emulator's identity issuer: tokens google-auth verifies against the published certs."""

from __future__ import annotations

import time
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import pytest
from google.oauth2 import id_token

from emulator.compute import ComputeEmulator
from emulator.compute.identity import InstanceIdentity, Issuer, project_number
from emulator.compute.model import Key
from tests.compute.agent_support import call
from tests.compute.support import PROJECT, ZONE, seed

AUDIENCE = "https://us-central1-p.cloudfunctions.net/pod_status"


def verify(emulator: ComputeEmulator, token: str, audience: str = AUDIENCE) -> Any:
    request = google.auth.transport.requests.Request()
    return id_token.verify_token(token, request, audience=audience, certs_url=f"{emulator.url}/oauth2/v1/certs")


def test_certs_are_published_as_google_publishes_them(emulator: ComputeEmulator) -> None:
    certs = call(emulator, "GET", "/oauth2/v1/certs")
    assert list(certs) == [emulator.issuer.kid]
    assert certs[emulator.issuer.kid].startswith("-----BEGIN CERTIFICATE-----")


def test_a_token_of_a_stored_instance_carries_its_claims(emulator: ComputeEmulator) -> None:
    seed(emulator, ["vm"])
    stored = emulator.state.resources[Key(PROJECT, f"zones/{ZONE}", "instances", "vm")]
    token = call(emulator, "POST", "/admin/identity",
                 {"project": PROJECT, "zone": ZONE, "instance": "vm", "audience": AUDIENCE})["token"]
    claims = verify(emulator, token)
    assert claims["iss"] == emulator.url and claims["aud"] == AUDIENCE
    assert claims["exp"] - claims["iat"] == 3600 and abs(claims["iat"] - time.time()) < 5
    assert claims["email"] == f"{project_number(PROJECT)}-compute@developer.gserviceaccount.com"
    assert claims["email_verified"] is True and claims["sub"] == claims["azp"] and claims["sub"].isdigit()
    engine = claims["google"]["compute_engine"]
    assert engine["instance_id"] == stored["id"] and engine["instance_name"] == "vm"
    assert (engine["project_id"], engine["zone"]) == (PROJECT, ZONE)
    assert engine["project_number"] == project_number(PROJECT)
    assert isinstance(engine["instance_creation_timestamp"], int)


def test_a_made_up_instance_an_other_audience_and_an_expired_token(emulator: ComputeEmulator) -> None:
    made_up = call(emulator, "POST", "/admin/identity",
                   {"project": PROJECT, "zone": ZONE, "instance": "nobody", "audience": "https://elsewhere"})["token"]
    assert verify(emulator, made_up, "https://elsewhere")["google"]["compute_engine"]["instance_name"] == "nobody"
    with pytest.raises(ValueError, match="audience"):
        verify(emulator, made_up)
    expired = call(emulator, "POST", "/admin/identity", {"project": PROJECT, "zone": ZONE, "instance": "vm",
                                                         "audience": AUDIENCE, "issuedAt": time.time() - 7200})["token"]
    with pytest.raises(ValueError, match="expired"):
        verify(emulator, expired)


def test_a_token_signed_by_another_key_fails(emulator: ComputeEmulator) -> None:
    other = Issuer(emulator.url)  # same issuer URL, another key (and kid)
    who = InstanceIdentity(PROJECT, ZONE, "vm", "123", int(time.time()), "sa@example.com")
    with pytest.raises((ValueError, google.auth.exceptions.GoogleAuthError)):
        verify(emulator, other.mint(who, AUDIENCE))
    forged = other.mint(who, AUDIENCE).split(".")
    genuine = emulator.issuer.mint(who, AUDIENCE).split(".")
    with pytest.raises(ValueError, match="signature"):  # the emulator's header, another key's signature
        verify(emulator, ".".join([genuine[0], forged[1], forged[2]]))


def test_bad_identity_requests_are_400(emulator: ComputeEmulator) -> None:
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as refused:
        call(emulator, "POST", "/admin/identity", {"project": PROJECT})
    assert refused.value.code == 400
