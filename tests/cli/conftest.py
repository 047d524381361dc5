"""Run the CLI in-process against the session's Firestore emulator, one project per test."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.firestore import FirestoreEmulator
from functions.cli import main
from tests.cli.support import Cli, Result


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No project, namespace or timeout from the environment; no local stack state."""
    for name in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "FIRECONTROL_NAMESPACE", "FIRECONTROL_TIMEOUT",
                 "FIRECONTROL_RESYNC_URL", "FIRECONTROL_MAX_REPLICAS"):
        monkeypatch.delenv(name, raising=False)
    state = tmp_path / "no-stack" / "local.json"
    monkeypatch.setenv("FIRECONTROL_LOCAL_STATE", str(state))
    return state


@pytest.fixture
def run(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> Callable[..., Result]:
    """``run("get", "rc", stdin=...)``: the exit code and what was printed, nothing else."""

    def call(*args: str, stdin: str | None = None) -> Result:
        capsys.readouterr()
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return call


@pytest.fixture
def cli(
    run: Callable[..., Result], project: str, firestore_emulator: FirestoreEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    """The CLI with ``--project`` of this test and the emulator in FIRESTORE_EMULATOR_HOST."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)

    def call(*args: str, stdin: str | None = None) -> Result:
        return run(*args, "--project", project, stdin=stdin)

    return call

