"""Admission: everything about a pod that the pod runtime or Compute Engine would refuse.

One check, called by the pod runtime before it makes a VM and by the replication
manager on the pod its template would make, so a template the controller accepts
makes pods the runtime accepts (no create, fail, delete loop). The model (``Pod``)
has already checked the form of every field; this adds what depends on the
installation (its region, its machine types) and on Compute Engine's limits for what
the VM carries: metadata sizes and label values. Messages start with the field path.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping

from functions.api.names import GCE_ZONE
from functions.api.pod import Pod
from functions.api.vm_metadata import metadata_entries
from functions.config import Settings

MACHINE_TYPE_ANNOTATION = "firecontrol.io/machine-type"
ZONE_ANNOTATION = "firecontrol.io/zone"

# Compute Engine: all metadata of a VM at most 512 KB, one value at most 256 KB.
MAX_METADATA_TOTAL = 512 * 1024
MAX_METADATA_VALUE = 256 * 1024
# What firecontrol itself puts in a VM's metadata (cloud-init user-data with the
# launcher, the pod's reference, ssh and OS Login keys): a test holds vm_spec to it.
RESERVED_METADATA = 16 * 1024
# Compute Engine label values: empty or at most 63 lower-case letters, digits, '_' and '-'.
GCE_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}\Z")


def pod_problems(
    pod: Pod, namespace: str, name: str, settings: Settings, own_vm: str | Collection[str] | None = None
) -> list[str]:
    """What the pod runtime would refuse in ``pod``, one message per problem, path first.

    ``own_vm`` is the VM firecontrol made (or would make) for this pod, or the names it
    may have (old and new naming schemes): a ``spec.nodeName`` naming it is ours; any other was written by someone else, and
    would point the pod (and its services' pools) at a VM that is not its own.
    """
    annotations = pod.metadata.annotations
    problems = [
        *zone_problems(annotations, settings.region),
        *machine_type_problems(annotations, settings.machine_types),
    ]
    node = pod.spec.node_name
    own = {own_vm} if isinstance(own_vm, str) else set(own_vm or ())
    if node is not None and node not in own:
        problems.append(f"spec.nodeName: {node[:80]!r} is not this pod's VM; leave it unset, firecontrol sets it")
    problems += label_problems(pod, namespace, name)
    problems += metadata_problems(pod, namespace, name)
    return problems


def zone_of(annotations: Mapping[str, str]) -> str | None:
    """The zone a pod asks for, or None (the installation's zone); ValueError names a bad one."""
    asked = annotations.get(ZONE_ANNOTATION)
    if asked is None:
        return None
    if not GCE_ZONE.match(asked):
        raise ValueError(
            f"metadata.annotations[{ZONE_ANNOTATION!r}]: {asked[:80]!r} is not a zone such as 'us-central1-a'"
        )
    return asked


def zone_problems(annotations: Mapping[str, str], region: str) -> list[str]:
    try:
        zone = zone_of(annotations)
    except ValueError as error:
        return [str(error)]
    if zone is not None and zone.rsplit("-", 1)[0] != region:
        return [
            f"metadata.annotations[{ZONE_ANNOTATION!r}]: {zone!r} is not in this installation's region "
            f"{region!r} (its load balancers are regional)"
        ]
    return []


def machine_type_problems(annotations: Mapping[str, str], allowed: tuple[str, ...]) -> list[str]:
    asked = annotations.get(MACHINE_TYPE_ANNOTATION)
    if asked is None or asked in allowed:
        return []
    return [
        f"metadata.annotations[{MACHINE_TYPE_ANNOTATION!r}]: {asked[:80]!r} is not allowed in this "
        f"installation; allowed machine types: {', '.join(allowed)} (FIRECONTROL_MACHINE_TYPES)"
    ]


def label_problems(pod: Pod, namespace: str, name: str) -> list[str]:
    """The VM is labelled with the pod's name, namespace and uid: each must be a label value."""
    problems = []
    for path, value in (("metadata.name", name), ("metadata.namespace", namespace), ("metadata.uid", pod.metadata.uid)):
        if value and not GCE_LABEL_VALUE.match(value):
            problems.append(
                f"{path}: {value[:80]!r} cannot label the pod's VM: Compute Engine label values are at "
                "most 63 lower-case letters, digits, '_' and '-'"
            )
    return problems


def metadata_items(pod: Pod, namespace: str, name: str) -> Iterator[tuple[str, str, str]]:
    """(field path, metadata key, value) of every metadata entry made from the pod's own
    strings: its reference, and what ``api.vm_metadata.metadata_entries`` lays out (one source)."""
    yield "metadata.name", "firecontrol-pod", f"{namespace}/{name}"
    yield from metadata_entries(pod)


def _bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def metadata_problems(pod: Pod, namespace: str, name: str) -> list[str]:
    """Compute Engine's metadata limits on what the VM would carry: each value at most
    256 KiB, and all of it, with firecontrol's own entries, at most 512 KiB."""
    problems = []
    total = RESERVED_METADATA
    for path, key, value in metadata_items(pod, namespace, name):
        size = _bytes(value)
        total += _bytes(key) + size
        if size > MAX_METADATA_VALUE:
            problems.append(
                f"{path}: {size} bytes; Compute Engine allows at most {MAX_METADATA_VALUE} (256 KiB) "
                "in one VM metadata value"
            )
    if total > MAX_METADATA_TOTAL:
        problems.append(
            f"spec.containers: the pod's names, images, commands, args and env come to "
            f"{total - RESERVED_METADATA} bytes of VM metadata; with firecontrol's own "
            f"{RESERVED_METADATA}, Compute Engine allows at most {MAX_METADATA_TOTAL} (512 KiB) per VM"
        )
    return problems
