"""The pod's spec as VM metadata entries, laid out as docs/agent-protocol.md §1 says.

Pure and over the Pod model only: the pod runtime writes these entries on the VM
(``functions/vm_spec.py``) and admission counts the very same ones against Compute's
metadata limits (``functions/api/admission.py``), so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator

from functions.api.pod import (
    Container,
    HTTPGetAction,
    LifecycleHandler,
    Pod,
    Probe,
    TCPSocketAction,
)

PROBES = (("startup", "startup_probe"), ("liveness", "liveness_probe"), ("readiness", "readiness_probe"))


def _port(container: Container, action: HTTPGetAction | TCPSocketAction, at: str) -> str:
    number = container.port_number(action.port)
    if number is None:  # the model refuses this already; never write a name the agent cannot use
        raise ValueError(f"{at}.port: {action.port!r:.80} is not a port of this container")
    return str(number)


def _action(container: Container, handler: Probe | LifecycleHandler, key: str, at: str) -> Iterator[tuple[str, str, str]]:
    """One probe's or preStop handler's keys: its kind, then the kind's own sub-keys."""
    if handler.http_get is not None:
        http, where = handler.http_get, f"{at}.httpGet"
        yield where, key, "http"
        yield f"{where}.port", f"{key}-port", _port(container, http, where)
        yield f"{where}.path", f"{key}-path", http.path
        yield f"{where}.scheme", f"{key}-scheme", http.scheme
        if http.host is not None:
            yield f"{where}.host", f"{key}-host", http.host
        yield f"{where}.httpHeaders", f"{key}-headers", str(len(http.http_headers))
        for j, header in enumerate(http.http_headers):
            yield f"{where}.httpHeaders[{j}].name", f"{key}-header{j}-name", header.name
            yield f"{where}.httpHeaders[{j}].value", f"{key}-header{j}-value", header.value
    elif handler.tcp_socket is not None:
        tcp, where = handler.tcp_socket, f"{at}.tcpSocket"
        yield where, key, "tcp"
        yield f"{where}.port", f"{key}-port", _port(container, tcp, where)
        if tcp.host is not None:
            yield f"{where}.host", f"{key}-host", tcp.host
    elif handler.exec is not None:
        where = f"{at}.exec.command"
        yield f"{at}.exec", key, "exec"
        yield where, f"{key}-command", str(len(handler.exec.command))
        for j, word in enumerate(handler.exec.command):
            yield f"{where}[{j}]", f"{key}-command{j}", word
    elif isinstance(handler, LifecycleHandler) and handler.sleep is not None:
        yield f"{at}.sleep", key, "sleep"
        yield f"{at}.sleep.seconds", f"{key}-seconds", str(handler.sleep.seconds)


def _timing(probe: Probe) -> str:
    return " ".join(str(n) for n in (probe.initial_delay_seconds, probe.period_seconds, probe.timeout_seconds,
                                     probe.success_threshold, probe.failure_threshold))


def metadata_entries(pod: Pod) -> Iterator[tuple[str, str, str]]:
    """(field path, metadata key, value) of every entry made from the pod's spec, laid out
    as docs/agent-protocol.md §1 says: one key per user string, counts and numbers as
    digits. Pure, and depends on the Pod model only, so admission can count the same."""
    spec = pod.spec
    yield "spec.terminationGracePeriodSeconds", "fc-grace-seconds", str(spec.termination_grace_period_seconds)
    yield "spec.restartPolicy", "fc-restart-policy", spec.restart_policy
    yield "spec.containers", "fc-containers", str(len(spec.containers))
    for i, container in enumerate(spec.containers):
        at, key = f"spec.containers[{i}]", f"fc-c{i}"
        yield f"{at}.name", f"{key}-name", container.name
        yield f"{at}.image", f"{key}-image", container.image
        yield f"{at}.env", f"{key}-env", str(len(container.env))
        for j, env in enumerate(container.env):
            yield f"{at}.env[{j}].name", f"{key}-env{j}-name", env.name
            yield f"{at}.env[{j}].value", f"{key}-env{j}-value", env.value
        yield f"{at}.command", f"{key}-command", str(len(container.command))
        for j, word in enumerate(container.command):
            yield f"{at}.command[{j}]", f"{key}-command{j}", word
        yield f"{at}.args", f"{key}-args", str(len(container.args))
        for j, word in enumerate(container.args):
            yield f"{at}.args[{j}]", f"{key}-arg{j}", word
        for kind, field in PROBES:
            probe: Probe | None = getattr(container, field)
            if probe is not None:
                where = f"{at}.{kind}Probe"
                yield from _action(container, probe, f"{key}-{kind}", where)
                yield where, f"{key}-{kind}-timing", _timing(probe)
        pre_stop = container.lifecycle.pre_stop if container.lifecycle else None
        if pre_stop is not None:
            yield from _action(container, pre_stop, f"{key}-prestop", f"{at}.lifecycle.preStop")
    redirects = host_port_redirects(pod)
    if redirects:
        yield "spec.containers[*].ports[*].hostPort", "fc-host-ports", redirects


def host_port_redirects(pod: Pod) -> str:
    """``fc-host-ports``: one line ``tcp|udp HOST_PORT CONTAINER_PORT`` per hostPort other
    than its containerPort, in the spec's order (one equal to it is the VM's port already).
    The agent REDIRECTs each, as it does service ports; the model refused any two that
    would take one port of the VM."""
    return "\n".join(f"{port.protocol.lower()} {port.host_port} {port.container_port}"
                     for container in pod.spec.containers for port in container.ports
                     if port.host_port is not None and port.host_port != port.container_port)
