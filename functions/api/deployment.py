"""The Deployment (apps/v1 subset): its spec, its validation, and the numbers it implies.

Validation says what Kubernetes' ``ValidateDeploymentSpec`` says, in its words; the
rolling-update fenceposts are ``ResolveFenceposts``: ``maxSurge`` rounds up,
``maxUnavailable`` rounds down, and if both come to 0 one pod may be unavailable.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, Literal

from pydantic import (
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from functions.api.base import Model
from functions.api.controller import ABSOLUTE_MAX_REPLICAS, PodTemplateSpec, spec_hash
from functions.api.meta import ObjectMeta
from functions.api.names import MAX_CONTROLLER_NAME
from functions.api.parse import Parsed, parse_kind
from functions.api.selector import LabelSelector

KIND: Final = "Deployment"
API_VERSION: Final = "apps/v1"
ROLLING_UPDATE = "RollingUpdate"
RECREATE = "Recreate"
# A ReplicaSet is ``{deployment}-{hash}`` (the hash is at most 10 characters) and must
# itself leave its pods room for their 5-character suffix.
MAX_DEPLOYMENT_NAME = MAX_CONTROLLER_NAME - 11
# Kubernetes' "no deadline" and "keep every revision": math.MaxInt32.
NO_LIMIT = 2**31 - 1

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
# Annotations a Deployment does not copy to its ReplicaSets (``annotationsToSkip``).
NOT_COPIED = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO})

_PERCENT = re.compile(r"^[0-9]+%\Z")
PERCENT_MESSAGE = (
    "a valid percent string must be a numeric string followed by an ending '%' "
    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
)

IntOrPercent = StrictInt | StrictStr


def _check_int_or_percent(value: IntOrPercent) -> IntOrPercent:
    """An int32 count or a percentage whose number is one (Kubernetes' IntOrString)."""
    if isinstance(value, str):
        if not _PERCENT.match(value):
            raise ValueError(f"Invalid value: {value!r:.40}: {PERCENT_MESSAGE}")
        digits = value[:-1].lstrip("0")
        if len(digits) > len(str(NO_LIMIT)) or int(digits or "0") > NO_LIMIT:
            raise ValueError(f"Invalid value: {value!r:.40}: must be no more than {NO_LIMIT}%")
    if isinstance(value, int) and value < 0:
        raise ValueError(f"Invalid value: {value}: must be greater than or equal to 0")
    if isinstance(value, int) and value > NO_LIMIT:
        shown = value if value.bit_length() <= 128 else "(a huge number)"
        raise ValueError(f"Invalid value: {shown}: must be no more than {NO_LIMIT}")
    return value


def scaled_value(value: IntOrPercent, total: int, round_up: bool) -> int:
    """``intstr.GetValueFromIntOrPercent``: a count, or a percentage of ``total``."""
    if isinstance(value, int):
        return value
    percent = int(value[:-1])
    return -(-percent * total // 100) if round_up else percent * total // 100


class RollingUpdateDeployment(Model):
    max_surge: IntOrPercent = "25%"
    max_unavailable: IntOrPercent = "25%"

    _check = field_validator("max_surge", "max_unavailable")(_check_int_or_percent)

    @model_validator(mode="after")
    def _fenceposts(self) -> RollingUpdateDeployment:
        unavailable = self.max_unavailable
        if isinstance(unavailable, str) and int(unavailable[:-1]) > 100:
            raise ValueError(f"maxUnavailable: Invalid value: {unavailable!r}: must not be greater than 100%")
        if scaled_value(unavailable, 100, False) == 0 and scaled_value(self.max_surge, 100, True) == 0:
            raise ValueError(f"maxUnavailable: Invalid value: {unavailable!r}: may not be 0 when `maxSurge` is 0")
        return self


class DeploymentStrategy(Model):
    type: StrictStr = ROLLING_UPDATE
    rolling_update: RollingUpdateDeployment | None = None

    @model_validator(mode="after")
    def _by_type(self) -> DeploymentStrategy:
        if self.type == "":
            self.type = ROLLING_UPDATE  # Kubernetes' defaulting: an empty type is unset
        if self.type == RECREATE:
            if self.rolling_update is not None:
                raise ValueError(
                    "rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
                )
        elif self.type == ROLLING_UPDATE:
            if self.rolling_update is None:
                self.rolling_update = RollingUpdateDeployment()  # Kubernetes' defaulting
        else:
            raise ValueError(
                f'type: Unsupported value: "{self.type:.40}": supported values: "{RECREATE}", "{ROLLING_UPDATE}"'
            )
        return self


class DeploymentSpec(Model):
    replicas: StrictInt = Field(default=1, ge=0, le=ABSOLUTE_MAX_REPLICAS)
    selector: LabelSelector | None = None
    template: PodTemplateSpec
    strategy: DeploymentStrategy = Field(default_factory=lambda: DeploymentStrategy(rolling_update=RollingUpdateDeployment()))
    min_ready_seconds: StrictInt = Field(default=0, ge=0, le=NO_LIMIT)  # int32, as Kubernetes'
    revision_history_limit: StrictInt = Field(default=10, ge=0, le=NO_LIMIT)
    progress_deadline_seconds: StrictInt = Field(default=600, ge=0, le=NO_LIMIT)
    paused: StrictBool = False

    @model_validator(mode="after")
    def _consistent(self) -> DeploymentSpec:
        if self.selector is None:
            raise ValueError("selector: Required value")
        if self.selector.empty:
            raise ValueError("selector: Invalid value: {}: empty selector is invalid for deployment")
        if not self.selector.matches(self.template.metadata.labels):
            raise ValueError(
                f"template: metadata.labels: Invalid value: {self.template.metadata.labels}: "
                "`selector` does not match template `labels`"
            )
        if self.progress_deadline_seconds <= self.min_ready_seconds:
            raise ValueError(
                f"progressDeadlineSeconds: Invalid value: {self.progress_deadline_seconds}: "
                "must be greater than minReadySeconds"
            )
        return self

    @property
    def label_selector(self) -> LabelSelector:
        assert self.selector is not None  # the validator requires it
        return self.selector

    @property
    def rolling(self) -> bool:
        return self.strategy.type == ROLLING_UPDATE

    @property
    def has_progress_deadline(self) -> bool:
        return self.progress_deadline_seconds != NO_LIMIT

    @property
    def has_history_limit(self) -> bool:
        return self.revision_history_limit != NO_LIMIT

    def fenceposts(self) -> tuple[int, int]:
        """``ResolveFenceposts``: (maxSurge, maxUnavailable) as counts of pods."""
        update = self.strategy.rolling_update
        if not self.rolling or update is None:
            return 0, 0
        surge = scaled_value(update.max_surge, self.replicas, True)
        unavailable = scaled_value(update.max_unavailable, self.replicas, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1  # rounding made both 0: allow one, surge might be refused by a quota
        return surge, unavailable

    def max_surge(self) -> int:
        return self.fenceposts()[0]

    def max_unavailable(self) -> int:
        """``MaxUnavailable``: 0 for Recreate or no replicas, never more than the replicas."""
        if not self.rolling or self.replicas == 0:
            return 0
        return min(self.fenceposts()[1], self.replicas)


class Deployment(Model):
    api_version: Literal["apps/v1"] = API_VERSION
    kind: Literal["Deployment"] = KIND
    metadata: ObjectMeta
    spec: DeploymentSpec

    @property
    def name(self) -> str:
        return self.metadata.name or ""


def parse_deployment(doc: Any, namespace: str, name: str, max_replicas: int | None = None) -> Parsed[Deployment]:
    """The Deployment as written (its status left aside), or the messages that say why not."""
    doc = {k: v for k, v in doc.items() if k != "status"} if isinstance(doc, dict) else doc
    parsed = parse_kind(doc, Deployment, KIND, namespace, name, MAX_DEPLOYMENT_NAME, dict, api_version=API_VERSION)
    obj, errors = parsed.obj, list(parsed.errors)
    if obj is None:
        return parsed
    if max_replicas is not None and obj.spec.replicas > max_replicas:
        errors.append(
            f"spec.replicas: {obj.spec.replicas} is over this installation's cap of {max_replicas} "
            "(FIRECONTROL_MAX_REPLICAS), a guard against runaway cost"
        )
    return Parsed(None if errors else obj, errors, parsed.unknown)


# -- spec.selector is immutable in apps/v1


def _selector_doc(selector: Any) -> Any:
    """The selector as a LabelSelector writes it back (defaults filled), else as stored."""
    try:
        return LabelSelector.model_validate(selector).to_doc()
    except (ValidationError, TypeError, ValueError):
        return selector


def selector_digest(selector: Any) -> str:
    """A stable hash of ``spec.selector``, the pass's record (``status.selectorHash``) of
    the selector it acts on: a later different one is refused."""
    return spec_hash(_selector_doc(selector))


def selector_immutable_message(selector: Any) -> str:
    shown = _selector_doc(selector)
    if isinstance(shown, dict):
        shown = {k: v for k, v in shown.items() if v not in (None, [], {})}
    text = json.dumps(shown, sort_keys=True, separators=(",", ":"), default=str)
    if len(text) > 200:
        text = text[:200] + "..."
    return f"spec.selector: Invalid value: {text}: field is immutable"


def selector_change_problem(old: Any, new: Any) -> str | None:
    """Why ``new`` (a Deployment document) may not replace ``old``: its ``spec.selector``
    differs (immutable in apps/v1), in Kubernetes' words; None when it may. For a client
    (``apply``); the pass refuses the same change by ``status.selectorHash``."""
    old_selector = _spec_selector(old)
    if old_selector is None:
        return None  # no selector before: nothing any pass can have acted on
    new_selector = _spec_selector(new)
    if selector_digest(old_selector) == selector_digest(new_selector):
        return None
    return selector_immutable_message(new_selector)


def _spec_selector(doc: Any) -> Any:
    spec = doc.get("spec") if isinstance(doc, dict) else None
    return spec.get("selector") if isinstance(spec, dict) else None
