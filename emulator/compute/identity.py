"""The emulator's stand-in for Google's instance identity tokens and the certs that verify them.

At start the emulator makes an RSA key and a self-signed certificate for it, served as
Google serves its own at ``GET /oauth2/v1/certs`` (``{kid: PEM certificate}``, what
``google.oauth2.id_token.verify_token(certs_url=...)`` reads). ``mint`` writes what the
metadata server's ``instance/service-accounts/default/identity?audience=AUD&format=full``
answers: an RS256 JWT with ``kid`` in its header and the claims ``iss`` (the emulator's
base URL, never Google's), ``aud``, ``azp``, ``sub``, ``email``, ``email_verified``,
``iat``, ``exp`` (``iat`` + 1 hour) and ``google.compute_engine`` (``instance_creation_timestamp``,
``instance_id``, ``instance_name``, ``project_id``, ``project_number``, ``zone``).
"""

from __future__ import annotations

import datetime
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

LIFETIME = 3600  # the metadata server's tokens live one hour


def project_number(project: str) -> int:
    """A stable 12-digit project number for a project id (Compute has one per project)."""
    return 100_000_000_000 + int(hashlib.sha256(project.encode()).hexdigest(), 16) % 900_000_000_000


def default_service_account(project: str) -> str:
    return f"{project_number(project)}-compute@developer.gserviceaccount.com"


def account_id(email: str) -> str:
    """The 21-digit unique id Google gives a service account (``sub`` and ``azp``)."""
    return str(100_000_000_000_000_000_000 + int(hashlib.sha256(email.encode()).hexdigest(), 16) % 10**20)


@dataclass(frozen=True)
class InstanceIdentity:
    """What a token says about its instance."""

    project: str
    zone: str
    name: str
    instance_id: str
    created: int  # epoch seconds
    email: str


class Issuer:
    """One signing key for the emulator's lifetime, and its certificate."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        self._signer = crypt.RSASigner.from_string(pem, key_id=self.kid)  # type: ignore[no-untyped-call]
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "firecontrol-compute-emulator")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
                .sign(key, hashes.SHA256()))
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()

    def certs(self) -> dict[str, str]:
        """The body of ``GET /oauth2/v1/certs``."""
        return {self.kid: self.cert_pem}

    def mint(self, who: InstanceIdentity, audience: str, *, issued_at: float | None = None,
             lifetime: int = LIFETIME) -> str:
        iat = int(time.time() if issued_at is None else issued_at)
        sub = account_id(who.email)
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": audience, "azp": sub, "sub": sub,
            "email": who.email, "email_verified": True, "iat": iat, "exp": iat + int(lifetime),
            "google": {"compute_engine": {
                "instance_creation_timestamp": who.created, "instance_id": who.instance_id,
                "instance_name": who.name, "project_id": who.project,
                "project_number": project_number(who.project), "zone": who.zone,
            }},
        }
        token: bytes = jwt.encode(self._signer, claims)  # type: ignore[no-untyped-call]
        return token.decode()


def identity_of(project: str, zone: str, name: str, instance: dict[str, Any] | None) -> InstanceIdentity:
    """The identity of a stored instance, or of a made-up one (a stable id from its name)."""
    if instance is None:
        made_up = str(int(hashlib.sha256(f"{project}/{zone}/{name}".encode()).hexdigest(), 16) % 10**19)
        return InstanceIdentity(project, zone, name, made_up, int(time.time()), default_service_account(project))
    created = datetime.datetime.fromisoformat(str(instance.get("creationTimestamp"))).timestamp()
    accounts = instance.get("serviceAccounts") or []
    email = str(accounts[0].get("email") or "") if accounts else ""
    if email in ("", "default"):
        email = default_service_account(project)
    return InstanceIdentity(project, zone, name, str(instance.get("id", "")), int(created), email)
