"""The command line: options (each also read from the environment), dispatch, exit codes.

Verbs raise ``CliError``; only ``main`` prints errors and turns them into exit codes,
and Google's errors are translated here, at the boundary, into one line each.
Heavy imports (Firestore, rich, YAML) happen inside the verbs that need them.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from functions.cli import durations
from functions.cli.errors import FAILED, INTERRUPTED, USAGE, CliError
from functions.cli.output import Output

DEFAULT_WAIT_TIMEOUT = 120.0

EPILOG = """\
target:
  With --project (or GOOGLE_CLOUD_PROJECT) the CLI uses that project's Firestore with
  application default credentials (or the emulator in FIRESTORE_EMULATOR_HOST).
  Otherwise it uses the local stack ('./dev up') through .firecontrol/local.json
  (FIRECONTROL_LOCAL_STATE to point elsewhere).

exit codes:
  0    success
  1    the request failed: invalid manifests (nothing written), not found,
       a --wait that timed out, a pod without a VM (logs), Firestore, Compute
       or resync errors
  2    usage error: unknown verb, kind or option
  130  interrupted (Ctrl-C)

environment:
  GOOGLE_CLOUD_PROJECT      default for --project
  FIRECONTROL_DATABASE      with --project: the installation's Firestore database (default '(default)')
  FIRECONTROL_NAMESPACE     default for -n/--namespace (else 'default')
  FIRECONTROL_TIMEOUT       default for --timeout
  FIRECONTROL_RESYNC_URL    default for resync --url
  FIRECONTROL_MAX_REPLICAS  the cap apply and scale validate against (default 100)
  FIRECONTROL_CLUSTER       with --project: the installation (logs finds its VMs; default 'firecontrol')
  COMPUTE_API_ENDPOINT      with --project: a Compute emulator instead of Compute Engine (logs)
"""


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def _timeout(default: float | None) -> float | None:
    raw = _env("FIRECONTROL_TIMEOUT")
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def _flag(text: str) -> bool:
    """``--watch=false`` as kubectl takes it."""
    value = text.lower()
    if value in ("true", "1", "yes", "t"):
        return True
    if value in ("false", "0", "no", "f"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}: use true or false")


class _Exact(str):
    """A positional's metavar printed as written, whatever its nargs (``OLD_RC [NEW_RC]``,
    not argparse's ``OLD_RC [NEW_RC] [OLD_RC [NEW_RC] ...]``); the verb checks the count."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if isinstance(action.metavar, _Exact):
            return str(action.metavar)
        return super()._format_args(action, default_metavar)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--project", default=_env("GOOGLE_CLOUD_PROJECT"),
                        help="Google Cloud project (env GOOGLE_CLOUD_PROJECT); default: the local stack")
    common.add_argument("-n", "--namespace", default=_env("FIRECONTROL_NAMESPACE"),
                        help="namespace (env FIRECONTROL_NAMESPACE; default 'default')")

    parser = argparse.ArgumentParser(
        prog="python main.py", description="firecontrol: replication controllers and services on Google Cloud",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        return verbs.add_parser(name, parents=[common], help=help_text, description=help_text,
                                epilog=EPILOG, formatter_class=_Formatter)

    apply = verb("apply", "create or update objects from manifests (all valid, or nothing is written)")
    apply.add_argument("-f", "--filename", action="append", required=True, metavar="PATH",
                       help="a YAML or JSON file, a folder of them, or - for stdin (repeatable)")
    apply.add_argument("--dry-run", action="store_true", help="validate and show what would change; write nothing")
    apply.add_argument("--kind", metavar="KIND",
                       help="the kind of documents that state none (2014 files: kubecfg took it from the "
                            "command line), e.g. ReplicationController or rc; without it their shape decides")

    get = verb("get", "list objects: replicationcontrollers (rc), replicasets (rs), deployments (deploy), "
                      "pods (po), services (svc), resourcequotas (quota), events (ev)")
    get.add_argument("kind", metavar="KIND")
    get.add_argument("names", nargs="*", metavar="NAME")
    get.add_argument("-o", "--output", choices=("wide", "json", "yaml"), help="output format")
    get.add_argument("-l", "--selector", help="equality label selector, e.g. app=web,tier=front")
    get.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    get.add_argument("-w", "--watch", action="store_true", help="then print every change until Ctrl-C or --timeout")
    get.add_argument("--timeout", type=float, default=_timeout(None), metavar="S",
                     help="stop watching after S seconds (env FIRECONTROL_TIMEOUT)")

    describe = verb("describe", "show an object's spec, status, conditions, problems and events")
    describe.add_argument("target", nargs="+", metavar="KIND NAME")

    scale = verb("scale", "set the replicas of a replication controller, ReplicaSet or Deployment")
    scale.add_argument("target", nargs="+", metavar="KIND NAME")
    scale.add_argument("--replicas", type=int, required=True, metavar="N")

    set_ = verb("set", "change an object's pod template")
    set_what = set_.add_subparsers(dest="what", required=True, metavar="WHAT")
    image = set_what.add_parser("image", parents=[common], help="set container images",
                                description="set image KIND/NAME CONTAINER=IMAGE [CONTAINER=IMAGE...] "
                                            "(CONTAINER * for every container)")
    image.add_argument("args", nargs="+", metavar="KIND/NAME CONTAINER=IMAGE")

    rollout = verb("rollout", "manage a Deployment's rollout: status, history, undo, restart, pause, resume")
    actions = rollout.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, parents=[common], help=help_text, description=help_text)
        parser.add_argument("target", nargs="+", metavar="deployment/NAME")
        return parser

    status = action("status", "show a rollout's status; wait for it to finish (exit 1 if it exceeds its deadline)")
    status.add_argument("-w", "--watch", type=_flag, nargs="?", const=True, default=True, metavar="BOOL",
                        help="watch until it is done (default true; --watch=false to print once)")
    status.add_argument("--timeout", type=durations.argument, default=0.0, metavar="DURATION",
                        help="stop watching after this long, e.g. 5m (default 0: never)")
    status.add_argument("--revision", type=int, default=0, metavar="N", help="pin to this revision")
    hist = action("history", "list the revisions (REVISION, CHANGE-CAUSE) from the Deployment's ReplicaSets")
    hist.add_argument("--revision", type=int, default=0, metavar="N", help="show this revision's pod template")
    back = action("undo", "roll back to the previous revision (or --to-revision)")
    back.add_argument("--to-revision", type=int, default=0, metavar="N", help="the revision to go back to")
    action("restart", "roll every pod (a new template annotation kubectl.kubernetes.io/restartedAt)")
    action("pause", "mark the Deployment paused: template changes make no rollout until resumed")
    action("resume", "resume a paused Deployment")

    rolling = verb("rolling-update", "replace a replication controller's pods one at a time by a new "
                                     "controller's (kubectl rolling-update)")
    rolling.add_argument("names", nargs="+", metavar=_Exact("OLD_RC [NEW_RC]"))
    rolling.add_argument("--image", help="the new image (one container, or --container)")
    rolling.add_argument("--container", help="the container whose image changes (with --image)")
    rolling.add_argument("-f", "--filename", metavar="FILE", help="the new controller's manifest")
    rolling.add_argument("--deployment-label-key", default="deployment", metavar="KEY",
                         help="the label that tells old pods from new (default 'deployment')")
    rolling.add_argument("--update-period", type=durations.argument, default=60.0, metavar="DURATION",
                         help="wait between steps (default 1m0s)")
    rolling.add_argument("--poll-interval", type=durations.argument, default=3.0, metavar="DURATION",
                         help="poll controllers this often (default 3s)")
    rolling.add_argument("--timeout", type=durations.argument, default=300.0, metavar="DURATION",
                         help="give up when no step is made for this long (default 5m0s)")
    rolling.add_argument("--rollback", action="store_true",
                         help="abort an update that stopped part way and go back to the old controller")

    delete = verb("delete", "delete an object (pods and services: after their cloud resources)")
    delete.add_argument("target", nargs="*", metavar="KIND NAME")
    delete.add_argument("-f", "--filename", action="append", metavar="PATH",
                        help="delete the objects a YAML or JSON file, a folder of them, or - (stdin) names "
                             "(repeatable)")
    delete.add_argument("--cascade", choices=("background", "orphan", "foreground"), default="background",
                        help="controllers: background (default) deletes now and the pods follow; orphan "
                             "leaves the pods, unowned; foreground deletes the pods first")
    delete.add_argument("--wait", action="store_true",
                        help="wait until the document and (rc) its pods are gone; exit 1 on --timeout")
    delete.add_argument("--timeout", type=float, default=_timeout(DEFAULT_WAIT_TIMEOUT), metavar="S",
                        help=f"how long --wait waits (env FIRECONTROL_TIMEOUT; default {DEFAULT_WAIT_TIMEOUT:g})")
    delete.add_argument("--ignore-not-found", action="store_true", help="exit 0 if it does not exist")

    logs = verb("logs", "print a container's output (from its VM's serial port 2); -f follows it")
    logs.add_argument("pod", metavar="POD")
    logs.add_argument("-c", "--container", help="the container (needed when the pod has several)")
    logs.add_argument("-f", "--follow", action="store_true",
                      help="then print new output as it comes, until Ctrl-C or the pod's VM is gone")
    logs.add_argument("--tail", type=int, metavar="N", help="only the last N lines (-1: all)")

    resync = verb("resync", "run the periodic resync now and show its summary")
    resync.add_argument("--url", default=_env("FIRECONTROL_RESYNC_URL"),
                        help="the resync function's URL (env FIRECONTROL_RESYNC_URL); local: from the stack")
    resync.add_argument("-o", "--output", choices=("json", "yaml"), help="print the summary as data")
    resync.add_argument("--timeout", type=float, default=_timeout(300.0), metavar="S", help="HTTP timeout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; the return value is the process's exit code."""
    out = Output()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else USAGE
    try:
        return dispatch(args, out)
    except CliError as error:
        for line in error.lines:
            out.error(line)
        return error.code
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as error:
        message = _boundary_message(error)
        if message is None:
            raise
        out.error(message)
        return FAILED


def _boundary_message(error: Exception) -> str | None:
    """One line for the errors of Google's libraries and of configuration; None: a bug."""
    from functions.cloudprovider import CloudError
    from functions.config import ConfigError

    if isinstance(error, ConfigError):
        return f"error: {error}"
    module = type(error).__module__
    if module.startswith("google.auth"):
        return (f"error: no usable Google Cloud credentials ({error}); run "
                "'gcloud auth application-default login' or use the local stack")
    if isinstance(error, CloudError):
        return f"error: Compute Engine: {error}"
    if module.startswith(("google.api_core", "google.cloud")):
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        return f"error: Firestore: {text}"
    return None


def dispatch(args: argparse.Namespace, out: Output) -> int:
    from functions.cli import kinds
    from functions.cli.target import resolve

    verb: str = args.verb
    namespace: str = args.namespace or "default"
    if verb == "apply":
        from functions.cli import apply

        given = kinds.by_alias(args.kind, tuple(kinds.WRITABLE.values())) if args.kind else None
        return apply.run(args.filename, args.namespace, args.dry_run, _max_replicas(),
                         lambda: resolve(args.project), out, given)
    if verb == "resync":
        return _resync(args, out)
    if verb == "get":
        from functions.cli import get

        kind = kinds.by_alias(args.kind)
        selector = get.parse_selector(args.selector)
        store = resolve(args.project).store()
        return get.run(store, kind, args.names, None if args.all_namespaces else namespace, selector,
                       args.output, args.watch, args.timeout, out)
    if verb == "logs":
        from functions.cli import logs

        target = resolve(args.project)
        return logs.run(target.store(), target.cloud, target.cluster, args.pod, namespace, args.container,
                        args.follow, args.tail)
    if verb == "describe":
        from functions.cli import describe

        kind, name = kinds.kind_and_name(args.target, describe.DESCRIBABLE)
        return describe.run(resolve(args.project).store(), kind, name, namespace, _max_replicas(), out)
    if verb in ("set", "rollout", "rolling-update"):
        from functions.cli import workload_verbs

        return workload_verbs.dispatch(args, namespace, _max_replicas, lambda: resolve(args.project).store(), out)
    from functions.cli import changes

    if verb == "scale":
        kind, name = kinds.kind_and_name(args.target, kinds.SCALABLE)
        if args.replicas < 0:
            raise CliError("error: The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0",
                           code=USAGE)
        return changes.scale(resolve(args.project).store(), kind, name, namespace, args.replicas, _max_replicas(), out)
    if args.filename:
        if args.target:
            raise CliError("error: delete takes either KIND NAME or -f FILE, not both", code=USAGE)
        return changes.delete_files(lambda: resolve(args.project).store(), args.filename, args.namespace,
                                    args.wait, args.timeout, args.ignore_not_found, args.cascade, out)
    kind, name = kinds.kind_and_name(args.target, (*kinds.SCALABLE, kinds.POD, kinds.SERVICE, kinds.QUOTA))
    return changes.delete(resolve(args.project).store(), kind, name, namespace, args.wait, args.timeout,
                          args.ignore_not_found, out, args.cascade)


def _max_replicas() -> int:
    from functions.config import Settings

    return Settings.from_env().max_replicas


def _resync(args: argparse.Namespace, out: Output) -> int:
    from functions.cli import resync
    from functions.cli.target import EMULATOR_ENV, resolve

    url: str | None = args.url
    token: str | None = None
    if url is None:
        if args.project:
            raise CliError("error: resync on Google Cloud needs --url (or FIRECONTROL_RESYNC_URL): the resync function's URL")
        url = resolve(None).resync_url
        if not url:
            raise CliError("error: the local stack has no resync function in its state file; pass --url")
    elif args.project and not os.environ.get(EMULATOR_ENV):
        token = resync.id_token(url)
    return resync.run(url, token, args.timeout, args.output, out)

