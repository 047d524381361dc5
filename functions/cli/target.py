"""Which Firestore the CLI talks to: a Google Cloud project, or the local stack.

``--project`` (or ``GOOGLE_CLOUD_PROJECT``) wins, with application default
credentials, or the emulator named by ``FIRESTORE_EMULATOR_HOST``, on the database
``FIRECONTROL_DATABASE`` names (an installation's own; default ``(default)``). Otherwise the
local stack's ``.firecontrol/local.json`` is used if its Firestore answers. The check
is a TCP connect of a fraction of a second: a Firestore client pointed at nothing
retries for a minute before it says so.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from functions.cli.errors import CliError

if TYPE_CHECKING:
    from functions.cloudprovider import CloudProvider
    from functions.store import Store

EMULATOR_ENV = "FIRESTORE_EMULATOR_HOST"
DATABASE_ENV = "FIRECONTROL_DATABASE"  # with --project: the installation's database
COMPUTE_ENV = "COMPUTE_API_ENDPOINT"  # with --project: a Compute emulator instead of Compute Engine
STATE_ENV = "FIRECONTROL_LOCAL_STATE"
# Where `python main.py up` writes it: beside main.py, wherever the CLI is run from.
DEFAULT_STATE = Path(__file__).resolve().parents[2] / ".firecontrol" / "local.json"
CONNECT_TIMEOUT = 0.5


@dataclass(frozen=True)
class Target:
    project: str
    emulator: str | None  # host:port of the Firestore emulator, None for real Firestore
    resync_url: str | None = None  # the local stack's resync function, when known
    database: str = "(default)"  # the installation's Firestore database
    compute: str | None = None  # a Compute emulator's URL, None for Compute Engine
    cluster: str = "firecontrol"  # the installation: its VMs' names start with "{cluster}-"

    @property
    def local(self) -> bool:
        return self.emulator is not None

    def store(self) -> Store:
        from functions.store import Store

        if self.emulator is not None:
            os.environ[EMULATOR_ENV] = self.emulator
        return Store.for_project(self.project, self.database)

    def cloud(self) -> CloudProvider:
        """The installation's cloud provider, with the caller's credentials (or none, on the
        emulator); region and zone from FIRECONTROL_REGION and FIRECONTROL_ZONE, as the
        functions read them (a pod's VM records its own zone)."""
        from functions.cloudprovider import CloudError, build_provider

        try:
            return build_provider("gce", _ProviderSettings(
                project=self.project, cluster=self.cluster, compute_api_endpoint=self.compute,
                region=os.environ.get("FIRECONTROL_REGION") or "us-central1",
                zone=os.environ.get("FIRECONTROL_ZONE") or "us-central1-a",
            ))
        except CloudError as error:
            raise CliError(f"error: {error}") from None


@dataclass(frozen=True)
class _ProviderSettings:
    project: str
    region: str
    zone: str
    cluster: str
    compute_api_endpoint: str | None


def state_path() -> Path:
    return Path(os.environ.get(STATE_ENV) or DEFAULT_STATE)


def answers(host: str) -> bool:
    """Whether something listens at ``host:port``."""
    name, _, port = host.rpartition(":")
    try:
        with socket.create_connection((name.strip("[]") or "127.0.0.1", int(port)), CONNECT_TIMEOUT):
            return True
    except (OSError, ValueError):
        return False


def resolve(project: str | None) -> Target:
    """The target for this invocation, or a CliError saying how to get one."""
    if project:
        emulator = os.environ.get(EMULATOR_ENV) or None
        if emulator is not None and not answers(emulator):
            raise CliError(
                f"error: {EMULATOR_ENV}={emulator} is set but nothing answers there; "
                f"start the emulator or unset {EMULATOR_ENV} to use project {project!r} in Google Cloud"
            )
        return Target(project, emulator, database=os.environ.get(DATABASE_ENV) or "(default)",
                      compute=os.environ.get(COMPUTE_ENV) or None,
                      cluster=os.environ.get("FIRECONTROL_CLUSTER") or "firecontrol")
    path = state_path()
    hint = (
        "start the local stack with './dev up' (or 'python main.py up'), "
        "or pass --project PROJECT (or set GOOGLE_CLOUD_PROJECT) to use Google Cloud"
    )
    if not path.exists():
        raise CliError(f"error: no local stack ({path} not found) and no --project: {hint}")
    try:
        state: Any = json.loads(path.read_text())
        target = Target(
            project=str(state["project"]),
            emulator=str(state["firestore"]),
            resync_url=(state.get("functions") or {}).get("resync"),
            database=str(state.get("database") or "(default)"),
            compute=str(state["compute"]) if state.get("compute") else None,
            cluster=str(state.get("cluster") or "firecontrol"),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise CliError(f"error: {path} is not a local stack's state file ({error}): {hint}") from None
    if not answers(target.emulator or ""):
        raise CliError(f"error: the local stack in {path} is not running (Firestore at {target.emulator} does not answer): {hint}")
    return target
