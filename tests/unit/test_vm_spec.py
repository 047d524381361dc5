"""vm_spec: the pod as the agent's metadata (docs/agent-protocol.md §1), and the VM's
cloud-config, which carries the agent and no user input."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any

import yaml

from functions.api.parse import parse_pod
from functions.api.pod import Pod
from functions.vm_spec import instance_spec, metadata_entries, pod_metadata
from tests.helpers import pod_doc

AGENT = Path(__file__).resolve().parents[2] / "functions" / "vm" / "agent.sh"
HOSTILE = "$(reboot) `x` ; rm -rf / #\n'\"\\ ünï ☃ --privileged\n"


def pod(containers: list[dict[str, Any]], **spec: Any) -> Pod:
    doc = pod_doc("web-abcde", {"app": "web"})
    doc["spec"] = {"containers": containers, **spec}
    parsed = parse_pod(doc, "default", "web-abcde")
    assert parsed.obj is not None, parsed.errors
    return parsed.obj


def test_defaults() -> None:
    items = pod_metadata(pod([{"name": "web", "image": "nginx"}]))
    assert items == {
        "fc-grace-seconds": "30", "fc-restart-policy": "Always", "fc-containers": "1",
        "fc-c0-name": "web", "fc-c0-image": "nginx", "fc-c0-env": "0", "fc-c0-command": "0", "fc-c0-args": "0",
    }


def test_restart_policy_and_grace_in_kubernetes_words() -> None:
    items = pod_metadata(pod([{"name": "web", "image": "nginx"}], restartPolicy="OnFailure",
                             terminationGracePeriodSeconds=5))
    assert (items["fc-restart-policy"], items["fc-grace-seconds"]) == ("OnFailure", "5")


def test_probes_with_kubernetes_defaults_and_named_ports_resolved() -> None:
    items = pod_metadata(pod([{
        "name": "web", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"port": "http", "path": "healthz",
                                       "httpHeaders": [{"name": "X-A", "value": HOSTILE.replace("\n", "")}]}},
        "livenessProbe": {"tcpSocket": {"port": 8080, "host": "10.0.0.1"}, "periodSeconds": 5,
                          "failureThreshold": 7, "initialDelaySeconds": 3, "timeoutSeconds": 2},
        "startupProbe": {"exec": {"command": ["cat", HOSTILE]}},
    }]))
    assert items["fc-c0-readiness"] == "http"
    assert items["fc-c0-readiness-port"] == "8080"  # the name "http", resolved
    assert items["fc-c0-readiness-path"] == "/healthz" and items["fc-c0-readiness-scheme"] == "HTTP"
    assert "fc-c0-readiness-host" not in items  # absent: the agent uses 127.0.0.1
    assert items["fc-c0-readiness-headers"] == "1"
    assert items["fc-c0-readiness-header0-name"] == "X-A"
    assert items["fc-c0-readiness-header0-value"] == HOSTILE.replace("\n", "")
    assert items["fc-c0-readiness-timing"] == "0 10 1 1 3"  # Kubernetes' defaults
    assert (items["fc-c0-liveness"], items["fc-c0-liveness-port"], items["fc-c0-liveness-host"]) == \
        ("tcp", "8080", "10.0.0.1")
    assert items["fc-c0-liveness-timing"] == "3 5 2 1 7"
    assert items["fc-c0-startup"] == "exec"
    assert [items["fc-c0-startup-command"], items["fc-c0-startup-command0"], items["fc-c0-startup-command1"]] == \
        ["2", "cat", HOSTILE]


def test_prestop_handlers() -> None:
    items = pod_metadata(pod([
        {"name": "a1", "image": "nginx", "lifecycle": {"preStop": {"sleep": {"seconds": 4}}}},
        {"name": "b1", "image": "nginx", "ports": [{"name": "admin", "containerPort": 9000}],
         "lifecycle": {"preStop": {"httpGet": {"port": "admin", "path": "/drain", "scheme": "HTTPS"}}}},
        {"name": "c1", "image": "nginx", "lifecycle": {"preStop": {"exec": {"command": ["nginx", "-s", "quit"]}}}},
    ]))
    assert (items["fc-c0-prestop"], items["fc-c0-prestop-seconds"]) == ("sleep", "4")
    assert (items["fc-c1-prestop"], items["fc-c1-prestop-port"], items["fc-c1-prestop-path"],
            items["fc-c1-prestop-scheme"]) == ("http", "9000", "/drain", "HTTPS")
    assert [items[f"fc-c2-prestop-command{j}"] for j in range(3)] == ["nginx", "-s", "quit"]
    assert not any(key.startswith("fc-c0-prestop-port") for key in items)


def test_hostile_strings_stay_single_values() -> None:
    p = pod([{"name": "web", "image": "nginx", "command": [HOSTILE], "args": [HOSTILE, "--x"],
              "env": [{"name": "E", "value": HOSTILE}]}])
    items = pod_metadata(p)
    assert [items["fc-c0-command0"], items["fc-c0-arg0"], items["fc-c0-arg1"], items["fc-c0-env0-value"]] == \
        [HOSTILE, HOSTILE, "--x", HOSTILE]
    assert sum(HOSTILE in value for value in items.values()) == 3  # never joined into another value
    spec = instance_spec(p, "fc", status_url="https://r-p.cloudfunctions.net/pod_status")
    assert HOSTILE not in spec.metadata["user-data"]


def test_entries_name_the_field_each_value_comes_from() -> None:
    p = pod([{"name": "web", "image": "nginx", "args": ["a"],
              "readinessProbe": {"exec": {"command": ["true"]}}}])
    paths = {key: path for path, key, _ in metadata_entries(p)}
    assert paths["fc-c0-arg0"] == "spec.containers[0].args[0]"
    assert paths["fc-c0-readiness-command0"] == "spec.containers[0].readinessProbe.exec.command[0]"


def test_agent_keys_only_with_a_status_url() -> None:
    p = pod([{"name": "web", "image": "nginx"}])
    plain = instance_spec(p, "fc").metadata
    assert not {"fc-agent", "fc-status-url", "fc-heartbeat-seconds"} & plain.keys()
    reporting = instance_spec(p, "fc", status_url="https://x.example/pod_status", heartbeat=45).metadata
    assert (reporting["fc-agent"], reporting["fc-status-url"], reporting["fc-heartbeat-seconds"]) == \
        ("1", "https://x.example/pod_status", "45")
    assert reporting["firecontrol-pod"] == "default/web-abcde"


def test_cloud_config_installs_the_agent_as_a_service_for_the_vms_life() -> None:
    user_data = instance_spec(pod([{"name": "web", "image": "nginx"}]), "fc").metadata["user-data"]
    assert user_data.startswith("#cloud-config\n")
    config = yaml.safe_load(user_data)
    agent, unit = config["write_files"]
    assert agent["encoding"] == "gz+b64"
    assert gzip.decompress(base64.b64decode(agent["content"])) == AGENT.read_bytes()
    assert "Type=simple" in unit["content"] and "Restart=always" in unit["content"]
    assert f"ExecStart=/bin/bash {agent['path']}" in unit["content"]
    assert ["systemctl", "start", "firecontrol-agent.service"] in config["runcmd"]
