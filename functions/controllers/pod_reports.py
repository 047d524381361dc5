"""``pod_status``: an agent's report, verified, authorised and written (docs/agent-protocol.md §4).

The instance is the identity token's, never the body's; the body only names the pod.
Reading the heartbeat document first authorises the instance and refuses replays. A
report whose content (all but ``boot`` and ``sequence``) was applied already, while the
heartbeat is fresh, writes only the heartbeat: one read, one write, no trigger. Any
other report reads the pod, checks its VM is the token's, derives the status
(``functions/api/report.py``) and commits it with the heartbeat, both guarded by their
``update_time``; a stale commit reads both again and decides again, so two reports (or
a report and another writer) never overwrite each other and an older report loses.

    handle_report -> 200 accepted | 400 not a report | 403 refused | 429 written too often lately
                     | 503 not written (the agent reports again in a few seconds)
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc

from functions.api.parse import parse_pod
from functions.api.pod import PodStatus
from functions.api.report import MAX_BODY_BYTES, Report, ReportError, derive_status, parse_report
from functions.heartbeats import APPLIED, RENEW_TIME, TTL, heartbeat_path
from functions.identity import IdentityError, Instance, Verifier
from functions.logs import ref_fields
from functions.objects import doc_uid, same_data
from functions.runtime import Runtime
from functions.store import PODS, Doc, StaleWrite, Update, Write, doc_path

log = logging.getLogger("firecontrol.pod_status")

KIND = "Pod"
ATTEMPTS = 8
# At most Settings.status_write_limit pod status writes per pod in each window of this
# many seconds: every one costs a write and a sync_pod invocation, and a container holding
# the VM's token could send changes in a loop. Real changes (a start, readiness, a crash
# under back-off) come far slower.
WRITE_WINDOW = 10
READ_LIMIT = MAX_BODY_BYTES + 1  # read one byte more than a report may have, to tell it is too big

Reply = tuple[int, dict[str, Any]]


class Refused(Exception):
    """The report may not touch this pod (403); the message says why, briefly."""


class Throttled(Exception):
    """The pod's status was written too often lately (429): the agent reports again soon."""


class Contended(Exception):
    """Every attempt found the documents changed since they were read."""


def handle_report(rt: Runtime, authorization: str | None, body: bytes, method: str = "POST",
                  verifier: Verifier | None = None) -> Reply:
    """One HTTP request to ``pod_status``: the status code and the JSON reply."""
    if method != "POST":
        return 405, {"error": "reports are POSTed"}
    try:
        instance = (verifier or Verifier.for_settings(rt.settings)).verify(_bearer(authorization))
        if instance.project_id != rt.settings.project:
            raise IdentityError(f"the instance is in project {instance.project_id[:64]!r}, not this one")
    except IdentityError as error:
        log.warning("report refused", extra={"reason": str(error)})
        return 403, {"error": f"token refused: {error}"}
    try:
        report = parse_report(body)
    except ReportError as error:
        log.warning("not a report", extra={"instance": instance.instance_name, "problems": error.messages})
        return 400, {"error": "not a report", "problems": error.messages}
    ref = ref_fields(KIND, report.namespace, report.name, instance=instance.instance_name,
                     boot=report.boot, sequence=report.sequence)
    try:
        written = apply_report(rt, instance, report)
    except Refused as error:
        log.warning("report refused", extra={**ref, "reason": str(error)})
        return 403, {"error": f"refused: {error}"}
    except Throttled as error:
        log.warning("report not written: too many", extra={**ref, "reason": str(error)})
        return 429, {"error": str(error)}
    except Contended:
        log.warning("report not written: contention", extra=ref)
        return 503, {"error": "too many concurrent writers; the next report will carry the same state"}
    except gexc.GoogleAPICallError as error:  # Firestore unavailable, or a write it refuses
        log.error("report not written", extra={**ref, "error": str(error)[:500]})
        return 503, {"error": "the status could not be written; the next report will carry the same state"}
    log.info("report accepted", extra={**ref, "statusWritten": written})
    return 200, {"accepted": report.sequence, "statusWritten": written}


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise IdentityError("no bearer token")
    return token.strip()


def apply_report(rt: Runtime, instance: Instance, report: Report) -> bool:
    """Write what the report says; True when the pod's status was written."""
    heartbeat = heartbeat_path(report.namespace, report.name)
    for _attempt in range(ATTEMPTS):
        beat = rt.store.get(heartbeat)
        if beat is None:
            raise Refused("the pod has no heartbeat record: no agent VM was made for it")
        check_heartbeat(beat.data, instance, report)
        now = rt.clock()
        digest = report.digest()
        writes: list[Write] = []
        pod_uid: str | None = None
        if beat.data.get(APPLIED) != digest or not _fresh(beat.data, now, rt.settings.heartbeat_timeout / 2):
            pod = rt.store.get(doc_path(report.namespace, PODS, report.name))
            writes, pod_uid = _pod_writes(pod, beat.data, instance, report, now)
        fields = _heartbeat_fields(instance, report, now, digest, pod_uid)
        if writes:
            fields.update(_count_write(beat.data, now, rt.settings.status_write_limit))
        writes.append(Update(beat.path, fields, beat.update_time))
        try:
            rt.store.commit(writes, now)
        except StaleWrite:
            continue
        return len(writes) > 1
    raise Contended()


def check_heartbeat(data: dict[str, Any], instance: Instance, report: Report) -> None:
    """The instance is the one the pod runtime recorded, and the report is newer than the
    last accepted one (§4.2, §4.3)."""
    recorded = (data.get("instanceName"), data.get("instanceId"), data.get("zone"))
    if recorded != (instance.instance_name, instance.instance_id, instance.zone):
        raise Refused(f"instance {instance.instance_name!r} is not this pod's VM")
    if report.boot == data.get("boot") and report.sequence <= _int(data.get("sequence")):
        raise Refused(f"replayed report: sequence {report.sequence} of boot {report.boot!r} is not above "
                      f"{_int(data.get('sequence'))}")
    if instance.iat < _int(data.get("iat")):
        raise Refused("the token was issued before the last accepted one")


def check_pod(pod: Doc | None, beat: dict[str, Any], instance: Instance) -> None:
    """The pod's own record names this VM (§4.2): its node, zone, id and agent, and its uid
    is the one the heartbeat was made for."""
    if pod is None:
        raise Refused("no such pod")
    spec, status = pod.data.get("spec"), pod.data.get("status")
    spec = spec if isinstance(spec, dict) else {}
    status = status if isinstance(status, dict) else {}
    if (spec.get("nodeName"), status.get("vmZone"), status.get("vmId")) != (
        instance.instance_name, instance.zone, instance.instance_id
    ):
        raise Refused(f"instance {instance.instance_name!r} is not this pod's VM")
    if not status.get("vmAgent"):
        raise Refused("the pod's VM runs no agent")
    uid = beat.get("podUid")
    if uid and uid != doc_uid(pod):
        raise Refused("the heartbeat record is for an earlier pod of this name")


def _pod_writes(pod: Doc | None, beat: dict[str, Any], instance: Instance, report: Report,
                now: datetime) -> tuple[list[Write], str]:
    check_pod(pod, beat, instance)
    assert pod is not None
    parsed = parse_pod(pod.data, pod.namespace, pod.name)
    if parsed.obj is None:
        raise Refused(f"the pod is not valid: {'; '.join(parsed.errors)[:300]}")
    raw = pod.data.get("status")
    try:
        old = PodStatus.model_validate(raw if isinstance(raw, dict) else {})
    except ValueError:
        old = PodStatus()
    status = derive_status(parsed.obj.spec, old, report, now).to_doc()
    if same_data(status, raw):
        return [], doc_uid(pod)
    return [Update(pod.path, {"status": status}, pod.update_time)], doc_uid(pod)


def _heartbeat_fields(instance: Instance, report: Report, now: datetime, digest: str,
                      pod_uid: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        RENEW_TIME: now, "boot": report.boot, "sequence": report.sequence, "iat": instance.iat,
        "instanceName": instance.instance_name, "instanceId": instance.instance_id, "zone": instance.zone,
        "expireAt": now + TTL, APPLIED: digest,
    }
    if pod_uid is not None:
        fields["podUid"] = pod_uid
    return fields


def _count_write(data: dict[str, Any], now: datetime, limit: int) -> dict[str, Any]:
    """The heartbeat's count of status writes in this window, one more; Throttled when full
    (``limit`` 0: never)."""
    window = int(now.timestamp()) // WRITE_WINDOW
    count = _int(data.get("writeCount")) if data.get("writeWindow") == window else 0
    if limit and count >= limit:
        raise Throttled(f"the pod's status was written {count} times in {WRITE_WINDOW}s; report again later")
    return {"writeWindow": window, "writeCount": max(count, 0) + 1}


def _fresh(data: dict[str, Any], now: datetime, within: float) -> bool:
    renewed = data.get(RENEW_TIME)
    return isinstance(renewed, datetime) and now - renewed < timedelta(seconds=within)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1
