"""``logs POD [-c CONTAINER] [-f] [--tail N]``: a container's output, read back from its VM.

The pod's agent writes every line a container prints to the VM's serial port 2 as
``fc-log {container} {line}`` (docs/agent-protocol.md §2), and Compute Engine keeps the
last megabyte of each port. This reads it with ``instances.getSerialPortOutput``
through the cloud provider, as anyone allowed to read the VM can: no logging agent on
the VM, no extra IAM, and the same call on the Compute emulator. Other lines on the
port are not a container's and are skipped; a line still being written (no newline
yet) waits for the next read.

A finished pod's VM is deleted, but the pod runtime first keeps the last 256 KiB of its
output (``functions/controllers/pod_logs.py``): a pod whose VM is gone prints that, as ``kubectl
logs`` does for a finished pod; ``-f`` prints it and ends, nothing more will come.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from functions.api.shapes import as_list, as_map
from functions.cli.errors import CliError
from functions.cli.output import visible

if TYPE_CHECKING:
    from functions.cloudprovider import CloudProvider
    from functions.store import Doc, Store

PORT = 2
PREFIX = "fc-log "
FOLLOW_INTERVAL = 1.0  # seconds between reads with -f
# A read returns at most what Compute keeps (1 MiB); more than this many reads in a row
# that each bring new bytes means a writer outpaces us: print what we have.
MAX_READS = 16


def container_names(pod: dict[str, Any]) -> list[str]:
    spec = as_map(pod.get("spec"))
    return [str(as_map(c).get("name")) for c in as_list(spec.get("containers")) if as_map(c).get("name")]


def choose_container(pod_name: str, names: list[str], wanted: str | None) -> str:
    """The container to show: the one asked for, or the pod's only one (as kubectl)."""
    if wanted is not None:
        if wanted not in names:
            raise CliError(f"error: container {wanted} is not valid for pod {pod_name}, "
                           f"choose one of: [{' '.join(names)}]")
        return wanted
    if len(names) == 1:
        return names[0]
    if not names:
        raise CliError(f"error: pod {pod_name} has no containers")
    raise CliError(f"error: a container name must be specified for pod {pod_name}, choose one of: [{' '.join(names)}]")


@dataclass
class Lines:
    """Serial output fed in pieces, cut into whole lines; one container's texts out."""

    container: str
    partial: str = ""
    _prefix: str = field(init=False)

    def __post_init__(self) -> None:
        self._prefix = f"{PREFIX}{self.container} "

    def feed(self, text: str) -> list[str]:
        whole, newline, self.partial = (self.partial + text).rpartition("\n")
        if not newline:
            return []
        return [line for line in (self._text(raw) for raw in whole.split("\n")) if line is not None]

    def _text(self, raw: str) -> str | None:
        raw = raw.removesuffix("\r")
        if raw == f"{PREFIX}{self.container}":
            return ""
        return raw[len(self._prefix):] if raw.startswith(self._prefix) else None


def printable(text: str) -> str:
    """A container's line as it may reach a terminal: tabs kept, other control
    characters and bidi controls escaped (output.visible), so output cannot drive the
    terminal or read other than it is."""
    return "\t".join(visible(part) for part in text.split("\t"))


@dataclass(frozen=True)
class Vm:
    name: str
    zone: str | None


def vm_of(doc: Doc, cluster: str) -> Vm:
    """The pod's VM, as the pod runtime names and places it; an error for a pod without one yet."""
    from functions.controllers.pods import vm_name_of, vm_zone_of

    node = as_map(doc.data.get("spec")).get("nodeName")
    if not isinstance(node, str) or not node:
        phase = as_map(doc.data.get("status")).get("phase") or "Pending"
        raise CliError(f"error: pod {doc.name} has no VM yet (phase {visible(str(phase))}): "
                       "its containers have not started, so there is no output to show")
    return Vm(vm_name_of(doc, cluster), vm_zone_of(doc))


@dataclass
class Port:
    """The VM's serial port 2, read on from where the last read stopped."""

    cloud: CloudProvider
    vm: Vm
    start: int = 0

    def more(self) -> str:
        """What was written since the last read, in as many reads as Compute needs."""
        found = []
        for _ in range(MAX_READS):
            text, after = self.cloud.get_serial_output(self.vm.name, self.vm.zone, PORT, self.start)
            found.append(text)
            if after <= self.start or not text:
                break
            self.start = after
        return "".join(found)


def run(store: Store, cloud_for: Callable[[], CloudProvider], cluster: str, pod_name: str, namespace: str,
        container: str | None, follow: bool, tail: int | None, stream: TextIO | None = None,
        sleep: Callable[[float], None] = time.sleep) -> int:
    from functions.cloudprovider import NotFoundError
    from functions.store import PODS, doc_path

    out = stream or sys.stdout
    doc = store.get(doc_path(namespace, PODS, pod_name))
    if doc is None:
        raise CliError(f'error: pods "{pod_name}" not found in namespace {namespace!r}')
    chosen = choose_container(pod_name, container_names(doc.data), container)
    vm = vm_of(doc, cluster)
    port, lines = Port(cloud_for(), vm), Lines(chosen)
    try:
        try:
            first = port.more()
        except NotFoundError:
            _write(out, _last(lines.feed(_kept(store, doc, vm)), tail))
            return 0  # with -f too: the pod is finished, nothing more will be written
        _write(out, _last(lines.feed(first), tail))
        while follow:
            sleep(FOLLOW_INTERVAL)
            _write(out, lines.feed(port.more()))
    except NotFoundError:
        return 0  # followed until the pod's VM went: nothing more will be written
    except KeyboardInterrupt:
        if follow:
            return 0
        raise
    return 0


def _last(found: list[str], tail: int | None) -> list[str]:
    if tail is None or tail < 0:  # kubectl's -1: everything
        return found
    return found[-tail:] if tail > 0 else []


def _kept(store: Store, doc: Doc, vm: Vm) -> str:
    """The output the pod runtime kept when it released the VM of this pod (not of an
    earlier pod of the same name), as ``fc-log`` lines; an error when there is none."""
    from functions.controllers.pod_logs import saved_text
    from functions.objects import doc_uid

    saved = saved_text(store, doc.namespace, doc.name, doc_uid(doc))
    if saved is None:
        raise CliError(f"error: the VM {vm.name} of pod {doc.name} is gone (the pod is being deleted "
                       "or replaced): its output went with it")
    return saved[0]


def _write(out: TextIO, texts: list[str]) -> None:
    if texts:
        out.write("".join(printable(t) + "\n" for t in texts))
        out.flush()
