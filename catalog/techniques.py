"""Privacy-preserving techniques as facts: how a training run or a derived dataset declares it
was produced (federated learning, secure aggregation, differential privacy, synthetic data,
anonymisation, pseudonymisation), and the validation of such a declaration.

A declaration feeds the house rules only (officers' locality rules may exempt work that uses
certain techniques). It never changes what the law says: pseudonymised data is still personal
data, and federated learning alone does not make a transfer lawful (see `LEGAL_NOTES`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

MAX_TECHNIQUES = 10


class Technique(models.TextChoices):
    FEDERATED = "federated", "Federated learning (only model updates leave the region)"
    SECURE_AGGREGATION = "secure_aggregation", "Secure aggregation of updates"
    DIFFERENTIAL_PRIVACY = "differential_privacy", "Differential privacy (epsilon, delta)"
    SYNTHETIC = "synthetic", "Synthetic data generated from a dataset"
    ANONYMISATION = "anonymisation", "Anonymisation"
    PSEUDONYMISATION = "pseudonymisation", "Pseudonymisation"


TECHNIQUES = frozenset(Technique.values)

# Why a declaration never moves the legal verdict, with the text each rests on.
LEGAL_NOTES = (
    {
        "technique": Technique.PSEUDONYMISATION,
        "note": "Pseudonymised data that could be attributed to a person with additional "
        "information is still information on an identifiable person: the law applies.",
        "citation": "GDPR Recital 26; Art. 4(5)",
        "verified": True,
        "source": "https://overview.legal/laws/gdpr/rec-26",
    },
    {
        "technique": Technique.ANONYMISATION,
        "note": "Only data rendered anonymous so that the subject is not or no longer "
        "identifiable falls outside the law: a declaration does not show that; the dataset's "
        "own catalog facts (no personal-data categories) do.",
        "citation": "GDPR Recital 26",
        "verified": True,
        "source": "https://overview.legal/laws/gdpr/rec-26",
    },
    {
        "technique": Technique.FEDERATED,
        "note": "Federated learning keeps raw data in its region, but model updates can still "
        "be personal data; it is not a transfer mechanism of GDPR Chapter V.",
        "citation": "GDPR Art. 44-49",
        "verified": False,
        "source": "",
    },
)


@dataclass(frozen=True, slots=True)
class Declared:
    """One declared technique, with its parameters."""

    technique: str
    epsilon: float | None = None
    delta: float | None = None
    source: str = ""  # the dataset synthetic data was generated from (slug)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"technique": self.technique}
        if self.technique == Technique.DIFFERENTIAL_PRIVACY:
            body.update(epsilon=self.epsilon, delta=self.delta)
        if self.source:
            body["source"] = self.source
        return body


def _number(item: dict, name: str, where: str) -> float:
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError({f"{where}.{name}": "A finite number is required"})
    return float(value)


def _declared(item: Any, where: str) -> Declared:
    if isinstance(item, str):
        item = {"technique": item}
    if not isinstance(item, dict):
        raise ValidationError({where: "A technique name or an object with a 'technique'"})
    unknown = set(item) - {"technique", "epsilon", "delta", "source"}
    if unknown:
        raise ValidationError({f"{where}.{sorted(unknown)[0]}": "Unknown field"})
    technique = item.get("technique")
    if not isinstance(technique, str) or technique not in TECHNIQUES:
        raise ValidationError(
            {
                f"{where}.technique": f"Unknown technique {str(technique)[:60]!r}; one of "
                f"{', '.join(sorted(TECHNIQUES))}"
            }
        )
    if technique != Technique.DIFFERENTIAL_PRIVACY and ({"epsilon", "delta"} & set(item)):
        raise ValidationError(
            {f"{where}.epsilon": "Only differential privacy takes epsilon and delta"}
        )
    source = item.get("source", "")
    if not isinstance(source, str) or len(source) > 120:
        raise ValidationError({f"{where}.source": "A dataset slug of at most 120 characters"})
    if technique != Technique.DIFFERENTIAL_PRIVACY:
        return Declared(technique, source=source)
    epsilon = _number(item, "epsilon", where)
    delta = _number(item, "delta", where)
    if epsilon <= 0:
        raise ValidationError({f"{where}.epsilon": "Epsilon must be greater than 0"})
    if not 0 <= delta < 1:
        raise ValidationError({f"{where}.delta": "Delta must be at least 0 and less than 1"})
    return Declared(technique, epsilon=epsilon, delta=delta, source=source)


def parse_declaration(value: Any, field: str = "techniques") -> tuple[Declared, ...]:
    """A declaration as given (a list of names or objects), validated; errors name the field,
    e.g. ``techniques[0].epsilon``."""
    if value in (None, ""):
        return ()
    if not isinstance(value, list):
        raise ValidationError({field: "A list of techniques"})
    if len(value) > MAX_TECHNIQUES:
        raise ValidationError({field: f"At most {MAX_TECHNIQUES} techniques"})
    declared = tuple(_declared(item, f"{field}[{i}]") for i, item in enumerate(value))
    names = [d.technique for d in declared]
    if len(set(names)) != len(names):
        raise ValidationError({field: "A technique is declared twice"})
    if Technique.SECURE_AGGREGATION in names and Technique.FEDERATED not in names:
        raise ValidationError(
            {field: "Secure aggregation aggregates federated updates: declare federated too"}
        )
    if {Technique.ANONYMISATION, Technique.PSEUDONYMISATION} <= set(names):
        raise ValidationError({field: "Data is either anonymised or pseudonymised, not both"})
    return tuple(sorted(declared, key=lambda d: d.technique))


def declaration_json(declared: Iterable[Declared]) -> list[dict[str, Any]]:
    """A declaration as records keep it."""
    return [d.as_json() for d in declared]


def technique_names(declared: Iterable[Declared]) -> frozenset[str]:
    return frozenset(d.technique for d in declared)


def validate_technique_names(value: Any, field: str) -> list[str]:
    """A rule's list of technique names (no parameters), sorted."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError({field: "A list of technique names"})
    unknown = set(value) - TECHNIQUES
    if unknown:
        raise ValidationError({field: f"Unknown techniques: {', '.join(sorted(unknown))}"})
    return sorted(set(value))


_SOURCE_SCHEMA = {
    "type": "string",
    "maxLength": 120,
    "description": "Synthetic data: the source dataset's slug",
}
_DIFFERENTIAL_PRIVACY = {
    "type": "object",
    "properties": {
        "technique": {"type": "string", "enum": [Technique.DIFFERENTIAL_PRIVACY.value]},
        "epsilon": {
            "type": "number",
            "minimum": 0,
            "exclusiveMinimum": True,
            "description": "Greater than 0",
        },
        "delta": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "exclusiveMaximum": True,
            "description": "At least 0, less than 1",
        },
        "source": _SOURCE_SCHEMA,
    },
    "required": ["technique", "epsilon", "delta"],
    "additionalProperties": False,
}
_WITHOUT_PARAMETERS = {
    "type": "object",
    "properties": {
        "technique": {
            "type": "string",
            "enum": sorted(TECHNIQUES - {Technique.DIFFERENTIAL_PRIVACY}),
        },
        "source": _SOURCE_SCHEMA,
    },
    "required": ["technique"],
    "additionalProperties": False,
}
# One declared technique as _declared reads it: a name alone (not differential privacy's),
# differential privacy with its epsilon and delta, or another technique without them. What
# one item cannot say of the others (each technique once, secure aggregation with federated,
# anonymised or pseudonymised) is in the field's description and refused naming the field.
_DECLARED_SCHEMA = {
    "oneOf": [
        # a name alone: differential privacy needs its parameters, so it is an object
        {"type": "string", "enum": sorted(TECHNIQUES - {Technique.DIFFERENTIAL_PRIVACY})},
        _DIFFERENTIAL_PRIVACY,
        _WITHOUT_PARAMETERS,
    ]
}
LIST_RULES = (
    "Each technique once; secure aggregation only with federated; anonymisation or "
    "pseudonymisation, not both."
)


@extend_schema_field(
    {
        "type": "array",
        "items": _DECLARED_SCHEMA,
        "maxItems": MAX_TECHNIQUES,
        "description": LIST_RULES,
    }
)
class TechniquesField(serializers.Field):
    """A declaration of privacy techniques: names, or objects with parameters (differential
    privacy needs epsilon > 0 and delta in [0, 1)); errors name the item and parameter."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", ())
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> tuple[Declared, ...]:
        try:
            return parse_declaration(data, self.field_name or "techniques")
        except ValidationError as exc:
            raise serializers.ValidationError(
                [f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items()]
            ) from exc

    def to_representation(self, value: Any) -> list[dict[str, Any]]:
        return list(value) if isinstance(value, list) else declaration_json(value)
