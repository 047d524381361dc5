"""kubectl's kubeconfigs and exec credential plugin (functions/kubeconfig.py, ``main.py
kubeconfig`` / ``credential``): their shapes, and the real kubectl reading them, running
the plugin and sending its token."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from functions.kubeconfig import (
    EXEC_API,
    FALLBACK_LIFETIME,
    Token,
    exec_credential,
    exec_kubeconfig,
    local_kubeconfig,
    render,
    token_expiry,
)
from tests.helpers import required_tool

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.usefixtures("kubectl_installed")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def _kubectl(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert KUBECTL
    return subprocess.run([KUBECTL, "--kubeconfig", str(config), *args], capture_output=True, text=True, timeout=60,
                          check=False, env=env)


def test_the_local_kubeconfig_points_at_kube_api_with_no_auth() -> None:
    config = local_kubeconfig("http://127.0.0.1:8123/")
    assert config["clusters"] == [{"name": "firecontrol-local", "cluster": {"server": "http://127.0.0.1:8123"}}]
    assert config["users"] == [{"name": "firecontrol-local", "user": {}}]
    assert config["contexts"] == [{"name": "firecontrol-local",
                                   "context": {"cluster": "firecontrol-local", "user": "firecontrol-local"}}]
    assert config["current-context"] == "firecontrol-local"
    assert yaml.safe_load(render(config)) == config


def test_the_deployed_kubeconfig_runs_main_py_credential_for_the_server_s_url() -> None:
    config = exec_kubeconfig("https://blue-kube-api-42.europe-west1.run.app/", "blue", "/venv/bin/python", "/src/main.py")
    assert config["clusters"][0]["cluster"] == {"server": "https://blue-kube-api-42.europe-west1.run.app"}
    assert config["users"][0] == {"name": "blue", "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": "/venv/bin/python",
        "args": ["/src/main.py", "credential", "--audience", "https://blue-kube-api-42.europe-west1.run.app"],
        "interactiveMode": "Never", "provideClusterInfo": False}}}
    assert config["current-context"] == "blue"


def test_an_exec_credential_carries_the_token_and_its_expiry() -> None:
    token = _jwt({"aud": "https://x.run.app", "exp": 1772370000})
    assert token_expiry(token, NOW) == datetime.fromtimestamp(1772370000, UTC)
    assert exec_credential(Token(token, token_expiry(token, NOW))) == {
        "apiVersion": EXEC_API, "kind": "ExecCredential",
        "status": {"token": token, "expirationTimestamp": "2026-03-01T13:00:00Z"}}
    # A token whose claims cannot be read is trusted less than an hour, never forever.
    assert token_expiry("not-a-jwt", NOW) == NOW + FALLBACK_LIFETIME < NOW + timedelta(hours=1)


@needs_kubectl
def test_kubectl_reads_both_kubeconfigs(tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.write_text(render(local_kubeconfig("http://127.0.0.1:8123/")))
    view = json.loads(_kubectl(local, "config", "view", "-o", "json").stdout)
    assert view["clusters"][0]["cluster"]["server"] == "http://127.0.0.1:8123"
    assert view["current-context"] == "firecontrol-local"
    contexts = _kubectl(local, "config", "get-contexts", "-o", "name")
    assert contexts.returncode == 0 and contexts.stdout.split() == ["firecontrol-local"], contexts.stderr
    deployed = tmp_path / "deployed"
    made = subprocess.run([sys.executable, "main.py", "kubeconfig", "--server", "https://blue-kube-api-42.r.run.app",
                           "--name", "blue"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    deployed.write_text(made.stdout)
    view = json.loads(_kubectl(deployed, "config", "view", "-o", "json").stdout)
    assert view["users"][0]["user"]["exec"]["args"] == [str(ROOT / "main.py"), "credential", "--audience",
                                                         "https://blue-kube-api-42.r.run.app"]
    assert view["users"][0]["user"]["exec"]["command"] == sys.executable
    assert _kubectl(deployed, "config", "get-contexts", "-o", "name").stdout.split() == ["blue"]


class _Recorder(BaseHTTPRequestHandler):
    """A server that answers /version and keeps the Authorization headers it was sent."""

    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        body = json.dumps({"major": "1", "minor": "32", "gitVersion": "v1.32.0"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[tuple[str, Path, list[str | None]]]:
    """An HTTPS server (kubectl sends no credentials over plain HTTP), its CA certificate."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   capture_output=True, check=True, timeout=60)
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert, _Recorder.seen
    finally:
        server.shutdown()


def _gcloud_env(tmp_path: Path, script: str) -> dict[str, str]:
    """An environment with a stand-in ``gcloud`` first on PATH, no service account key and
    no metadata server (so google-auth finds no credentials, as on a laptop)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gcloud").write_text("#!/bin/sh\n" + script)
    (bin_dir / "gcloud").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "GOOGLE_APPLICATION_CREDENTIALS"}
    return {**env, "PATH": f"{bin_dir}:{env['PATH']}", "HOME": str(tmp_path), "KUBECACHEDIR": str(tmp_path / "cache"),
            "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9", "NO_GCE_CHECK": "True"}


@needs_kubectl
def test_kubectl_runs_the_plugin_and_sends_a_person_s_identity_token(
        tmp_path: Path, recorder: tuple[str, Path, list[str | None]]) -> None:
    """A person's gcloud login: ``--audiences`` is refused (gcloud's own words), the plain
    identity token is what kubectl sends as its bearer token."""
    required_tool("openssl")
    url, ca, seen = recorder
    token = _jwt({"aud": "32555940559.apps.googleusercontent.com", "exp": 4102444800, "email": "me@example.com"})
    env = _gcloud_env(tmp_path, f"""case "$*" in
  *--audiences*) echo "ERROR: (gcloud.auth.print-identity-token) Invalid account type for \\`--audiences\\`. Requires valid service account." >&2; exit 1 ;;
  "auth print-identity-token") echo {token} ;;
  *) exit 3 ;;
esac
""")
    config = tmp_path / "config"
    made = subprocess.run([sys.executable, "main.py", "kubeconfig", "--server", url], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    made_config = yaml.safe_load(made.stdout)
    made_config["clusters"][0]["cluster"]["certificate-authority"] = str(ca)  # Cloud Run's is a public CA's
    config.write_text(yaml.safe_dump(made_config))
    result = _kubectl(config, "get", "--raw", "/version", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["gitVersion"] == "v1.32.0"
    assert seen and set(seen) == {f"Bearer {token}"}


def test_a_service_account_s_token_is_made_for_the_server_s_url(tmp_path: Path) -> None:
    url = "https://blue-kube-api-42.europe-west1.run.app"
    env = _gcloud_env(tmp_path, f"""[ "$*" = "auth print-identity-token --audiences {url}" ] || exit 3
echo {_jwt({"aud": url, "exp": 4102444800})}
""")
    credential = subprocess.run([sys.executable, "main.py", "credential", "--audience", url], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60, check=False)
    assert credential.returncode == 0, credential.stderr
    printed = json.loads(credential.stdout)
    assert printed["kind"] == "ExecCredential" and printed["apiVersion"] == EXEC_API
    assert printed["status"]["expirationTimestamp"] == "2100-01-01T00:00:00Z"
    assert json.loads(base64.urlsafe_b64decode(printed["status"]["token"].split(".")[1] + "=="))["aud"] == url


def test_no_credentials_is_a_clear_error(tmp_path: Path) -> None:
    env = _gcloud_env(tmp_path, """echo "ERROR: (gcloud.auth.print-identity-token) You do not currently have an active account selected." >&2
exit 1
""")
    result = subprocess.run([sys.executable, "main.py", "credential", "--audience", "https://x.run.app"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert "no Google credentials to call kube_api" in result.stderr
    assert "gcloud auth login" in result.stderr and "roles/run.invoker" in result.stderr
    assert "You do not currently have an active account selected" in result.stderr


def test_a_token_is_kept_until_five_minutes_before_it_expires(tmp_path: Path) -> None:
    """kubectl runs the plugin in every process; gcloud is asked again only when the kept
    token is near its end."""
    url = "https://blue-kube-api-42.europe-west1.run.app"
    soon = int((datetime.now(UTC) + timedelta(minutes=4)).timestamp())
    later = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    env = _gcloud_env(tmp_path, f"""echo call >> "{tmp_path}/calls"
[ -f "{tmp_path}/soon" ] && {{ rm "{tmp_path}/soon"; echo {_jwt({"aud": url, "exp": soon})}; exit 0; }}
echo {_jwt({"aud": url, "exp": later})}
""")
    (tmp_path / "soon").touch()

    def credential() -> str:
        result = subprocess.run([sys.executable, "main.py", "credential", "--audience", url], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60, check=True)
        return str(json.loads(result.stdout)["status"]["token"])

    first = credential()  # expires in 4 minutes: kept, but not used again
    second = credential()
    third = credential()
    assert first != second == third
    assert (tmp_path / "calls").read_text().count("call") == 2
    kept = list((tmp_path / ".cache" / "firecontrol").glob("token-*.json"))
    assert len(kept) == 1 and kept[0].stat().st_mode & 0o077 == 0, "a token is readable by its owner only"
