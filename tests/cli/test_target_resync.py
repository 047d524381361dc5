"""Which Firestore the CLI uses, its help and exit codes, and resync over HTTP."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from emulator.firestore import FirestoreEmulator
from functions.store import Store
from tests.cli.support import FIXTURES, Cli, Result, names

SUMMARY = {"controllers": 2, "created": 1, "deleted": 0, "invalid": 0, "orphansDeleted": 0,
           "services": 1, "errors": [], "firestore": {"reads": 5, "writes": 2}, "seconds": 0.05}

Run = Callable[..., Result]


def test_no_stack_and_no_project(run: Run) -> None:
    result = run("get", "rc")
    assert result.code == 1
    assert "no local stack" in result.err and "./dev up" in result.err and "--project" in result.err


def test_local_stack_state_is_used_without_project(
    run: Run, isolated_env: Path, firestore_emulator: FirestoreEmulator, project: str, store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")  # replaced by the state file's
    isolated_env.parent.mkdir(parents=True)
    isolated_env.write_text(json.dumps({"project": project, "firestore": firestore_emulator.host, "functions": {}}))
    assert run("apply", "-f", str(FIXTURES / "app.yaml")).code == 0
    assert names(store, "replicationControllers") == ["web"]


def test_local_stack_not_running(run: Run, isolated_env: Path) -> None:
    isolated_env.parent.mkdir(parents=True)
    isolated_env.write_text(json.dumps({"project": "p", "firestore": f"127.0.0.1:{_closed_port()}"}))
    result = run("get", "pods")
    assert result.code == 1 and "is not running" in result.err and "./dev up" in result.err
    isolated_env.write_text("{not json")
    assert "is not a local stack's state file" in run("get", "pods").err


def test_emulator_host_that_does_not_answer(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{_closed_port()}")
    result = run("get", "rc", "--project", "p")
    assert result.code == 1 and "nothing answers there" in result.err


def test_help_and_usage_exit_codes(run: Run) -> None:
    helped = run("--help")
    assert helped.code == 0 and "exit codes:" in helped.out and "FIRECONTROL_NAMESPACE" in helped.out
    assert run("frobnicate").code == 2
    assert run("apply").code == 2  # -f is required
    assert run("get", "rc", "-o", "toml").code == 2


def test_project_from_environment(cli: Cli, run: Run, project: str, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", project)
    monkeypatch.setenv("FIRECONTROL_NAMESPACE", "team")
    assert run("apply", "-f", str(FIXTURES / "app" / "api-rc.yaml")).code == 0
    assert names(store, "replicationControllers", "team") == ["api"]


def test_named_database_from_state_and_environment(
    run: Run, isolated_env: Path, firestore_emulator: FirestoreEmulator, project: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An installation's own database: the local stack's state names it, and with
    --project FIRECONTROL_DATABASE does; nothing lands in (default)."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    isolated_env.parent.mkdir(parents=True)
    isolated_env.write_text(json.dumps({"project": project, "firestore": firestore_emulator.host,
                                        "database": "teal-db", "functions": {}}))
    assert run("apply", "-f", str(FIXTURES / "app.yaml")).code == 0
    assert names(Store.for_project(project, "teal-db"), "replicationControllers") == ["web"]
    assert names(Store.for_project(project), "replicationControllers") == []
    monkeypatch.setenv("FIRECONTROL_DATABASE", "teal-db")
    listed = run("get", "rc", "--project", project)
    assert listed.code == 0 and "web" in listed.out
    monkeypatch.setenv("FIRECONTROL_DATABASE", "other-db")
    assert "web" not in run("get", "rc", "--project", project).out


class _Resync(BaseHTTPRequestHandler):
    reply: ClassVar[tuple[int, Any]] = (200, SUMMARY)
    calls: ClassVar[list[tuple[str, str | None, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        type(self).calls.append((self.path, self.headers.get("Authorization"), body))
        code, body = type(self).reply
        payload = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def resync_server() -> Iterator[str]:
    """A stand-in for the resync function."""
    _Resync.calls, _Resync.reply = [], (200, SUMMARY)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Resync)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_resync_on_the_local_stack(
    run: Run, isolated_env: Path, firestore_emulator: FirestoreEmulator, resync_server: str,
) -> None:
    isolated_env.parent.mkdir(parents=True)
    isolated_env.write_text(json.dumps(
        {"project": "local", "firestore": firestore_emulator.host, "functions": {"resync": resync_server}}))
    result = run("resync")
    assert result.code == 0, result.err
    table = [line.split() for line in result.out.splitlines()]
    assert ["controllers", "2"] in table and ["services", "1"] in table
    assert ["firestore", "reads=5,", "writes=2"] in table
    assert _Resync.calls == [("/", None, {"full": True})]  # by hand: a full sweep

    _Resync.reply = (500, {**SUMMARY, "errors": ["ReplicationController default/web: boom"]})
    failed = run("resync", "-o", "json")
    assert failed.code == 1
    assert json.loads(failed.out)["errors"] == ["ReplicationController default/web: boom"]
    assert "resync answered HTTP 500 with 1 error(s)" in failed.err


def test_resync_with_url_and_project(cli: Cli, resync_server: str) -> None:
    """On the emulator no ID token is fetched; without --url a project has no resync to call."""
    result = cli("resync", "--url", resync_server + "resync")
    assert result.code == 0 and _Resync.calls == [("/resync", None, {"full": True})]
    missing = cli("resync")
    assert missing.code == 1 and "needs --url" in missing.err
    down = cli("resync", "--url", f"http://127.0.0.1:{_closed_port()}/")
    assert down.code == 1 and "could not be called" in down.err


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
