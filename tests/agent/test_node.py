"""The agent's node duties: service ports with iptables, and graceful termination."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.agent.support import Agent, MetadataServer, Receiver, base_items, reporting, sh, wait_for

Start = Callable[[dict[str, str]], Agent]
CHAIN = "FIRECONTROL-SERVICES"
HOST_CHAIN = "FIRECONTROL-HOSTPORTS"


def rule(ip: str, proto: str, port: str, target: str) -> list[str]:
    return ["-t", "nat", "-A", CHAIN, "-d", ip, "-p", proto, "--dport", port, "-j", "REDIRECT", "--to-ports", target]


def test_service_lines_become_redirects_and_bad_lines_are_ignored(agent: Start, metadata: MetadataServer) -> None:
    items = base_items([sh("app", "exec sleep 30")])
    items["fc-svc-0123456789"] = "tcp 10.1.2.3 80 8080\nudp 10.1.2.3 53 5353\n"
    items["fc-svc-abcdefghij"] = "\n".join([
        "tcp 10.9.9.9 443 8443",
        "tcp 10.9.9.9 80 8080; touch /tmp/pwned",   # extra words
        "tcp 300.1.1.1 80 80",                      # not an address
        "sctp 10.9.9.9 80 80",                      # not tcp or udp
        "tcp 10.9.9.9 0 80",                        # no port 0
        "tcp 10.9.9.9 80 70000",                    # no such port
        "tcp $(reboot) 80 80",
        "-j ACCEPT",
    ])
    items["fc-svc-NOT-OURS!"] = "tcp 10.7.7.7 80 80"
    a = agent(items)
    wait_for(lambda: "service ports: 3 rules" in (a.state / "agent.err").read_text(), what="rules")
    calls = a.iptables()
    assert calls[:4] == [["-t", "nat", "-N", CHAIN], ["-t", "nat", "-C", "PREROUTING", "-j", CHAIN],
                         ["-t", "nat", "-A", "PREROUTING", "-j", CHAIN], ["-t", "nat", "-F", CHAIN]]
    assert [c for c in calls if c[2:4] == ["-A", CHAIN]] == [
        rule("10.1.2.3", "tcp", "80", "8080"), rule("10.1.2.3", "udp", "53", "5353"),
        rule("10.9.9.9", "tcp", "443", "8443")]
    err = (a.state / "agent.err").read_text()
    assert err.count("fc-svc-abcdefghij: ignoring a line") == 7
    assert "ignoring a service port key" in err

    # The VM leaves the first service: the chain is rebuilt with what is left.
    before = len(calls)
    metadata.items = {k: v for k, v in items.items() if k != "fc-svc-0123456789"}
    wait_for(lambda: "service ports: 1 rules" in (a.state / "agent.err").read_text(), seconds=8, what="a rebuild")
    later = a.iptables()[before:]
    assert ["-t", "nat", "-F", CHAIN] in later
    assert [c for c in later if c[2:4] == ["-A", CHAIN]] == [rule("10.9.9.9", "tcp", "443", "8443")]


def test_host_ports_become_redirects_after_the_service_chain(agent: Start) -> None:
    """fc-host-ports (hostPort -> containerPort) are REDIRECTs to any address of the VM, in
    the agent's own chain, hooked after the services' (a load balancer's rule, which names
    its address, comes first); lines that are not three words of numbers are ignored."""
    items = base_items([sh("app", "exec sleep 30")])
    items["fc-svc-0123456789"] = "tcp 10.1.2.3 80 8080"
    items["fc-host-ports"] = "\n".join([
        "tcp 8000 80",
        "udp 5353 53",
        "tcp 8001 80; reboot",   # extra words
        "tcp 0 80",              # no port 0
        "sctp 9000 90",          # not tcp or udp
        "tcp 8002 99999",        # no such port
        "-j ACCEPT",
    ])
    a = agent(items)
    wait_for(lambda: "host ports: 2 rules" in (a.state / "agent.err").read_text(), what="host port rules")
    calls = a.iptables()
    hooks = [c for c in calls if c[2:4] == ["-A", "PREROUTING"]]
    assert hooks == [["-t", "nat", "-A", "PREROUTING", "-j", CHAIN], ["-t", "nat", "-A", "PREROUTING", "-j", HOST_CHAIN]]
    assert ["-t", "nat", "-F", HOST_CHAIN] in calls
    assert [c for c in calls if c[2:4] == ["-A", HOST_CHAIN]] == [
        ["-t", "nat", "-A", HOST_CHAIN, "-p", "tcp", "--dport", "8000", "-j", "REDIRECT", "--to-ports", "80"],
        ["-t", "nat", "-A", HOST_CHAIN, "-p", "udp", "--dport", "5353", "-j", "REDIRECT", "--to-ports", "53"]]
    assert [c for c in calls if c[2:4] == ["-A", CHAIN]] == [rule("10.1.2.3", "tcp", "80", "8080")]
    assert (a.state / "agent.err").read_text().count("fc-host-ports: ignoring a line") == 5


def test_no_host_ports_no_chain(agent: Start) -> None:
    a = agent(base_items([sh("app", "exec sleep 30")]))
    wait_for(lambda: "service ports: 0 rules" in (a.state / "agent.err").read_text(), what="the service chain")
    assert not [c for c in a.iptables() if HOST_CHAIN in c]


def test_terminate_runs_prestop_then_stops_and_reports(
    agent: Start, receiver: Receiver, metadata: MetadataServer, tmp_path: Path
) -> None:
    flag = tmp_path / "prestop ran"
    app = sh("app", "trap 'echo got TERM; exit 0' TERM; while :; do sleep 0.1; done")
    app.update({"prestop": "exec", "prestop-command": "2", "prestop-command0": "touch",
                "prestop-command1": str(flag)})
    stubborn = sh("stubborn", "trap '' TERM; while :; do sleep 0.1; done")
    a = agent(base_items([app, stubborn], **reporting(receiver)))
    wait_for(a.ready, what="Ready")
    metadata.items = {**metadata.items, "fc-terminate": "2"}
    wait_for(lambda: receiver.reports and receiver.reports[-1]["terminating"]
             and all(c["state"] == "terminated" for c in receiver.reports[-1]["containers"]),
             what="a terminated report")
    assert not a.ready() and flag.exists()
    calls = a.calls()
    prestop = calls.index(["exec", "app", "touch", str(flag)])
    stops = [i for i, c in enumerate(calls) if c[:1] == ["stop"]]
    assert len(stops) == 2 and min(stops) > prestop  # preStop first, then SIGTERM
    assert all(calls[i][1:3] == ["--time", "2"] or calls[i][1:3] == ["--time", "1"] for i in stops)
    app_status, stubborn_status = receiver.container("app"), receiver.container("stubborn")
    assert (app_status["exitCode"], app_status["reason"]) == (0, "Completed")
    assert (stubborn_status["exitCode"], stubborn_status["reason"]) == (137, "Error")  # SIGKILL after grace
    first_terminating = next(r for r in receiver.reports if r["terminating"])
    assert all(c["ready"] is False for c in first_terminating["containers"])
    count = len(a.runs("app"))
    wait_for(lambda: len(receiver.reports) > receiver.reports.index(first_terminating) + 1, what="more")
    assert len(a.runs("app")) == count == 1  # nothing restarted after termination
    assert "fc-log app got TERM" in a.serial.read_text()


def test_agent_is_shellcheck_clean() -> None:
    import shutil
    import subprocess

    from tests.agent.support import AGENT, ROOT

    shellcheck = shutil.which("shellcheck") or str(ROOT / ".venv" / "bin" / "shellcheck")
    done = subprocess.run([shellcheck, "--severity=style", str(AGENT)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout


def test_terminate_while_backing_off_reports_every_container_terminated(
    agent: Start, receiver: Receiver, metadata: MetadataServer
) -> None:
    never_ran = {"name": "pull", "image": "standin/missing:1"}
    crashing = sh("crash", "exit 4")
    agent(base_items([never_ran, crashing], **reporting(receiver)))
    wait_for(lambda: receiver.reports and receiver.container("crash")["restartCount"] >= 1, what="a restart")
    metadata.items = {**metadata.items, "fc-terminate": "not a number"}  # the pod's grace then
    last = wait_for(lambda: receiver.reports[-1]["terminating"] and all(
        c["state"] == "terminated" for c in receiver.reports[-1]["containers"]) and receiver.reports[-1],
        what="a terminated report")
    pull, crash = last["containers"]
    assert (pull["reason"], pull["exitCode"]) == ("ContainerStatusUnknown", 137)
    assert (crash["reason"], crash["exitCode"]) == ("Error", 4)
