"""Start and stop the real Firestore emulator from the Google Cloud CLI.

The launcher is called directly rather than through ``gcloud emulators firestore
start``: it starts faster, and it takes ``--functions_emulator HOST:PORT``, which
makes the emulator deliver Eventarc-format triggers (base64 protobuf bodies, POSTed
to ``/functions/projects/{p}/triggers/{id}``; never retried).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from emulator.process import EmulatorError, ensure_free, free_port, start_on_a_free_port, stop_group

__all__ = ["EmulatorError", "FirestoreEmulator", "find_launcher", "free_port"]

INSTALL_HELP = (
    "The Firestore emulator needs the Google Cloud CLI with its emulator component and "
    "Java 11+: see https://cloud.google.com/sdk/docs/install, then run "
    "'gcloud components install cloud-firestore-emulator' (or, with apt: "
    "'apt-get install google-cloud-cli-firestore-emulator default-jre-headless')."
)


def find_launcher() -> Path:
    """The ``cloud_firestore_emulator`` script of the installed Google Cloud CLI."""
    if os.environ.get("FIRESTORE_EMULATOR_LAUNCHER"):
        return Path(os.environ["FIRESTORE_EMULATOR_LAUNCHER"])
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise EmulatorError(f"gcloud is not on PATH. {INSTALL_HELP}")
    if shutil.which("java") is None:
        raise EmulatorError(f"java is not on PATH. {INSTALL_HELP}")
    roots = [Path(gcloud).resolve().parent.parent, Path("/usr/lib/google-cloud-sdk"), Path("/usr/share/google-cloud-sdk")]
    for root in roots:
        launcher = root / "platform" / "cloud-firestore-emulator" / "cloud_firestore_emulator"
        if launcher.exists():
            return launcher
    raise EmulatorError(f"the Firestore emulator component is not installed. {INSTALL_HELP}")


@dataclass
class FirestoreEmulator:
    """One emulator process; ``host`` is what FIRESTORE_EMULATOR_HOST should be."""

    port: int = 0
    functions_emulator: str | None = None
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> FirestoreEmulator:
        launcher = find_launcher()
        self.port = start_on_a_free_port(self.port, lambda port: self._start_on(launcher, port, timeout))
        return self

    def _start_on(self, launcher: Path, port: int, timeout: float) -> None:
        self.port = port
        ensure_free(port, "the Firestore emulator")
        args = [str(launcher), "start", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.functions_emulator:
            args += ["--functions_emulator", self.functions_emulator]
        log_file = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            args, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                where = f"; its output is in {self.log_path}" if self.log_path else ""
                raise EmulatorError(f"the Firestore emulator exited with {self.process.returncode}{where}")
            try:
                with urllib.request.urlopen(f"http://{self.host}/", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        self.stop()
        raise EmulatorError(f"the Firestore emulator did not answer on {self.host} in {timeout:.0f} s")

    def stop(self) -> None:
        """Stop the launcher and the JVM it started (one process group)."""
        stop_group(self.process)

    def reset(self, project: str, database: str = "(default)") -> None:
        """Delete every document of a project's database."""
        request = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{project}/databases/{database}/documents",
            method="DELETE",
        )
        urllib.request.urlopen(request, timeout=10).close()

    def register_trigger(
        self, project: str, trigger_id: str, document_pattern: str, database: str = "(default)"
    ) -> None:
        """Deliver ``document.v1.written`` events for a path pattern in one database, as
        Eventarc would (its ``database`` filter): writes to any other database of the
        project never reach this trigger (the emulator keeps named databases apart)."""
        body = json.dumps({
            "eventType": "google.cloud.firestore.document.v1.written",
            "database": database, "namespace": "(default)",
            "document": {"value": document_pattern, "matchType": "PATH_PATTERN"},
        })
        request = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{project}/eventarcTrigger?eventarcTriggerId={trigger_id}",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).close()


@contextlib.contextmanager
def running(functions_emulator: str | None = None) -> Iterator[FirestoreEmulator]:
    emulator = FirestoreEmulator(functions_emulator=functions_emulator).start()
    try:
        yield emulator
    finally:
        emulator.stop()
