"""A stand-in for ``gcloud`` and ``curl`` (the Firebase Rules API) for deploy.sh's tests.

Run as ``fake_cloud.py gcloud|curl ARGS...`` by two small wrappers on PATH. It appends
each call's argv to ``$FAKE_CLOUD_DIR/calls.jsonl`` and keeps what "exists" in
``$FAKE_CLOUD_DIR/state.json``: reads answer from it, changes write to it, so a
second run of deploy.sh sees what the first one made. A command it does not know
fails loudly (exit 3), so deploy.sh cannot issue one the tests did not expect.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

State = dict[str, Any]
PROJECT_NUMBER = "123456789012"


class Unknown(Exception):
    pass


def _flags(args: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Positional words, and every --flag=value (or bare --flag) by name."""
    words: list[str] = []
    flags: dict[str, list[str]] = {}
    for arg in args:
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            flags.setdefault(name, []).append(value)
        else:
            words.append(arg)
    return words, flags


def _flag(flags: dict[str, list[str]], name: str) -> str:
    if name not in flags:
        raise Unknown(f"--{name} missing")
    return flags[name][-1]


def _not_found(what: str) -> int:
    print(f"ERROR: (gcloud) NOT_FOUND: {what}", file=sys.stderr)
    return 1


def _policy(bindings: dict[str, list[str]]) -> str:
    return json.dumps({"bindings": [{"role": r, "members": m} for r, m in sorted(bindings.items())]})


def _bind(bindings: dict[str, list[str]], flags: dict[str, list[str]]) -> None:
    members = bindings.setdefault(_flag(flags, "role"), [])
    if _flag(flags, "member") not in members:
        members.append(_flag(flags, "member"))


def _condition(flags: dict[str, list[str]]) -> dict[str, str] | None:
    """--condition=None (none), or --condition-from-file (a JSON file with title and expression)."""
    if "condition-from-file" in flags:
        loaded: dict[str, str] = json.loads(Path(_flag(flags, "condition-from-file")).read_text())
        if not loaded.get("title") or not loaded.get("expression"):
            raise Unknown(f"condition without title or expression: {loaded}")
        return loaded
    if _flag(flags, "condition") != "None":
        raise Unknown("a project binding names its condition: --condition=None or --condition-from-file")
    return None


def _project_bind(policy: list[dict[str, Any]], flags: dict[str, list[str]], remove: bool = False) -> None:
    """A project policy with conditions: bindings are (role, condition) -> members, as IAM keeps them."""
    role, member, condition = _flag(flags, "role"), _flag(flags, "member"), _condition(flags)
    binding = next((b for b in policy if b["role"] == role and b.get("condition") == condition), None)
    if remove:
        if binding is None or member not in binding["members"]:
            raise Unknown(f"remove-iam-policy-binding: {member} has no {role} binding with {condition}")
        binding["members"].remove(member)
        if not binding["members"]:
            policy.remove(binding)
        return
    if binding is None:
        binding = {"role": role, "members": [], **({"condition": condition} if condition else {})}
        policy.append(binding)
    if member not in binding["members"]:
        binding["members"].append(member)


def gcloud(args: list[str], state: State) -> int:
    words, flags = _flags(args)
    project = flags.get("project", [""])[-1]
    command = " ".join(words[:3])
    if words[:2] == ["services", "list"]:
        print("\n".join(sorted(state.setdefault("apis", []))))
    elif words[:2] == ["services", "enable"]:
        state["apis"] = sorted(set(state.get("apis", [])) | set(words[2:]))
    elif command == "firestore databases describe":
        if _flag(flags, "database") not in state.get("databases", {}):
            return _not_found("database")
        print(f"projects/{project}/databases/{_flag(flags, 'database')}")
    elif command == "firestore databases create":
        state.setdefault("databases", {})[_flag(flags, "database")] = {
            "location": _flag(flags, "location"), "type": _flag(flags, "type")}
    elif words[:4] == ["firestore", "fields", "ttls", "list"]:
        group, database = _flag(flags, "collection-group"), _flag(flags, "database")
        for field in state.get("ttls", {}).get(database, {}).get(group, []):
            print(f"projects/{project}/databases/{database}/collectionGroups/{group}/fields/{field}")
    elif words[:4] == ["firestore", "fields", "ttls", "update"]:
        by_group = state.setdefault("ttls", {}).setdefault(_flag(flags, "database"), {})
        fields = by_group.setdefault(_flag(flags, "collection-group"), [])
        if "enable-ttl" in flags and words[4] not in fields:
            fields.append(words[4])
    elif words[:2] == ["auth", "print-access-token"]:
        print("fake-token")
    elif command == "iam service-accounts describe":
        if words[3] not in state.get("service_accounts", []):
            return _not_found(words[3])
        print(words[3])
    elif command == "iam service-accounts create":
        state.setdefault("service_accounts", []).append(f"{words[3]}@{project}.iam.gserviceaccount.com")
    elif command == "iam service-accounts get-iam-policy":
        if words[3] not in state.get("service_accounts", []):
            return _not_found(words[3])
        print(_policy(state.get("account_policies", {}).get(words[3], {})))
    elif command == "iam service-accounts add-iam-policy-binding":
        _bind(state.setdefault("account_policies", {}).setdefault(words[3], {}), flags)
    elif command == "iam roles describe":
        if words[3] not in state.get("roles", {}):
            return _not_found(words[3])
        if _flag(flags, "format") != "value(includedPermissions)":
            raise Unknown(f"iam roles describe --format={_flag(flags, 'format')}")
        print(";".join(state["roles"][words[3]]))
    elif command in ("iam roles create", "iam roles update"):
        if (words[2] == "create") == (words[3] in state.get("roles", {})):
            raise Unknown(f"iam roles {words[2]} {words[3]}: exists={words[3] in state.get('roles', {})}")
        state.setdefault("roles", {})[words[3]] = _flag(flags, "permissions").split(",")
    elif command.startswith("projects describe"):
        if _flag(flags, "format") != "value(projectNumber)":
            raise Unknown(f"projects describe --format={_flag(flags, 'format')}")
        print(PROJECT_NUMBER)
    elif command.startswith("projects get-iam-policy"):
        print(json.dumps({"bindings": state.get("project_policy", [])}))
    elif command.startswith("projects add-iam-policy-binding"):
        _project_bind(state.setdefault("project_policy", []), flags)
    elif command.startswith("projects remove-iam-policy-binding"):
        _project_bind(state.setdefault("project_policy", []), flags, remove=True)
    elif command == "compute routers list":
        region = _flag(flags, "regions")
        print(json.dumps([r for r in state.get("routers", {}).values() if r["region"].endswith(f"/{region}")]))
    elif command == "compute routers create":
        routers = state.setdefault("routers", {})
        if words[3] in routers:
            raise Unknown(f"router {words[3]} exists")
        routers[words[3]] = {"name": words[3], "region": f"projects/{project}/regions/{_flag(flags, 'region')}",
                             "network": f"projects/{project}/global/networks/{_flag(flags, 'network')}", "nats": []}
    elif words[:4] == ["compute", "routers", "nats", "create"]:
        router = state["routers"][_flag(flags, "router")]
        router["nats"].append({"name": words[4], "flags": sorted(a for a in args if a.startswith("--"))})
    elif command == "storage buckets describe":
        if words[3] not in state.get("buckets", {}):
            return _not_found(words[3])
        print(words[3])
    elif command == "storage buckets create":
        state.setdefault("buckets", {})[words[3]] = {"location": _flag(flags, "location"), "policy": {}}
    elif command == "storage buckets update":
        state["buckets"][words[3]]["versioning"] = "versioning" in flags
    elif command == "storage buckets get-iam-policy":
        print(_policy(state["buckets"][words[3]]["policy"]))
    elif command == "storage buckets add-iam-policy-binding":
        _bind(state["buckets"][words[3]]["policy"], flags)
    elif command == "storage objects describe":
        if words[3] not in state.get("objects", []):
            return _not_found(words[3])
        print(words[3])
    elif words[:2] == ["storage", "cp"]:
        if not Path(words[2]).is_file():
            raise Unknown(f"cp: no file {words[2]}")
        state.setdefault("objects", []).append(words[3])
    elif words[:2] == ["functions", "describe"]:
        function = state.get("functions", {}).get(words[2])
        if function is None:
            return _not_found(words[2])
        fmt = _flag(flags, "format")
        if fmt == "value(labels.firecontrol-config)":
            print(function["labels"].get("firecontrol-config", ""))
        elif fmt == "value(serviceConfig.uri)":
            print(function["uri"])
        else:
            raise Unknown(f"functions describe --format={fmt}")
    elif words[:2] == ["functions", "deploy"]:
        labels = dict(pair.split("=", 1) for pair in _flag(flags, "update-labels").split(","))
        before = state.setdefault("functions", {}).get(words[2], {})
        state["functions"][words[2]] = {  # a redeploy keeps the service's IAM policy
            "args": args, "labels": labels, "uri": f"https://{words[2]}-abc123-uc.a.run.app",
            "policy": before.get("policy", {}),
        }
    elif command == "run services get-iam-policy":
        function = state.get("functions", {}).get(words[3])
        if function is None:
            return _not_found(words[3])
        print(_policy(function["policy"]))
    elif words[:2] == ["functions", "add-invoker-policy-binding"]:
        _bind(state["functions"][words[2]]["policy"], {"role": ["roles/run.invoker"], **flags})
    elif command == "scheduler jobs describe":
        job = state.get("jobs", {}).get(words[3])
        if job is None:
            return _not_found(words[3])
        print("\t".join([job["schedule"], job["uri"], job["oidc-service-account-email"]]))
    elif words[:4] in (["scheduler", "jobs", "create", "http"], ["scheduler", "jobs", "update", "http"]):
        jobs = state.setdefault("jobs", {})
        if (words[2] == "create") == (words[4] in jobs):
            raise Unknown(f"scheduler jobs {words[2]} {words[4]}: exists={words[4] in jobs}")
        jobs[words[4]] = {k: _flag(flags, k) for k in ("schedule", "uri", "oidc-service-account-email", "oidc-token-audience")}
    else:
        raise Unknown(" ".join(args))
    return 0


def curl(args: list[str], state: State) -> int:
    url = next(a for a in args if a.startswith("https://"))
    method = args[args.index("-X") + 1] if "-X" in args else "GET"
    if "Authorization: Bearer fake-token" not in _header(args):
        raise Unknown("curl without the Authorization header file")
    data = args[args.index("--data") + 1] if "--data" in args else None
    body = json.loads(Path(data[1:]).read_text() if data and data.startswith("@") else data or "null")
    path = url.split("/v1/", 1)[1]
    if url.startswith("https://firestore.googleapis.com/v1/"):
        return _firestore_field(method, path, body, state)
    rules = state.setdefault("rules", {"rulesets": {}, "release": None})
    if method == "GET" and "/releases/cloud.firestore" in path:
        if rules["release"] is None:
            print("curl: (22) The requested URL returned error: 404", file=sys.stderr)
            return 22
        print(json.dumps({"name": path, "rulesetName": rules["release"]}))
    elif method == "GET" and "/rulesets/" in path:
        print(json.dumps({"name": path, "source": rules["rulesets"][path]}))
    elif method == "POST" and path.endswith("/rulesets"):
        name = f"{path}/ruleset-{len(rules['rulesets']) + 1}"
        rules["rulesets"][name] = body["source"]
        print(json.dumps({"name": name}))
    elif method == "POST" and path.endswith("/releases"):
        rules["release"] = body["rulesetName"]
        rules["release_name"] = body["name"]
        print(json.dumps(body))
    elif method == "PATCH" and "/releases/cloud.firestore" in path:
        rules["release"] = body["release"]["rulesetName"]
        print(json.dumps(body["release"]))
    else:
        raise Unknown(f"curl {method} {url}")
    return 0


def _firestore_field(method: str, path: str, body: Any, state: State) -> int:
    """The Firestore Admin API's fields: a field's index configuration, inherited until set."""
    name, _, query = path.partition("?")
    fields = state.setdefault("fields", {})
    if method == "GET" and not query:
        config = fields.get(name, {"usesAncestorConfig": True, "indexes": [
            {"queryScope": "COLLECTION", "fields": [{"fieldPath": name.rsplit("/", 1)[1], "order": "ASCENDING"}]}]})
        print(json.dumps({"name": name, "indexConfig": config}))
    elif method == "PATCH" and query == "updateMask=indexConfig":
        fields[name] = {"usesAncestorConfig": False, **body["indexConfig"]}
        print(json.dumps({"name": f"{name}/operations/op-1"}))
    else:
        raise Unknown(f"curl {method} firestore {path}")
    return 0


def _header(args: list[str]) -> str:
    """The headers curl sends from files (-H @FILE): how deploy.sh passes the token."""
    files = [value[1:] for flag, value in itertools.pairwise(args) if flag == "-H" and value.startswith("@")]
    return "".join(Path(f).read_text() for f in files)


def _keep_files(home: Path, args: list[str]) -> None:
    """Every file a call names (a condition, a lifecycle rule, the archive), kept in
    files.jsonl: deploy.sh deletes its work directory on exit, and the tests replay the
    calls through the real gcloud, which reads them while parsing its arguments."""
    with (home / "files.jsonl").open("a") as kept:
        for arg in args:
            path = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
            if path.startswith("/") and Path(path).is_file():
                kept.write(json.dumps({"path": path, "content": base64.b64encode(Path(path).read_bytes()).decode()}) + "\n")


def main(argv: list[str]) -> int:
    home = Path(os.environ["FAKE_CLOUD_DIR"])
    tool, args = argv[0], argv[1:]
    with (home / "calls.jsonl").open("a") as calls:
        calls.write(json.dumps([tool, *args]) + "\n")
    _keep_files(home, args)
    state_path = home / "state.json"
    state: State = json.loads(state_path.read_text()) if state_path.exists() else {}
    try:
        code = gcloud(args, state) if tool == "gcloud" else curl(args, state)
    except (Unknown, KeyError, IndexError, StopIteration, ValueError) as error:
        print(f"fake {tool}: unexpected call {args}: {error!r}", file=sys.stderr)
        return 3
    state_path.write_text(json.dumps(state, indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
