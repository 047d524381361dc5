"""``rolling-update OLD [NEW] --image IMAGE | -f FILE | --rollback``: kubectl's rolling
update of a replication controller (``pkg/kubectl/rolling_updater.go``), driven from here.

A new controller, told from the old by one selector label (``--deployment-label-key``,
``deployment``: a hash of each template), starts at 0 replicas; then, one step each
``--update-period``, the new one is scaled up within the surge (at most one pod over the
desired count) and the old one down as far as the new pods' readiness allows (never fewer
available than desired: maxUnavailable 0). Each scale is one guarded write; the
functions do the rest. With one name the new controller takes the old one's name at the
end; an interrupted update resumes (annotations on both controllers say where it was), or
goes back with ``--rollback``. ``--timeout`` bounds a wait without progress.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from functions.api import shapes
from functions.api.shapes import as_list, as_map
from functions.cli.changes import ATTEMPTS, must_read
from functions.cli.errors import USAGE, CliError
from functions.cli.kinds import CONTROLLER
from functions.cli.output import Output

if TYPE_CHECKING:
    from functions.store import Doc, Store, Write

PREFIX = "kubectl.kubernetes.io/"
SOURCE_ID = PREFIX + "update-source-id"
DESIRED = PREFIX + "desired-replicas"
ORIGINAL = PREFIX + "original-replicas"
NEXT = PREFIX + "next-controller-id"
MAX_SURGE = 1
MAX_UNAVAILABLE = 0
OWNED = ("uid", "generation", "resourceVersion", "creationTimestamp", "deletionTimestamp", "finalizers")


@dataclass(frozen=True)
class Config:
    namespace: str
    update_period: float
    poll: float
    timeout: float
    out: Output


def check_usage(args: argparse.Namespace) -> None:
    """kubectl's validateArguments."""
    problems = []
    if not args.deployment_label_key:
        problems.append("error: --deployment-label-key can not be empty")
    if not args.rollback:
        if not args.filename and not args.image:
            problems.append("error: Must specify --filename or --image for new controller")
        elif args.filename and args.image:
            problems.append("error: --filename and --image can not both be specified")
    elif args.filename or args.image:
        problems.append("error: Don't specify --filename or --image on rollback")
    if len(args.names) > 2:
        problems.append(f"error: expected OLD_RC [NEW_RC], not {len(args.names)} names: {' '.join(args.names):.200}")
    if problems:
        raise CliError(*problems, code=USAGE)


def _path(namespace: str, name: str) -> str:
    return f"namespaces/{namespace}/{CONTROLLER.collection}/{name}"


def _notes(data: dict[str, Any]) -> dict[str, Any]:
    return as_map(as_map(data.get("metadata")).get("annotations"))


def _uid(doc: Doc) -> str:
    from functions.objects import object_uid

    uid = as_map(doc.data.get("metadata")).get("uid")
    return uid if isinstance(uid, str) and uid else object_uid(doc.path, doc.create_time)


def _spec(data: dict[str, Any]) -> dict[str, Any]:
    return as_map(data.get("spec"))


def _short_hash(value: Any) -> str:
    from functions.api.controller import spec_hash

    return spec_hash(value)[:8]


def update(
    store: Store, namespace: str, name: str, change: Any, what: str = "",
) -> Doc:
    """Read, change (a function of the data, in place), write with a precondition; again if stale."""
    from functions.store import StaleWrite, Update

    for attempt in range(1, ATTEMPTS + 1):
        doc = must_read(store, CONTROLLER, namespace, name)
        data = copy.deepcopy(doc.data)
        change(data)
        fields = {k: data[k] for k in ("metadata", "spec") if data.get(k) != doc.data.get(k)}
        if not fields:
            return doc
        try:
            store.commit([Update(doc.path, fields, if_updated_at=doc.update_time)], datetime.now(UTC))
        except StaleWrite:
            if attempt == ATTEMPTS:
                raise CliError(f"error: {CONTROLLER.ref(name)} kept changing while {what or 'it was'} written") from None
            continue
        fresh = store.get(doc.path)
        if fresh is None:
            raise CliError(f'error: replicationcontrollers "{name}" was deleted during the update')
        return fresh
    raise AssertionError("unreachable")


def _set_annotations(**values: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        meta = data.setdefault("metadata", {})
        notes = dict(as_map(meta.get("annotations")))
        for key, value in values.items():
            if value is None:
                notes.pop(key, None)
            else:
                notes[key] = value
        meta["annotations"] = notes
    return change


# -- the new controller -------------------------------------------------------------------


def new_from_image(old: Doc, image: str, container: str | None, key: str, new_name: str | None) -> dict[str, Any]:
    """kubectl's CreateNewControllerFromCurrentController: the old one with a new image and
    a ``key: hash`` in its selector and template labels."""
    from functions.api.names import MAX_CONTROLLER_NAME

    data = copy.deepcopy(old.data)
    containers = [as_map(c) for c in as_list(as_map(as_map(_spec(data).get("template")).get("spec")).get("containers"))]
    if not containers:
        raise CliError(f"error: {CONTROLLER.ref(old.name)}: the pod template has no containers")
    index = 0
    if container:
        names = [c.get("name") for c in containers]
        if container not in names:
            raise CliError(f"error: container {container} not found in pod")
        index = names.index(container)
    elif len(containers) > 1:
        raise CliError("error: must specify container to update when updating a multi-container pod")
    if containers[index].get("image") == image:
        raise CliError(f"error: --image {image} is the image the controller already runs; give a new image or tag")
    containers[index]["image"] = image
    digest = _short_hash(_spec(data).get("template"))
    name = new_name or f"{old.name[:MAX_CONTROLLER_NAME - len(digest) - 1]}-{digest}"
    spec = data["spec"]
    spec["selector"] = {**as_map(spec.get("selector")), key: digest}
    template_meta = spec["template"].setdefault("metadata", {})
    template_meta["labels"] = {**as_map(template_meta.get("labels")), key: digest}
    meta = {k: v for k, v in as_map(data.get("metadata")).items() if k not in OWNED}
    meta["name"] = name
    meta["annotations"] = {k: v for k, v in as_map(meta.get("annotations")).items() if not k.startswith(PREFIX)}
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": meta, "spec": spec}


def _from_file(filename: str, old: Doc, namespace: str, max_replicas: int) -> dict[str, Any]:
    from functions.cli.manifests import read

    manifests = read([filename])
    if manifests.errors:
        raise CliError(*manifests.errors)
    if len(manifests.documents) != 1:
        raise CliError(f"error: {filename} specifies multiple items" if manifests.documents
                       else f"error: please make sure {filename} exists and is not empty")
    data = manifests.documents[0].data
    if not isinstance(data, dict) or data.get("kind") != "ReplicationController":
        kind = data.get("kind") if isinstance(data, dict) else type(data).__name__
        raise CliError(f"error: {filename} contains a {kind} not a ReplicationController")
    name = shapes.name_of(data)
    if not name:
        raise CliError(f"error: {filename}: metadata.name is missing")
    data = shapes.as_v1(CONTROLLER, data)
    data = {k: v for k, v in data.items() if k != "status"}
    spec = data.setdefault("spec", {})
    if "replicas" not in spec:  # kubectl: a new controller without replicas takes the old one's
        spec["replicas"] = _spec(old.data).get("replicas", 1)
    parsed = CONTROLLER.validate(data, namespace, name, max_replicas) if CONTROLLER.validate else None
    if parsed is not None and parsed.errors:
        raise CliError(*(f"{filename}: {e}" for e in parsed.errors), "error: nothing was written")
    return data


def add_deployment_key(store: Store, old: Doc, key: str, value: str, next_name: str) -> Doc:
    """kubectl's UpdateExistingReplicationController: the old controller's pods and
    selector get ``key: value`` (its template first, so new pods have it), and pods the
    new selector leaves out are deleted. Each pod is its own guarded write, read again
    when it changed; a pod that cannot be labelled stops the update before the selector
    changes, so no pod of the old controller is ever deleted for a label it lacks."""
    from google.cloud.firestore_v1.field_path import FieldPath

    namespace = old.namespace
    old = update(store, namespace, old.name, _set_annotations(**{NEXT: next_name}))
    if key in as_map(_spec(old.data).get("selector")):
        return old

    def label_template(data: dict[str, Any]) -> None:
        meta = data["spec"]["template"].setdefault("metadata", {})
        meta["labels"] = {**as_map(meta.get("labels")), key: value}

    old = update(store, namespace, old.name, label_template)
    selector = {k: v for k, v in as_map(_spec(old.data).get("selector")).items() if isinstance(v, str)}
    field = FieldPath("metadata", "labels", key).to_api_repr()

    def unlabelled() -> list[Doc]:
        return [p for p in store.pods_matching_or_owned(namespace, selector, None)
                if as_map(as_map(p.data.get("metadata")).get("labels")).get(key) != value]

    failed = {p.path for p in unlabelled() if not _guarded(store, p, lambda _: {field: value})}
    left = [p for p in unlabelled() if p.path in failed]
    if left:
        raise CliError(f"error: {len(left)} pod(s) of {CONTROLLER.ref(old.name)} kept changing while they were "
                       f"labelled {key}={value}: {', '.join(p.name for p in left[:10])}",
                       "error: its selector was not changed and no pod was deleted; run the same command again")

    def select(data: dict[str, Any]) -> None:
        data["spec"]["selector"] = {**as_map(data["spec"].get("selector")), key: value}

    old = update(store, namespace, old.name, select)
    # Pods made from the template as it was before it was labelled: marked, as
    # ``delete pod`` does (the pod runtime removes their VMs, then them).
    from functions import fingerprint

    def mark(pod: Doc) -> dict[str, Any] | None:
        meta = as_map(pod.data.get("metadata"))
        if as_map(meta.get("labels")).get(key) == value or meta.get("deletionTimestamp") is not None:
            return None  # labelled meanwhile (the new selector keeps it), or already leaving
        return {"metadata.deletionTimestamp": datetime.now(UTC), fingerprint.FIELD: fingerprint.LEAVING}

    stuck = [p for p in unlabelled() if not _guarded(store, p, mark)]
    if stuck:
        raise CliError(f"error: {len(stuck)} pod(s) left out by the new selector of {CONTROLLER.ref(old.name)} kept "
                       f"changing while they were marked for deletion: {', '.join(p.name for p in stuck[:10])}")
    return old


def _guarded(store: Store, pod: Doc, fields_for: Callable[[Doc], dict[str, Any] | None]) -> bool:
    """One pod's update with a precondition on its update time, decided again from a fresh
    read if it changed (``fields_for(doc)``: the fields, or None for nothing to do).
    False if it kept changing; a pod gone meanwhile needs nothing."""
    from functions.store import StaleWrite, Update

    current: Doc | None = pod
    for _ in range(ATTEMPTS):
        if current is None:
            return True
        fields = fields_for(current)
        if not fields:
            return True
        try:
            store.commit([Update(current.path, fields, if_updated_at=current.update_time)], datetime.now(UTC))
            return True
        except StaleWrite:
            current = store.get(current.path)
    return current is None


# -- the loop ---------------------------------------------------------------------------


def _has_desired(data: dict[str, Any]) -> bool:
    """kubectl's ControllerHasDesiredReplicas, with the spec-hash check of ``rollout``."""
    from functions.cli.rollout import observed

    replicas = shapes.as_int(_spec(data).get("replicas", 1))
    return observed(data) and shapes.as_int(as_map(data.get("status")).get("replicas", 0)) == replicas


def scale_and_wait(store: Store, config: Config, name: str, replicas: int) -> Doc:
    """Set the replicas, then wait (``--poll-interval``, ``--timeout``) until the controller has them."""

    def change(data: dict[str, Any]) -> None:
        data["spec"]["replicas"] = replicas

    doc = update(store, config.namespace, name, change)
    deadline = time.monotonic() + config.timeout
    with config.out.err.status(f"waiting for {name} to have {replicas} replicas"):
        while not _has_desired(doc.data):
            if time.monotonic() >= deadline:
                raise CliError(f"error: timed out waiting for {CONTROLLER.ref(name)} to have {replicas} replicas")
            time.sleep(config.poll)
            doc = must_read(store, CONTROLLER, config.namespace, name)
    return doc


def available_pods(store: Store, rc: Doc, now: datetime) -> int:
    """Pods of the controller's selector that are ready (for minReadySeconds), not being deleted."""
    from functions.pod_policy import PodInfo

    selector = {k: v for k, v in as_map(_spec(rc.data).get("selector")).items() if isinstance(v, str)}
    min_ready = _spec(rc.data).get("minReadySeconds", 0)
    min_ready = min_ready if isinstance(min_ready, int) else 0
    count = 0
    for doc in store.pods_matching_or_owned(rc.namespace, selector, None) if selector else []:
        pod = PodInfo.from_doc(doc)
        if pod.being_deleted or not pod.ready:
            continue
        if min_ready and (pod.ready_since is None or (now - pod.ready_since).total_seconds() < min_ready):
            continue
        count += 1
    return count


def _replicas(doc: Doc) -> int:
    return shapes.as_int(_spec(doc.data).get("replicas", 1)) or 0


def roll(store: Store, config: Config, old: Doc, new: Doc, desired: int) -> tuple[Doc, Doc]:
    """RollingUpdater.Update's loop: scale up within the surge, wait, scale down within availability."""
    out = config.out
    min_available = max(0, desired - MAX_UNAVAILABLE)
    if desired == 0:
        min_available = 0
    out.line(f"Scaling up {new.name} from {_replicas(new)} to {desired}, scaling down {old.name} from "
             f"{_replicas(old)} to 0 (keep {min_available} pods available, don't exceed {desired + MAX_SURGE} pods)")
    deadline = time.monotonic() + config.timeout
    while _replicas(new) != desired or _replicas(old) != 0:
        before = (_replicas(new), _replicas(old))
        increment = desired - _replicas(new) if _replicas(old) == 0 else (desired + MAX_SURGE) - (_replicas(old) + _replicas(new))
        if _replicas(new) != desired and increment > 0:
            target = min(desired, _replicas(new) + increment)
            out.line(f"Scaling {new.name} up to {target}")
            new = scale_and_wait(store, config, new.name, target)
        time.sleep(config.update_period)
        if _replicas(old) > 0:
            available = available_pods(store, new, datetime.now(UTC))
            decrement = _replicas(old) + _replicas(new) - min_available - (_replicas(new) - available)
            if decrement > 0:
                target = max(0, _replicas(old) - decrement)
                if _replicas(new) == desired and available >= desired:
                    target = 0
                out.line(f"Scaling {old.name} down to {target}")
                old = scale_and_wait(store, config, old.name, target)
        if (_replicas(new), _replicas(old)) != before:
            deadline = time.monotonic() + config.timeout
        elif time.monotonic() > deadline:
            raise CliError("error: timed out waiting for any update progress to be made")
    return old, new


def rename(store: Store, new: Doc, name: str) -> None:
    """The new controller under the old name, in one commit: its document deleted, its pods
    orphaned (no owner reference, so no cascade takes them) and the renamed one created,
    which adopts them by its selector. Read again while the controller (its own status
    writes) or a pod changes under the commit."""
    from functions.store import StaleWrite

    for attempt in range(1, ATTEMPTS + 1):
        try:
            _rename_once(store, new, name)
            return
        except StaleWrite:
            fresh = store.get(new.path)
            if fresh is None or attempt == ATTEMPTS:
                raise CliError(f"error: {CONTROLLER.ref(new.name)} kept changing while it was renamed") from None
            new = fresh


def _rename_once(store: Store, new: Doc, name: str) -> None:
    from functions.store import Create, Delete, Update

    uid = _uid(new)
    selector = {k: v for k, v in as_map(_spec(new.data).get("selector")).items() if isinstance(v, str)}
    pods = [p for p in store.pods_matching_or_owned(new.namespace, selector, None)
            if any(as_map(r).get("uid") == uid for r in as_list(as_map(p.data.get("metadata")).get("ownerReferences")))]
    meta = {k: v for k, v in as_map(new.data.get("metadata")).items() if k not in OWNED}
    meta["name"] = name
    meta["annotations"] = {k: v for k, v in as_map(meta.get("annotations")).items() if k not in (SOURCE_ID, DESIRED)}
    data = {**{k: v for k, v in new.data.items() if k != "status"}, "metadata": meta}
    writes: list[Write] = [Delete(new.path, if_updated_at=new.update_time)]
    writes += [Update(p.path, {"metadata.ownerReferences": []}, if_updated_at=p.update_time) for p in pods]
    writes.append(Create(_path(new.namespace, name), data))
    store.commit(writes, datetime.now(UTC))


def wait_gone(store: Store, config: Config, name: str) -> None:
    deadline = time.monotonic() + config.timeout
    while store.get(_path(config.namespace, name)) is not None:
        if time.monotonic() >= deadline:
            raise CliError(f"error: timed out waiting for {CONTROLLER.ref(name)} to be deleted")
        time.sleep(config.poll)


def target_controller(store: Store, config: Config, planned: dict[str, Any], source: str) -> tuple[Doc, bool]:
    """kubectl's getOrCreateTargetController: the existing one (checked), or a new one at 0.
    Made meanwhile by someone else (the create fails): read again and checked as existing."""
    from functions.store import Create, StaleWrite

    name = str(as_map(planned.get("metadata")).get("name"))
    for _ in range(ATTEMPTS):
        existing = store.get(_path(config.namespace, name))
        if existing is not None:
            notes = _notes(existing.data)
            if notes.get(SOURCE_ID) != source or DESIRED not in notes:
                raise CliError(f"error: Missing/unexpected annotations for controller {name}, expected {source} : "
                               f"{ {k: v for k, v in notes.items() if k.startswith(PREFIX)} }")
            return existing, True
        replicas = _spec(planned).get("replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas <= 0:
            raise CliError(f"error: Invalid controller spec for {name}; required: > 0 replicas, actual: {replicas}")
        data = copy.deepcopy(planned)
        meta = data.setdefault("metadata", {})
        meta["annotations"] = {**as_map(meta.get("annotations")), DESIRED: str(replicas), SOURCE_ID: source}
        data["spec"]["replicas"] = 0
        try:
            store.commit([Create(_path(config.namespace, name), data)], datetime.now(UTC))
        except StaleWrite:
            continue  # made meanwhile: checked as an existing one
        created = store.get(_path(config.namespace, name))
        if created is not None:
            return created, False
    raise CliError(f"error: {CONTROLLER.ref(name)} kept appearing and disappearing while it was created; try again")


def run(store: Store, args: argparse.Namespace, namespace: str, max_replicas: int, out: Output) -> int:
    check_usage(args)
    names: list[str] = args.names
    old_name, keep_old_name, key = names[0], len(names) == 1, args.deployment_label_key
    config = Config(namespace, args.update_period, args.poll_interval, args.timeout, out)
    old = store.get(_path(namespace, old_name))
    if old is None:
        if args.image and keep_old_name:  # the rename was interrupted: finish it
            renaming = next((d for d in _controllers(store, namespace)
                             if str(_notes(d.data).get(SOURCE_ID, "")).startswith(f"{old_name}:")), None)
            if renaming is not None:
                rename(store, renaming, old_name)
                out.line(f"Renamed {renaming.name} to {old_name}")
                return 0
        must_read(store, CONTROLLER, namespace, old_name)
    assert old is not None
    if shapes.is_legacy(CONTROLLER, old.data):
        raise CliError(f"error: {CONTROLLER.ref(old_name)} is in the 2014 shape; apply it in the v1 shape first")
    planned: dict[str, Any] | None = None
    if args.filename:
        planned = _from_file(args.filename, old, namespace, max_replicas)
    if args.image:
        new_name = names[1] if len(names) == 2 else _notes(old.data).get(NEXT)
        existing = store.get(_path(namespace, new_name)) if isinstance(new_name, str) and new_name else None
        if existing is not None:
            containers = as_list(as_map(as_map(_spec(existing.data).get("template")).get("spec")).get("containers"))
            running = as_map(containers[0]).get("image") if containers else None
            if running != args.image:
                raise CliError(f"error: Found existing in-progress update to image ({running}).",
                               f"Either continue in-progress update with --image={running} or rollback with --rollback")
            out.line(f"Found existing update in progress ({existing.name}), resuming.")
            planned = existing.data
        else:
            planned = new_from_image(old, args.image, args.container, key,
                                     new_name if isinstance(new_name, str) and new_name else None)
            problems = CONTROLLER.validate(planned, namespace, str(planned["metadata"]["name"]), max_replicas).errors \
                if CONTROLLER.validate else []
            if problems:
                raise CliError(*problems, "error: nothing was written")
        old_hash = _short_hash(_spec(old.data).get("template")) + "-orig"
        old = add_deployment_key(store, old, key, old_hash, str(planned["metadata"]["name"]))
    if args.rollback:
        new_name = names[1] if len(names) == 2 else _notes(old.data).get(NEXT)
        existing = store.get(_path(namespace, new_name)) if isinstance(new_name, str) and new_name else None
        if existing is None:
            raise CliError(f"error: Could not find {new_name or 'the next controller'} to rollback.")
        planned = existing.data
    assert planned is not None
    planned_name = str(as_map(planned.get("metadata")).get("name"))
    if planned_name == old_name:
        raise CliError(f"error: {args.filename or planned_name} cannot have the same name as the existing "
                       f"ReplicationController {old_name}")
    old_selector, new_selector = as_map(_spec(old.data).get("selector")), as_map(_spec(planned).get("selector"))
    if not any(k in new_selector and new_selector[k] != v for k, v in old_selector.items()):
        raise CliError(f"error: {args.filename or planned_name} must specify a matching key with non-equal value "
                       f"in Selector for {old_name}")
    delete_old = not keep_old_name
    if args.rollback:  # AbortRollingUpdate: the partial new one becomes the old, and goes
        partial = must_read(store, CONTROLLER, namespace, planned_name)
        original = _notes(old.data).get(ORIGINAL)
        if original is None:
            raise CliError(f'error: couldn\'t find original replica count of "{old_name}"')
        out.line(f'Setting "{old_name}" replicas to {original}')
        old = update(store, namespace, old_name, _set_annotations(**{SOURCE_ID: f"{partial.name}:{_uid(partial)}",
                                                                     DESIRED: str(original)}))
        old, planned, delete_old = partial, old.data, True
    source = f"{old.name}:{_uid(old)}"
    new, existed = target_controller(store, config, planned, source)
    out.line(f"Continuing update with existing controller {new.name}." if existed else f"Created {new.name}")
    try:
        desired = int(str(_notes(new.data).get(DESIRED)))
    except ValueError:
        raise CliError(f"error: Unable to parse annotation for {new.name}: {DESIRED}={_notes(new.data).get(DESIRED)}") from None
    if ORIGINAL not in _notes(old.data):
        old = update(store, namespace, old.name, _set_annotations(**{ORIGINAL: str(_replicas(old))}))
    old, new = roll(store, config, old, new, desired)
    # The source stays on a controller to be renamed: an interrupted rename is found by it.
    new = update(store, namespace, new.name, _set_annotations(**{DESIRED: None}, **({SOURCE_ID: None} if delete_old else {})))
    new = scale_and_wait(store, config, new.name, desired)
    from functions.store import Delete

    if delete_old:
        out.line(f"Update succeeded. Deleting {old.name}")
        store.commit([Delete(old.path)], datetime.now(UTC))
        final = f'{CONTROLLER.ref(new.name)} rolling updated' if keep_old_name or args.rollback \
            else f'{CONTROLLER.ref(new.name)} rolling updated to "{new.name}"'
    else:
        out.line(f"Update succeeded. Deleting old controller: {old.name}")
        store.commit([Delete(old.path)], datetime.now(UTC))
        wait_gone(store, config, old.name)
        out.line(f"Renaming {new.name} to {old.name}")
        rename(store, new, old.name)
        final = f"{CONTROLLER.ref(old.name)} rolling updated"
    out.line(final)
    return 0


def _controllers(store: Store, namespace: str) -> list[Doc]:
    from functions.cli import reads

    return reads.list_docs(store, CONTROLLER, namespace)

