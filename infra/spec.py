"""Read infra/functions.yaml and infra/iam.yaml, the one definition of the functions and
of the runtime's rights, and package the source.

deploy.sh calls this as a script (``python3 infra/spec.py functions|roles|archive ...``);
tests and the local stack import it. Terraform reads the same YAML with yamldecode.
It needs only the standard library and PyYAML.
"""

from __future__ import annotations

import hashlib
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

INFRA = Path(__file__).resolve().parent
ROOT = INFRA.parent
SPEC_PATH = INFRA / "functions.yaml"
IAM_PATH = INFRA / "iam.yaml"
FIRESTORE_EVENT = "google.cloud.firestore.document.v1.written"
_MEMORY = re.compile(r"^[1-9][0-9]*(Mi|Gi)$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,61}[a-z0-9]$")
# A cluster name, as deploy.sh and variables.tf check it: no '-', so that the prefix
# "{cluster}-" the runtime's IAM conditions admit is one installation's only.
CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9]{1,15}\Z")
# Who may invoke an HTTP function (a Firestore-triggered one: Eventarc's account), and the
# service accounts a function may run as (infra/README.md, "Who may do what").
HTTP_INVOKERS = ("scheduler", "pods", "users")
RUNS_AS = ("runtime", "status")
# The function the pods' agents report to; every function is told its URL.
POD_STATUS = "pod_status"
# Who an installation lets call its `invoker: users` functions (kube_api): IAM members as
# Terraform's kube_api_invokers and deploy.sh's --kube-api-invokers list them. Never the
# public: Cloud Run would then skip its token check.
MEMBER = re.compile(r"^((user|group|serviceAccount|domain):[^\s,:]+|(principal|principalSet)://[^\s,]+)\Z")
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


class SpecError(ValueError):
    """functions.yaml is not usable; the message names the function and field."""


@dataclass(frozen=True)
class Function:
    name: str  # the entry point in main.py
    trigger_type: str  # "firestore" or "http"
    memory: str
    timeout: int
    max_instances: int
    event: str | None = None
    document: str | None = None  # an Eventarc path pattern, for firestore triggers
    retry: bool = False
    schedule: str | None = None  # cron for the Cloud Scheduler job, for http triggers
    invoker: str = "trigger"  # who may invoke it: the trigger, scheduler or pods account, or users
    runs_as: str = "runtime"  # the service account it runs as

    @property
    def ingress(self) -> str:
        """Where requests may come from (deploy.sh's --ingress-settings): a function callers
        outside Google Cloud use (kubectl on a laptop) takes them from the internet, and Cloud
        Run's IAM check still refuses any caller without the invoker role; every other
        function is called from inside Google Cloud only."""
        return "all" if self.invoker == "users" else "internal-only"

    @property
    def cloud_name(self) -> str:
        """The Cloud Functions (and Cloud Run service) name."""
        return self.name.replace("_", "-")

    def deployed_name(self, cluster: str) -> str:
        """The name in an installation: every function's name carries its cluster."""
        return f"{cluster}-{self.cloud_name}"

    def url(self, cluster: str, project_number: str, region: str) -> str:
        """Its Cloud Run service's deterministic URL, known before it is deployed: the
        audience of the identity tokens that invoke it (a *.run.app URL, which Cloud Run's
        invoker check accepts)."""
        if not re.fullmatch(r"[1-9][0-9]{0,19}", project_number):
            raise SpecError(f"project number {project_number!r} is not a number")
        return f"https://{self.deployed_name(cluster)}-{project_number}.{region}.run.app"


@dataclass(frozen=True)
class Installation:
    """The values a condition in iam.yaml is written for."""

    project: str
    region: str
    cluster: str
    network: str = "default"
    database: str = "(default)"

    def __post_init__(self) -> None:
        if not CLUSTER_NAME.match(self.cluster):
            raise SpecError(
                f"cluster {self.cluster!r}: 2 to 16 lower-case letters and digits, starting with a letter, "
                "and no '-' (the IAM conditions admit names starting with '{cluster}-': with a '-', "
                "one cluster's prefix would cover another's names)"
            )

    def render(self, template: str) -> str:
        """{project}, {region}, {cluster}, {network}, {database} replaced; {zone} (extract's) kept."""
        for key in ("project", "region", "cluster", "network", "database"):
            template = template.replace("{" + key + "}", getattr(self, key))
        return template


@dataclass(frozen=True)
class Role:
    """A custom role of the runtime account, as granted in one installation."""

    key: str
    role_id: str
    title: str
    permissions: tuple[str, ...]
    condition: str | None  # a CEL expression, or None for an unconditional grant


def invoker_members(text: str) -> list[str]:
    """The comma-separated IAM members of --kube-api-invokers, checked: each ``kind:id``
    (``user:me@example.com``, ``group:...``, ``serviceAccount:...``, ``domain:...``), never
    ``allUsers`` or ``allAuthenticatedUsers``."""
    members = [m.strip() for m in text.split(",") if m.strip()]
    for member in members:
        if member in PUBLIC_MEMBERS or member.split(":", 1)[-1] in PUBLIC_MEMBERS:
            raise SpecError(f"kube_api invokers: {member!r} would make the Kubernetes API public; "
                            "name the users, groups or service accounts that may call it")
        if not MEMBER.match(member):
            raise SpecError(f"kube_api invokers: {member!r} is not an IAM member like user:me@example.com, "
                            "group:team@example.com or serviceAccount:ci@PROJECT.iam.gserviceaccount.com")
    if len(set(members)) != len(members):
        raise SpecError(f"kube_api invokers: a member appears twice: {members}")
    return members


def role_id(base: str, cluster: str) -> str:
    """A custom role's id in a project: ``{base}_{cluster}``, one per installation."""
    return f"{base}_{cluster}"


def runtime_roles(where: Installation, path: Path = IAM_PATH) -> list[Role]:
    """The runtime's custom roles from iam.yaml, with their conditions rendered for ``where``."""
    raw = yaml.safe_load(path.read_text())
    roles = []
    for key, role in raw["roles"].items():
        permissions = role.get("permissions") or []
        if not permissions or not all(isinstance(p, str) and p.startswith("compute.") for p in permissions):
            raise SpecError(f"iam.yaml: roles.{key}.permissions: Compute Engine permissions, at least one")
        if len(set(permissions)) != len(permissions):
            raise SpecError(f"iam.yaml: roles.{key}.permissions: a permission appears twice")
        condition = role.get("condition")
        roles.append(Role(key, role_id(role["id"], where.cluster), where.render(role["title"]),
                          tuple(sorted(permissions)), where.render(condition) if condition else None))
    return roles


def database_condition(where: Installation, path: Path = IAM_PATH) -> str:
    """The condition on the runtime's Firestore role: this installation's database only."""
    return where.render(str(yaml.safe_load(path.read_text())["database_condition"]))


@dataclass(frozen=True)
class Spec:
    runtime: str
    source: tuple[str, ...]
    functions: tuple[Function, ...]

    def by_name(self) -> dict[str, Function]:
        return {f.name: f for f in self.functions}


def _function(raw: dict[str, Any]) -> Function:
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(f"functions: name {name!r} must be a Python identifier in lower case")
    trigger = raw.get("trigger") or {}
    kind = trigger.get("type")
    memory = str(raw.get("memory", ""))
    if not _MEMORY.match(memory):
        raise SpecError(f"{name}.memory: {memory!r} is not like 256Mi or 1Gi")
    timeout = raw.get("timeout")
    if not isinstance(timeout, int) or not 1 <= timeout <= 540:
        raise SpecError(f"{name}.timeout: {timeout!r} must be whole seconds from 1 to 540")
    max_instances = raw.get("max_instances", 10)
    if not isinstance(max_instances, int) or max_instances < 1:
        raise SpecError(f"{name}.max_instances: {max_instances!r} must be a positive integer")
    runs_as = raw.get("runs_as", "runtime")
    if runs_as not in RUNS_AS:
        raise SpecError(f"{name}.runs_as: {runs_as!r}, want one of {', '.join(RUNS_AS)}")
    common: dict[str, Any] = {"name": name, "memory": memory, "timeout": timeout, "max_instances": max_instances,
                              "runs_as": runs_as}
    if kind == "firestore":
        if trigger.get("event") != FIRESTORE_EVENT:
            raise SpecError(f"{name}.trigger.event: {trigger.get('event')!r}, want {FIRESTORE_EVENT}")
        document = trigger.get("document")
        if not isinstance(document, str) or document.startswith("/") or "{" not in document:
            raise SpecError(f"{name}.trigger.document: {document!r} is not a document path pattern")
        if not isinstance(trigger.get("retry"), bool):
            raise SpecError(f"{name}.trigger.retry: must be true or false")
        if "schedule" in raw:
            raise SpecError(f"{name}.schedule: only an http function can be scheduled")
        if "invoker" in raw:
            raise SpecError(f"{name}.invoker: a Firestore-triggered function is invoked by Eventarc only")
        return Function(trigger_type=kind, event=FIRESTORE_EVENT, document=document, retry=trigger["retry"], **common)
    if kind == "http":
        schedule = raw.get("schedule")
        if schedule is not None and (not isinstance(schedule, str) or len(schedule.split()) != 5):
            raise SpecError(f"{name}.schedule: {schedule!r} is not a five-field cron expression")
        invoker = raw.get("invoker")
        if invoker not in HTTP_INVOKERS:
            raise SpecError(f"{name}.invoker: {invoker!r}, want one of {', '.join(HTTP_INVOKERS)}")
        if (invoker == "scheduler") != (schedule is not None):
            raise SpecError(f"{name}.invoker: {invoker!r} with{'out' if schedule is None else ''} a schedule: "
                            "the scheduler invokes exactly the scheduled functions")
        return Function(trigger_type=kind, schedule=schedule, invoker=invoker, **common)
    raise SpecError(f"{name}.trigger.type: {kind!r}, want firestore or http")


def load(path: Path = SPEC_PATH) -> Spec:
    raw = yaml.safe_load(path.read_text())
    functions = tuple(_function(f) for f in raw.get("functions") or [])
    if not functions:
        raise SpecError(f"{path}: no functions")
    names = [f.name for f in functions]
    if len(set(names)) != len(names):
        raise SpecError(f"{path}: a function name appears twice: {names}")
    if POD_STATUS not in names:
        raise SpecError(f"{path}: no function {POD_STATUS}: the pods' agents report to it")
    return Spec(runtime=str(raw["runtime"]), source=tuple(raw["source"]), functions=functions)


def source_files(spec: Spec, root: Path = ROOT) -> list[str]:
    """The files uploaded, relative to the repository, as Terraform's fileset() finds them."""
    found: set[str] = set()
    for pattern in spec.source:
        matches = [p for p in root.glob(pattern) if p.is_file()]
        if not matches:
            raise SpecError(f"source: {pattern!r} matches no file under {root}")
        found.update(p.relative_to(root).as_posix() for p in matches)
    return sorted(found)


def source_hash(files: list[str], root: Path = ROOT) -> str:
    """sha256 of "path:sha256(content)\\n" per file, as locals.tf computes it in Terraform."""
    lines = "".join(f"{name}:{hashlib.sha256((root / name).read_bytes()).hexdigest()}\n" for name in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def build_archive(spec: Spec, out_dir: Path, root: Path = ROOT) -> Path:
    """A zip named by its content's hash, byte-for-byte the same for the same files."""
    files = source_files(spec, root)
    path = out_dir / f"source-{source_hash(files, root)[:16]}.zip"
    if not path.exists():
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in files:
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, (root / name).read_bytes())
    return path


def _tsv(f: Function) -> str:
    fields = [f.name, f.cloud_name, f.trigger_type, f.event or "-", f.document or "-",
              "true" if f.retry else "false", f.memory, str(f.timeout), str(f.max_instances), f.schedule or "-",
              f.invoker, f.runs_as, f.ingress]
    return "\t".join(fields)


def main(argv: list[str]) -> int:
    usage = ("usage: spec.py functions | runtime | archive OUT_DIR | pod-status-url CLUSTER PROJECT_NUMBER REGION"
             " | function-url NAME CLUSTER PROJECT_NUMBER REGION | invokers MEMBERS"
             " | roles PROJECT REGION CLUSTER NETWORK DATABASE | database-condition PROJECT REGION CLUSTER NETWORK DATABASE")
    if argv == ["functions"]:
        # name, cloud name, type, event, document, retry, memory, timeout, max instances, schedule,
        # invoker, runs as, ingress
        print("\n".join(_tsv(f) for f in load().functions))
    elif len(argv) == 2 and argv[0] == "invokers":
        try:
            print("\n".join(invoker_members(argv[1])))
        except SpecError as error:
            print(f"spec.py: {error}", file=sys.stderr)
            return 2
    elif argv == ["runtime"]:
        print(load().runtime)
    elif len(argv) == 6 and argv[0] in ("roles", "database-condition"):
        try:
            where = Installation(*argv[1:])
        except SpecError as error:
            print(f"spec.py: {error}", file=sys.stderr)
            return 2
        if argv[0] == "roles":
            # key, role id, title, permissions (comma-separated), condition ("-": none)
            for role in runtime_roles(where):
                print("\t".join([role.key, role.role_id, role.title, ",".join(role.permissions), role.condition or "-"]))
        else:
            print(database_condition(where))
    elif (len(argv) == 4 and argv[0] == "pod-status-url") or (len(argv) == 5 and argv[0] == "function-url"):
        name, (cluster, number, region) = (POD_STATUS, argv[1:]) if argv[0] == "pod-status-url" else (argv[1], argv[2:])
        if not CLUSTER_NAME.match(cluster):
            print(f"spec.py: cluster {cluster!r} is not a cluster name", file=sys.stderr)
            return 2
        functions = load().by_name()
        if name not in functions:
            print(f"spec.py: no function {name!r} in functions.yaml", file=sys.stderr)
            return 2
        print(functions[name].url(cluster, number, region))
    elif len(argv) == 2 and argv[0] == "archive":
        print(build_archive(load(), Path(argv[1])))
    else:
        print(usage, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except SpecError as error:
        print(f"infra/functions.yaml: {error}", file=sys.stderr)
        sys.exit(1)
