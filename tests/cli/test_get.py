"""get: tables per kind, -o wide|json|yaml, -l, -A, not found, and -w."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest
import yaml

from functions.objects import event_for
from functions.store import Store
from tests.cli.support import FIXTURES, SHARED_FIXTURES, Cli

CREATED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def app(cli: Cli, store: Store) -> Store:
    """The app of app.yaml, with statuses as the functions would write them."""
    assert cli("apply", "-f", str(FIXTURES / "app.yaml")).code == 0
    doc = store.client.document
    doc("namespaces/default/replicationControllers/web").update(
        {"status": {"replicas": 2, "readyReplicas": 1}, "metadata.creationTimestamp": CREATED})
    doc("namespaces/default/pods/debug").update(
        {"spec.nodeName": "fc-0a1b-debug", "status": {"phase": "Running", "podIP": "10.128.0.7"}})
    doc("namespaces/default/services/web").update(
        {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}})
    return store


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


def test_tables_of_each_kind(cli: Cli, app: Store) -> None:
    rc = cli("get", "rc")
    assert rc.code == 0
    assert rows(rc.out)[0] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert rows(rc.out)[1][:4] == ["web", "3", "2", "1"]
    assert rows(rc.out)[1][4].endswith("d")  # created in 2024: days old

    pods = cli("get", "pods", "-o", "wide")
    assert rows(pods.out) == [["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"],
                              ["debug", "0/1", "Running", "0", rows(pods.out)[1][4], "10.128.0.7", "fc-0a1b-debug"]]

    svc = cli("get", "svc")
    assert rows(svc.out)[0] == ["NAME", "TYPE", "EXTERNAL-IP", "PORTS", "AGE"]
    assert rows(svc.out)[1][:4] == ["web", "LoadBalancer", "203.0.113.7", "80/TCP"]


def test_json_and_yaml_output(cli: Cli, app: Store) -> None:
    one = cli("get", "rc", "web", "-o", "json")
    doc = json.loads(one.out)
    assert doc["kind"] == "ReplicationController" and doc["spec"]["replicas"] == 3
    assert doc["metadata"]["creationTimestamp"] == "2024-05-01T12:00:00Z"

    listed = yaml.safe_load(cli("get", "services", "-o", "yaml").out)
    assert listed["kind"] == "List"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["web"]


def test_label_selector(cli: Cli, app: Store) -> None:
    assert [r[0] for r in rows(cli("get", "pods", "-l", "app=debug").out)[1:]] == ["debug"]
    none = cli("get", "pods", "-l", "app=debug,tier=front")
    assert (none.code, none.out) == (0, "")
    assert "No pods found in namespace 'default'." in none.err
    bad = cli("get", "pods", "-l", "app!=web")
    assert bad.code == 2 and "only equality" in bad.err


def test_2014_document_in_the_table(cli: Cli, store: Store) -> None:
    assert cli("apply", "-f", str(SHARED_FIXTURES / "rc-2014.json")).code == 0
    result = cli("get", "rc", "-l", "name=nginx", "-o", "wide")
    assert rows(result.out)[1][:3] == ["nginx-controller", "2", "0"]
    assert "dockerfile/nginx" in result.out


def test_events_and_all_namespaces(cli: Cli, app: Store) -> None:
    event = event_for("ReplicationController", "default", "web", "u-1", "SuccessfulCreate", "Created pod: web-abcde")
    app.commit([event], datetime.now(UTC))
    result = cli("get", "events")
    assert rows(result.out)[0] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE", "COUNT"]
    assert rows(result.out)[1][1:] == ["Normal", "SuccessfulCreate", "replicationcontroller/web", "Created", "pod:", "web-abcde", "1"]

    assert cli("apply", "-f", str(FIXTURES / "app" / "api-rc.yaml"), "-n", "team").code == 0
    everywhere = rows(cli("get", "rc", "-A").out)
    assert everywhere[0][0] == "NAMESPACE"
    assert [r[:2] for r in everywhere[1:]] == [["default", "web"], ["team", "api"]]


def test_not_found_and_unknown_kind(cli: Cli, app: Store) -> None:
    missing = cli("get", "rc", "web", "nope")
    assert missing.code == 1
    assert 'replicationcontrollers "nope" not found' in missing.err
    assert rows(missing.out)[1][0] == "web"  # what exists is still shown
    unknown = cli("get", "statefulsets")
    assert unknown.code == 2 and "unknown resource type 'statefulsets'" in unknown.err


def test_watch_prints_changes_until_timeout(cli: Cli, app: Store) -> None:
    def change() -> None:
        time.sleep(1.5)  # the watch's first snapshot comes in well under this
        app.client.document("namespaces/default/pods/web-x1").set(
            {"metadata": {"name": "web-x1", "labels": {"app": "web"}}, "spec": {}, "status": {"phase": "Pending"}})
        app.client.document("namespaces/default/pods/debug").update({"status.phase": "Succeeded"})

    writer = threading.Thread(target=change)
    writer.start()
    started = time.monotonic()
    result = cli("get", "pods", "-w", "--timeout", "3.5")
    writer.join()
    assert result.code == 0
    assert time.monotonic() - started >= 3.4
    lines = rows(result.out)
    assert lines[:2] == [["NAME", "READY", "STATUS", "RESTARTS", "AGE"], ["debug", "0/1", "Running", "0", lines[1][4]]]
    assert [line[:2] + line[3:4] for line in lines[2:]] == [["ADDED", "web-x1", "Pending"], ["MODIFIED", "debug", "Succeeded"]]


def test_pods_show_what_their_agents_report(cli: Cli, app: Store) -> None:
    """kubectl's READY, STATUS and RESTARTS: a crash-looping container shows its reason,
    not the pod's phase; describe shows each container's state and last exit."""
    crashing = {"name": "debug", "ready": False, "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff",
                                      "message": "back-off 40s restarting failed container=debug"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}
    app.client.document("namespaces/default/pods/debug").update(
        {"status.containerStatuses": [crashing], "status.phase": "Running"})
    [header, row] = rows(cli("get", "pods").out)
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row[:4] == ["debug", "0/1", "CrashLoopBackOff", "3"]
    described = cli("describe", "pod", "debug").out
    assert "Waiting (CrashLoopBackOff): back-off 40s restarting failed container=debug" in described
    assert "restarts 3" in described and "last Terminated (Error, exit 1)" in described

    done = {"name": "debug", "ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    app.client.document("namespaces/default/pods/debug").update(
        {"status.containerStatuses": [done], "status.phase": "Succeeded"})
    assert rows(cli("get", "pods").out)[1][:3] == ["debug", "0/1", "Completed"]
    app.client.document("namespaces/default/pods/debug").update(
        {"status.phase": "Failed", "status.reason": "NodeLost", "status.containerStatuses": []})
    assert rows(cli("get", "pods").out)[1][:3] == ["debug", "0/1", "NodeLost"]


def test_json_and_yaml_print_the_served_v1_object_of_a_2014_document(cli: Cli, store: Store) -> None:
    """The same object kube_api serves (functions/served.py), not the stored v1beta1 mix."""
    assert cli("apply", "-f", str(SHARED_FIXTURES / "rc-2014.json")).code == 0
    store.client.document("namespaces/default/replicationControllers/nginx-controller").update(
        {"status": {"replicas": 2, "specHash": "abc"}})
    one = json.loads(cli("get", "rc", "nginx-controller", "-o", "json").out)
    assert (one["apiVersion"], one["kind"], one["metadata"]["name"]) == ("v1", "ReplicationController", "nginx-controller")
    assert one["metadata"]["namespace"] == "default" and one["metadata"]["resourceVersion"].isdigit()
    assert one["spec"]["selector"] == {"name": "nginx"} and one["spec"]["template"]["spec"]["containers"]
    assert "desiredState" not in one and "id" not in one
    assert one["status"] == {"replicas": 2}
    assert json.loads(one["metadata"]["annotations"]["firecontrol.io/status"]) == {"specHash": "abc"}
    listed = yaml.safe_load(cli("get", "rc", "-o", "yaml").out)
    assert [item["metadata"]["name"] for item in listed["items"]] == ["nginx-controller"]
    assert listed["items"][0]["spec"]["replicas"] == 2


def test_a_pod_stored_with_the_old_address_spelling_shows_its_ip_in_wide(cli: Cli, store: Store) -> None:
    """Documents written before issue 13 have ``status.podIp``: read with either spelling."""
    store.client.document("namespaces/default/pods/old").set(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "old"},
         "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}], "nodeName": "fc-old"},
         "status": {"phase": "Running", "podIp": "10.0.0.4", "hostIp": "10.0.0.4"}})
    [header, row] = rows(cli("get", "pods", "-o", "wide").out)
    assert row[header.index("IP")] == "10.0.0.4" and row[header.index("NODE")] == "fc-old"


def test_watch_as_json_says_deleted_as_kubectl_does(cli: Cli, app: Store) -> None:
    """Firestore calls a gone document REMOVED; kubectl's watch events say DELETED."""
    def change() -> None:
        time.sleep(1.5)
        app.client.document("namespaces/default/pods/debug").delete()

    writer = threading.Thread(target=change)
    writer.start()
    result = cli("get", "pods", "-w", "-o", "json", "--timeout", "3.5")
    writer.join()
    assert result.code == 0
    decoder, text, events = json.JSONDecoder(), result.out, []
    while text.strip():
        value, end = decoder.raw_decode(text.lstrip())
        events.append(value)
        text = text.lstrip()[end:]
    assert [(e.get("type"), e.get("object", e)["metadata"]["name"]) for e in events[1:]] == [("DELETED", "debug")]
