"""Cloud Functions entry points, and the CLI when run as a script (``python main.py VERB``).

Each function is its own Cloud Run service and a cold start pays for every import
here, so this module imports only functions-framework at the top; each entry point
imports what it needs on first call. ``sync_controller``, ``sync_replicaset`` and
``sync_deployment`` never import the Compute Engine client.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import functions_framework

if TYPE_CHECKING:
    from cloudevents.http import CloudEvent
    from flask import Request, Response

    from functions.runtime import Runtime

_runtime: Runtime | None = None


def _rt() -> Runtime:
    """One runtime (settings, Firestore client) per instance, reused across invocations."""
    global _runtime
    if _runtime is None:
        from functions import logs
        from functions.runtime import Runtime

        logs.setup()
        _runtime = Runtime.from_env()
    return _runtime


def _on_document(function: str, event: CloudEvent) -> None:
    rt = _rt()
    from functions.handlers import handle_event

    handle_event(function, event, rt)


@functions_framework.cloud_event
def sync_controller(event: CloudEvent) -> None:
    """Firestore trigger on ``namespaces/{ns}/replicationControllers/{name}``."""
    _on_document("sync_controller", event)


@functions_framework.cloud_event
def sync_replicaset(event: CloudEvent) -> None:
    """Firestore trigger on ``namespaces/{ns}/replicaSets/{name}``."""
    _on_document("sync_replicaset", event)


@functions_framework.cloud_event
def sync_deployment(event: CloudEvent) -> None:
    """Firestore trigger on ``namespaces/{ns}/deployments/{name}``."""
    _on_document("sync_deployment", event)


@functions_framework.cloud_event
def sync_pod(event: CloudEvent) -> None:
    """Firestore trigger on ``namespaces/{ns}/pods/{name}``."""
    _on_document("sync_pod", event)


@functions_framework.cloud_event
def sync_service(event: CloudEvent) -> None:
    """Firestore trigger on ``namespaces/{ns}/services/{name}``."""
    _on_document("sync_service", event)


@functions_framework.http
def resync(request: Request) -> tuple[str, int, dict[str, str]]:
    """HTTP, called by Cloud Scheduler: one pass over every controller, a JSON summary back."""
    rt = _rt()
    from functions.controllers.resync import resync_all, summary_status

    body = request.get_json(silent=True)  # Cloud Scheduler sends none; `main.py resync` asks for full
    full = True if isinstance(body, dict) and body.get("full") is True else None
    summary: dict[str, Any] = resync_all(rt, full)
    code = summary_status(summary)  # 500 only when the sweep itself could not run
    return json.dumps(summary), code, {"Content-Type": "application/json"}


@functions_framework.http
def pod_status(request: Request) -> tuple[str, int, dict[str, str]]:
    """HTTP, called by each pod's agent with its VM's identity token: the pod's status."""
    rt = _rt()
    from functions.controllers.pod_reports import READ_LIMIT, handle_report

    body = request.stream.read(READ_LIMIT)  # never more than a report may be, plus one byte
    code, reply = handle_report(rt, request.headers.get("Authorization"), body, request.method)
    return json.dumps(reply), code, {"Content-Type": "application/json"}


@functions_framework.http
def kube_api(request: Request) -> Response:
    """HTTP: the Kubernetes API subset kubectl and client libraries talk to (docs/kube-api.md).
    Who may call it is Cloud Run's IAM (the invoker role); the local stack has no auth."""
    rt = _rt()
    from functions.kubeapi.app import handle

    return handle(rt, request)


def _kubeconfig(argv: list[str]) -> int:
    """``python main.py kubeconfig --server URL [--name NAME]``: a kubeconfig for a deployed
    installation, its user an exec plugin (``credential``) run by this Python."""
    import argparse
    import sys

    from functions.kubeconfig import default_main_py, exec_kubeconfig, render

    parser = argparse.ArgumentParser(prog="python main.py kubeconfig",
                                     description="print a kubeconfig for kubectl to reach a deployed kube_api")
    parser.add_argument("--server", required=True, help="the kube-api function's URL (deploy.sh and Terraform print it)")
    parser.add_argument("--name", default="firecontrol", help="the cluster, user and context name (default: firecontrol)")
    arguments = parser.parse_args(argv)
    if not arguments.server.startswith(("https://", "http://")):
        parser.error(f"--server: {arguments.server!r} is not a URL")
    print(render(exec_kubeconfig(arguments.server, arguments.name, sys.executable, default_main_py())), end="")
    return 0


def _credential(argv: list[str]) -> int:
    """``python main.py credential --audience URL``: kubectl's exec plugin, an ExecCredential
    holding a Google ID token for kube_api's Cloud Run service."""
    import argparse
    import sys
    from datetime import UTC, datetime

    from functions.kubeconfig import CredentialError, cache_dir, exec_credential, kept_token

    parser = argparse.ArgumentParser(prog="python main.py credential",
                                     description="print an ExecCredential with a Google identity token (kubectl runs this)")
    parser.add_argument("--audience", required=True, help="the kube-api function's URL")
    arguments = parser.parse_args(argv)
    try:
        token = kept_token(arguments.audience, datetime.now(UTC), cache_dir())
    except CredentialError as error:
        print(f"firecontrol credential: {error}", file=sys.stderr)
        return 1
    print(json.dumps(exec_credential(token)))
    return 0


def _command_line(argv: list[str]) -> int:
    """``python main.py up [--demo]`` runs the local stack, ``kubeconfig`` and ``credential``
    let kubectl reach a deployment; every other verb is the CLI."""
    if argv[:1] == ["up"]:
        import argparse

        parser = argparse.ArgumentParser(prog="python main.py up", description="run the local stack until Ctrl-C")
        parser.add_argument("--demo", action="store_true", help="apply examples/ and show it converge")
        arguments = parser.parse_args(argv[1:])
        from emulator.local import up

        return up(demo=arguments.demo)
    if argv[:1] == ["kubeconfig"]:
        return _kubeconfig(argv[1:])
    if argv[:1] == ["credential"]:
        return _credential(argv[1:])
    from functions.cli import main

    return main(argv)


if __name__ == "__main__":
    import sys

    sys.exit(_command_line(sys.argv[1:]))
