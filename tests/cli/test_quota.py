"""ResourceQuota in the CLI (apply, get quota, describe quota), and user strings printed escaped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from functions.objects import event_for
from functions.store import Store
from tests.cli.support import FIXTURES, Cli, data, nothing_written

ESC = "\x1b[31m"


def pod(name: str, machine_type: str | None = None, phase: str = "Running") -> dict[str, object]:
    meta: dict[str, object] = {"name": name, "labels": {"app": "web"}}
    if machine_type:
        meta["annotations"] = {"firecontrol.io/machine-type": machine_type}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "web", "image": "nginx"}]}, "status": {"phase": phase}}


def test_apply_get_and_describe_a_quota(cli: Cli, store: Store) -> None:
    applied = cli("apply", "-f", str(FIXTURES / "quota.yaml"))
    assert applied.code == 0 and applied.out.strip() == "resourcequota/compute created"
    assert data(store, "namespaces/default/resourceQuotas/compute") is not None
    store.client.document("namespaces/default/pods/a").set(pod("a", "e2-standard-2"))
    store.client.document("namespaces/default/pods/b").set(pod("b"))  # the default type, e2-small
    store.client.document("namespaces/default/pods/c").set(pod("c", phase="Succeeded"))  # holds nothing

    table = cli("get", "quota")
    assert table.code == 0, table.err
    header, row = [line for line in table.out.splitlines() if line.strip()]
    assert header.split() == ["NAME", "AGE", "REQUEST", "LIMIT"]
    assert row.startswith("compute")
    assert "count/replicationcontrollers: 0/2, pods: 2/10, requests.cpu: 4/8" in row
    assert row.rstrip().endswith("limits.memory: 10Gi/16Gi")
    assert cli("get", "resourcequotas", "compute").code == 0

    described = cli("describe", "quota", "compute")
    assert described.code == 0, described.err
    lines = described.out.splitlines()
    assert "Name:             compute" in lines
    start = lines.index("Resources:")
    assert [line.split() for line in lines[start + 1:start + 6]] == [
        ["RESOURCE", "USED", "HARD"],
        ["count/replicationcontrollers", "0", "2"],
        ["limits.memory", "10Gi", "16Gi"],
        ["pods", "2", "10"],
        ["requests.cpu", "4", "8"],
    ]
    assert "Problems:" not in described.out
    as_json = json.loads(cli("get", "quota", "compute", "-o", "json").out)
    assert as_json["status"]["used"]["pods"] == "2"

    assert cli("delete", "quota", "compute").code == 0
    assert data(store, "namespaces/default/resourceQuotas/compute") is None


def test_an_invalid_quota_is_not_applied(cli: Cli, store: Store) -> None:
    result = cli("apply", "-f", "-", stdin="""
apiVersion: v1
kind: ResourceQuota
metadata: {name: gpus}
spec: {hard: {nvidia.com/gpu: 1, pods: lots}}
""")
    assert result.code == 1
    assert "ResourceQuota/gpus: spec.hard: 'nvidia.com/gpu' is not a resource this version can limit" in result.err
    assert nothing_written(store) and data(store, "namespaces/default/resourceQuotas/gpus") is None


def test_control_characters_in_user_strings_are_printed_escaped(cli: Cli, store: Store) -> None:
    store.client.document("namespaces/default/pods/web-1").set({
        **pod("web-1"), "metadata": {"name": "web-1", "labels": {"app": f"{ESC}red"},
                                     "annotations": {"note": "\u202eevil\x07"}},
    })
    store.client.document("namespaces/default/replicationControllers/web").set({
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"app": "web"}, "template": {
            "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
        "status": {"conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                   "message": f"{ESC}boom\x1b]0;title\x07\nsecond line"}]},
    })
    store.commit([event_for("ReplicationController", "default", "web", "u", "Hostile", f"{ESC}event\x9b2J")],
                 datetime.now(UTC))

    outputs = [
        cli("describe", "pod", "web-1"), cli("describe", "rc", "web"), cli("get", "events"),
        cli("get", "pods", "-o", "json"), cli("get", "pods", "-o", "yaml"), cli("get", "rc", "-o", "wide"),
    ]
    for result in outputs:
        assert result.code == 0, result.err
        for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert raw not in result.out + result.err, (raw, result.out)
    pod_text, rc_text, events_text = outputs[0].out, outputs[1].out, outputs[2].out
    assert "app=\\x1b[31mred" in pod_text and "note=\\u202eevil\\x07" in pod_text
    assert "\\x1b[31mboom\\x1b]0;title\\x07\\nsecond line" in rc_text
    assert "\\x1b[31mevent\\x9b2J" in events_text
    assert json.loads(outputs[3].out)["items"][0]["metadata"]["labels"]["app"] == f"{ESC}red"  # data kept exact
