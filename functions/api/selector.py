"""The apps/v1 LabelSelector: ``matchLabels`` and ``matchExpressions``.

A v1 controller's selector is a map, which is a LabelSelector with only
``matchLabels`` (``LabelSelector.of``). Validation messages are Kubernetes' own
(``ValidateLabelSelectorRequirement``); the text form is ``labels.Selector.String()``,
what kubectl prints in its SELECTOR column (``app=web,tier in (a,b)``).

An empty selector matches nothing here: Kubernetes makes it "everything", but apps/v1
refuses it, and for a controller "nothing" is the safe reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, StrictStr, field_validator, model_validator

from functions.api.base import Model
from functions.api.meta import check_labels, label_key_problem, label_value_problem

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class LabelSelectorRequirement(Model):
    key: StrictStr
    operator: StrictStr
    values: list[StrictStr] = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _key(cls, key: str) -> str:
        problem = label_key_problem(key)
        if problem:
            raise ValueError(problem)
        return key

    @field_validator("values")
    @classmethod
    def _values(cls, values: list[str]) -> list[str]:
        for value in values:
            problem = label_value_problem(value)
            if problem:
                raise ValueError(problem)
        return values

    @model_validator(mode="after")
    def _operator_and_values(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError("values: Required value: must be specified when `operator` is 'In' or 'NotIn'")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError("values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        if self.operator not in OPERATORS:
            raise ValueError(f'operator: Invalid value: "{self.operator:.80}": not a valid selector operator')
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        """As ``labels.Requirement.Matches``: NotIn and DoesNotExist match a missing key."""
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values if self.key in labels else True
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist (the validator allows nothing else)

    def text(self) -> str:
        values = ",".join(sorted(set(self.values)))
        return {
            "In": f"{self.key} in ({values})",
            "NotIn": f"{self.key} notin ({values})",
            "Exists": self.key,
            "DoesNotExist": f"!{self.key}",
        }[self.operator]


class LabelSelector(Model):
    match_labels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)

    _check_labels = field_validator("match_labels")(check_labels)

    @classmethod
    def of(cls, selector: Mapping[str, str] | LabelSelector) -> LabelSelector:
        """A v1 map selector (or a LabelSelector, returned as is)."""
        if isinstance(selector, LabelSelector):
            return selector
        return cls(match_labels=dict(selector))

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Every pair and every expression holds; an empty selector matches nothing."""
        if self.empty:
            return False
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            e.matches(labels) for e in self.match_expressions
        )

    def text(self) -> str:
        """kubectl's form, requirements sorted by key: ``app=web,tier in (a,b),!canary``."""
        parts = [(k, f"{k}={v}") for k, v in self.match_labels.items()]
        parts += [(e.key, e.text()) for e in self.match_expressions]
        return ",".join(text for _, text in sorted(parts, key=lambda p: p[0])) or "<none>"

    def __str__(self) -> str:
        return self.text()


def selector_text(selector: Mapping[str, str] | LabelSelector | Any) -> str:
    """The text form of either kind of selector (anything else: ``<none>``)."""
    if isinstance(selector, LabelSelector):
        return selector.text()
    if isinstance(selector, Mapping):
        return LabelSelector.of(selector).text()
    return "<none>"
