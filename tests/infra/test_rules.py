"""infra/firestore.rules loaded into a real Firestore emulator: a client without IAM
credentials can neither read nor write, signed in or not; IAM (the admin "owner"
token, what the functions and the CLI use) is unaffected."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from emulator.firestore import FirestoreEmulator, find_launcher, free_port
from tests.infra.support import INFRA

DOC = "namespaces/default/replicationControllers/web"
BODY = {"fields": {"spec": {"mapValue": {"fields": {"replicas": {"integerValue": "3"}}}}}}
# An unsigned Firebase ID token: the emulator accepts it as a signed-in web user.
_CLAIMS = {"sub": "mallory", "user_id": "mallory", "aud": "p", "iss": "https://securetoken.google.com/p",
           "iat": 0, "exp": 9_999_999_999, "auth_time": 0, "firebase": {"sign_in_provider": "password"}}
SIGNED_IN = ".".join(base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
                     for part in ({"alg": "none", "typ": "JWT"}, _CLAIMS)) + "."


def _request(host: str, project: str, method: str, token: str | None = None, database: str = "(default)") -> int:
    url = f"http://{host}/v1/projects/{project}/databases/{database}/documents/{DOC}"
    data = json.dumps(BODY).encode() if method == "PATCH" else None
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.fixture(scope="module")
def guarded() -> Iterator[str]:
    """A Firestore emulator of its own, started with infra/firestore.rules."""
    port = free_port()
    args = [str(find_launcher()), "start", "--host", "127.0.0.1", "--port", str(port),
            "--rules", str(INFRA / "firestore.rules")]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    host = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"the emulator exited with {process.returncode}"
            assert time.monotonic() < deadline, "the emulator did not start in 60 s"
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://{host}/", timeout=1).close()
                break
            time.sleep(0.2)
        yield host
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def test_without_the_rules_an_unauthenticated_client_gets_in(firestore_emulator: FirestoreEmulator, project: str) -> None:
    """The control: the same requests succeed on an emulator without our rules."""
    assert _request(firestore_emulator.host, project, "PATCH") == 200
    assert _request(firestore_emulator.host, project, "GET") == 200


@pytest.mark.parametrize("database", ["(default)", "blue-db"])
@pytest.mark.parametrize(("who", "token"), [("anonymous", None), ("signed-in web user", SIGNED_IN)])
def test_a_client_without_iam_can_neither_write_nor_read(guarded: str, who: str, token: str | None, database: str) -> None:
    """In the (default) database and in a named one (each installation's own)."""
    project = f"rules-{who.split()[0]}"
    assert _request(guarded, project, "PATCH", token, database) == 403, f"{who} could write"
    assert _request(guarded, project, "PATCH", "owner", database) == 200  # the document exists...
    assert _request(guarded, project, "GET", token, database) == 403, f"{who} could read"  # ...and still cannot be read
    assert _request(guarded, project, "GET", "owner", database) == 200
