"""A finished pod's output, kept after its VM goes: ``namespaces/{ns}/podLogs/{pod}``.

A container's output lives on its VM's serial port 2 (docs/agent-protocol.md §2), so it
would go with the VM. Kubernetes keeps a finished pod's logs until the pod is deleted,
and people debug failed pods that way; so before the pod runtime releases the VM of a
Succeeded or Failed pod it reads the port once and stores the ``fc-log`` lines, the
newest ``LIMIT`` bytes of them, in the same commit as the release. Best effort: a VM
already gone or Compute failing is logged and the release goes on without them. The
document goes with the pod's; no trigger watches this collection.

``keep`` is the pure part (which lines, where to cut); ``read_port`` the one read
(the pod runtime catches its errors); ``save_writes`` what the release commits;
``saved_text`` what ``logs`` prints from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from functions.cloudprovider import CloudProvider
from functions.logs import ref_fields
from functions.store import Create, Delete, Doc, StaleWrite, Store, Update, Write, doc_path

log = logging.getLogger("firecontrol.pod_logs")

POD_LOGS = "podLogs"
PORT = 2  # the agent's output port (docs/agent-protocol.md §2)
PREFIX = "fc-log "
LIMIT = 256 * 1024  # bytes of UTF-8 kept per pod: the newest, whole lines
# Compute keeps the last MiB of a port and answers at most that much per read: a few
# reads are enough even while a container still writes, and bound the work if not.
MAX_READS = 4


@dataclass(frozen=True)
class Kept:
    """The lines kept (each ending in a newline) and whether any output was left out."""

    text: str
    truncated: bool


def pod_logs_path(namespace: str, name: str) -> str:
    return doc_path(namespace, POD_LOGS, name)


def _utf8(text: str) -> str:
    """Text Firestore stores: a lone surrogate (a JSON ``\\ud800``) becomes ``?``."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _head(line: str, limit: int) -> str:
    """The start of ``line`` in at most ``limit`` bytes of UTF-8, never half a character."""
    return line.encode("utf-8")[:limit].decode("utf-8", "ignore")


def keep(raw: str, clipped: bool = False, limit: int = LIMIT) -> Kept:
    """The ``fc-log`` lines of a port's output, the newest that fit in ``limit`` bytes of
    UTF-8, cut at a line boundary. ``clipped``: Compute no longer had the port's first
    bytes, so the first line may be the end of a longer one (and could look like another
    container's line): it is dropped. A last line without its newline (the VM stopped
    mid-write) is kept, ended. One line alone longer than ``limit`` keeps its start."""
    lines = _utf8(raw).split("\n")
    last = lines.pop()
    if clipped and lines:
        lines.pop(0)
    elif clipped:
        last = ""
    if last:
        lines.append(last)
    chosen = [line for line in lines if line.startswith(PREFIX)]
    kept: list[str] = []
    size, cut = 0, False
    for line in reversed(chosen):
        need = len(line.encode("utf-8")) + 1
        if size + need > limit:
            if not kept:
                kept.append(_head(line, limit - 1))
            cut = True
            break
        kept.append(line)
        size += need
    return Kept("".join(line + "\n" for line in reversed(kept)), truncated=clipped or cut)


def read_port(cloud: CloudProvider, vm: str, zone: str | None) -> tuple[str, bool]:
    """What the VM's port 2 holds, and whether Compute had dropped its first bytes."""
    found: list[str] = []
    start, clipped = 0, False
    for attempt in range(MAX_READS):
        text, after = cloud.get_serial_output(vm, zone, PORT, start)
        if attempt == 0:  # asked from byte 0: text that ends past its own length began later
            clipped = after - len(_utf8(text).encode("utf-8")) > 0
        found.append(text)
        if after <= start or not text:
            break
        start = after
    return "".join(found), clipped


def save_writes(store: Store, pod: Doc, uid: str, vm: str, kept: Kept, now: datetime) -> list[Write]:
    """The write keeping the pod's output, for the release's commit: over an earlier pod's
    of the same name, or this pod's from a pass that lost a race, guarded."""
    data = {"text": kept.text, "vm": vm, "podUid": uid, "savedAt": now, "truncated": kept.truncated}
    path = pod_logs_path(pod.namespace, pod.name)
    existing = store.get(path)
    log.info("pod's output kept", extra=ref_fields("Pod", pod.namespace, pod.name, vm=vm, truncated=kept.truncated,
                                                   bytes=len(kept.text.encode("utf-8"))))
    return [Create(path, data) if existing is None else Update(path, data, existing.update_time)]


def forget_writes(namespace: str, name: str) -> list[Write]:
    """With the pod document's own deletion (a Delete of a missing document is harmless)."""
    return [Delete(pod_logs_path(namespace, name))]


def forget(store: Store, namespace: str, name: str, uid: str) -> bool:
    """Delete the kept output of the pod ``uid``, if that is whose it is (not a newer pod's
    of the same name): for a pod document deleted without the pod runtime."""
    path = pod_logs_path(namespace, name)
    found = store.get(path)
    if found is None or found.data.get("podUid") != uid:
        return False
    try:
        store.commit([Delete(path, if_updated_at=found.update_time)], datetime.now(UTC))
    except StaleWrite:  # written again meanwhile: a newer pod's now
        return False
    return True


def saved_text(store: Store, namespace: str, name: str, uid: str) -> tuple[str, dict[str, Any]] | None:
    """The kept output of the pod ``uid`` (``fc-log`` lines) and its document, or None."""
    found = store.get(pod_logs_path(namespace, name))
    if found is None or found.data.get("podUid") != uid or not isinstance(found.data.get("text"), str):
        return None
    return found.data["text"], found.data
