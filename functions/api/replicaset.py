"""The ReplicaSet (Kubernetes apps/v1 subset) and its status.

A replication controller with a LabelSelector: the selector is required and non-empty,
and must select the template's labels (``ValidateReplicaSetSpec``, with Kubernetes'
messages). Its status adds ``terminatingReplicas``, the pods marked for deletion whose
documents are still there: a Deployment's ``Recreate`` waits for none.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt, StrictStr

from functions.api.base import Model
from functions.api.controller import (
    ABSOLUTE_MAX_REPLICAS,
    PodTemplateSpec,
    ReplicationControllerStatus,
)
from functions.api.meta import ObjectMeta
from functions.api.selector import LabelSelector

API_VERSION = "apps/v1"
KIND = "ReplicaSet"


class ReplicaSetSpec(Model):
    replicas: StrictInt = Field(default=1, ge=0, le=ABSOLUTE_MAX_REPLICAS)
    selector: LabelSelector = Field(default_factory=LabelSelector)
    template: PodTemplateSpec
    min_ready_seconds: StrictInt = Field(default=0, ge=0)


class ReplicaSetStatus(ReplicationControllerStatus):
    terminating_replicas: int = 0


class ReplicaSet(Model):
    api_version: StrictStr = API_VERSION
    kind: Literal["ReplicaSet"] = "ReplicaSet"
    metadata: ObjectMeta
    spec: ReplicaSetSpec

    @property
    def name(self) -> str:
        return self.metadata.name or ""


def selector_problems(spec: ReplicaSetSpec, field: str = "spec") -> list[str]:
    """apps/v1's rules the model alone cannot place on the right path: the selector is
    required and not empty, and it selects the template's labels."""
    if "selector" not in spec.model_fields_set:
        return [f"{field}.selector: Required value"]
    if spec.selector.empty:
        return [f"{field}.selector: Invalid value: {{}}: empty selector is invalid for deployment"]
    labels = spec.template.metadata.labels
    if not spec.selector.matches(labels):
        return [
            f"{field}.template.metadata.labels: Invalid value: {_labels_text(labels)}: "
            f"`selector` does not match template `labels` (selector {spec.selector.text()})"
        ]
    return []


def _labels_text(labels: dict[str, str]) -> str:
    return "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))[:200] + "}"
