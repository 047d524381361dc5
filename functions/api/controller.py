"""The ReplicationController (Kubernetes v1 subset) and its status."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictInt, StrictStr, field_validator, model_validator

from functions.api.base import Model
from functions.api.meta import Condition, ObjectMeta, check_labels
from functions.api.pod import PodSpec

# The highest count a document may even ask for; the configurable cap (default 100,
# FIRECONTROL_MAX_REPLICAS) is checked after parsing, with its own message.
ABSOLUTE_MAX_REPLICAS = 1_000_000


class PodTemplateSpec(Model):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec

    @field_validator("spec")
    @classmethod
    def _always_restarts(cls, spec: PodSpec) -> PodSpec:
        """A controller keeps its pods running: Kubernetes refuses any other restart policy
        in its template (a pod that finished would be replaced, and replaced again)."""
        if spec.restart_policy != "Always":
            raise ValueError(f'restartPolicy: Unsupported value: "{spec.restart_policy}": supported values: "Always"')
        return spec


class ReplicationControllerSpec(Model):
    replicas: StrictInt = Field(default=1, ge=0, le=ABSOLUTE_MAX_REPLICAS)
    selector: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    template: PodTemplateSpec
    min_ready_seconds: StrictInt = Field(default=0, ge=0)

    _check_selector = field_validator("selector")(check_labels)

    @model_validator(mode="after")
    def _selector_matches_template(self) -> ReplicationControllerSpec:
        labels = self.template.metadata.labels
        if not self.selector:
            # Kubernetes defaults an empty selector to the template's labels.
            self.selector = dict(labels)
        if not self.selector:
            raise ValueError(
                "selector: must not be empty; set spec.selector or labels in "
                "spec.template.metadata.labels"
            )
        mismatched = sorted(k for k, v in self.selector.items() if labels.get(k) != v)
        if mismatched:
            raise ValueError(
                f"selector: {self.selector} does not match the template's labels {labels} "
                f"(keys {mismatched}); the controller could never see the pods it creates"
            )
        return self


class SlowStart(Model):
    """Kubernetes' slowStartBatch, across passes: how many pods may wait for a VM at once."""

    window: int = 1
    awaiting: list[str] = Field(default_factory=list)


class ReplicationControllerStatus(Model):
    replicas: int = 0
    fully_labeled_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    # The hash of the spec that ``metadata.generation`` was last advanced for.
    spec_hash: str | None = None
    # firecontrol's own: the Failed or Succeeded pods it keeps (an idle resync counts pods).
    finished_pods: int = 0
    slow_start: SlowStart | None = None
    # The hash of the pod template, and when a pass first saw it: the pods it made since
    # are the ones the backstop looks at (the pod runtime refusing them stops creation).
    template_hash: str | None = None
    template_since: datetime | None = None


class ReplicationController(Model):
    api_version: StrictStr = "v1"
    kind: Literal["ReplicationController"] = "ReplicationController"
    metadata: ObjectMeta
    spec: ReplicationControllerSpec

    @property
    def name(self) -> str:
        return self.metadata.name or ""


def spec_hash(spec: Any) -> str:
    """A stable hash of a spec as written, to notice spec changes without an API server."""
    text = json.dumps(spec, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def next_generation(current: int | None, observed: int | None, spec_moved: bool) -> int:
    """``metadata.generation`` after a pass (docs/kube-api.md §3). kube_api bumps it when a
    write changes the spec, as the apiserver does: when the spec moved, a bump
    (``generation > observedGeneration``) is kept; a writer that did not bump (any
    Firestore client) gets ``observedGeneration + 1``. So one change, one generation."""
    current, observed = current or 0, observed or 0
    if spec_moved:
        return current if current > observed else observed + 1
    return current or 1
