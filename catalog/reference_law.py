"""The law sections of the reference data: check them, and load them.

Sections: ``transfer_laws`` (one per jurisdiction), ``localisation_duties``,
``destination_restrictions``, ``breach_clocks`` (one per jurisdiction), ``subject_rights``
(one per jurisdiction) and ``consent_laws`` (where consent is a lawful basis that is encoded). Every row names its citation and whether it was verified, and a
verified row names the address that was read.
"""

from __future__ import annotations

import datetime
from collections import Counter
from typing import Any

LAW_SECTIONS = (
    "transfer_laws",
    "localisation_duties",
    "destination_restrictions",
    "breach_clocks",
    "subject_rights",
    "consent_laws",
)
_MODELS = {
    "transfer_laws": "TransferLaw",
    "localisation_duties": "LocalisationDuty",
    "destination_restrictions": "DestinationRestriction",
    "breach_clocks": "BreachClock",
    "subject_rights": "SubjectRights",
    "consent_laws": "ConsentLaw",
}
_KEYS: dict[str, tuple[str, ...]] = {
    "transfer_laws": ("jurisdiction_id",),
    "localisation_duties": ("jurisdiction_id", "applies_to"),
    "destination_restrictions": ("code",),
    "breach_clocks": ("jurisdiction_id",),
    "subject_rights": ("jurisdiction_id",),
    "consent_laws": ("jurisdiction_id",),
}
_ONE_PER_JURISDICTION = ("transfer_laws", "breach_clocks", "subject_rights")
_LIMITS = {
    "citation": 300,
    "source": 300,
    "applies_to": 300,
    "regulator_deadline_text": 300,
    "threshold": 300,
    "subjects_notice": 300,
    "regulator": 200,
    "withdrawal_citation": 300,
    "says": 300,
}


def _choices() -> dict[str, set[str]]:
    from catalog.law import DestinationRestriction, LocalisationDuty, TransferModel

    return {
        "model": set(TransferModel.values),
        "duty": set(LocalisationDuty.Duty.values),
        "effect": set(DestinationRestriction.Effect.values),
    }


def _is_date(value: Any) -> bool:
    if value is None:
        return True
    try:
        datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def validate_law(
    data: dict[str, Any], countries: set[str], jurisdictions: set[str], categories: set[str]
) -> list[str]:
    """Problems with the law sections (each must be a list; rows must name known things)."""
    problems: list[str] = []
    choices = _choices()
    for section in LAW_SECTIONS:
        rows = data.get(section)
        if not isinstance(rows, list):
            problems.append(f"missing or malformed section {section!r}")
            continue
        if section in _ONE_PER_JURISDICTION:
            counts = Counter(row.get("jurisdiction") for row in rows)
            problems += [
                f"{section}: {code!r} appears twice" for code, n in counts.items() if n > 1
            ]
            problems += [
                f"{section}: no row for {code!r}" for code in sorted(jurisdictions - set(counts))
            ]
        for row in rows:
            problems += _row_problems(section, row, countries, jurisdictions, categories, choices)
    return problems


def _row_problems(
    section: str,
    row: dict[str, Any],
    countries: set[str],
    jurisdictions: set[str],
    categories: set[str],
    choices: dict[str, set[str]],
) -> list[str]:
    label = f"{section}: {row.get('jurisdiction')!r} {row.get('code', row.get('duty', ''))}".strip()
    problems = []
    if row.get("jurisdiction") not in jurisdictions:
        problems.append(f"{label}: unknown jurisdiction")
    if not isinstance(row.get("verified"), bool):
        problems.append(f"{label}: verified must be true or false")
    elif row["verified"] and not row.get("source"):
        problems.append(f"{label}: a verified fact names its source")
    if section != "subject_rights" and not row.get("citation"):
        problems.append(f"{label}: citation is required")
    for field, limit in _LIMITS.items():
        if len(str(row.get(field) or "")) > limit:
            problems.append(f"{label}: {field} is longer than {limit} characters")
    for field, allowed in choices.items():
        if field in row and row[field] not in allowed:
            problems.append(f"{label}: unknown {field} {row[field]!r}")
    if not _is_date(row.get("effective_from")):
        problems.append(f"{label}: effective_from {row.get('effective_from')!r} is not a date")
    problems += [
        f"{label}: unknown country {c!r}" for c in row.get("countries", ()) if c not in countries
    ]
    problems += [
        f"{label}: unknown personal data category {c!r}"
        for c in row.get("categories", ())
        if c not in categories
    ]
    for item in [*row.get("mechanisms", []), *row.get("rights", [])]:
        if not item.get("code") or not item.get("citation"):
            problems.append(f"{label}: every mechanism and right has a code and a citation")
    return problems


def load_law(apps: Any, data: dict[str, Any]) -> None:
    """Create or update the law rows (each table skipped for a historical registry that
    predates it: the migration that creates it loads it)."""
    models = {}
    for section, name in _MODELS.items():
        try:
            models[section] = apps.get_model("catalog", name) if apps else _current(name)
        except LookupError:
            continue
    for section, model in models.items():
        rows = [{**row, "jurisdiction_id": row["jurisdiction"]} for row in data[section]]
        kept = upsert_rows(model, rows, _KEYS[section])
        # The shipped data is the whole of the law: a row it no longer holds is gone.
        model.objects.exclude(pk__in=kept).delete()


def upsert_rows(model: Any, rows: list[dict[str, Any]], key: tuple[str, ...]) -> list[Any]:
    """Create or update rows found by `key` in a few bulk queries; their primary keys, in order.

    Row keys are the model's column names (`country_id`); keys the model lacks are dropped, so
    a migration's older model can still load newer data.
    """
    columns = {f.attname: f for f in model._meta.concrete_fields}
    existing = {tuple(getattr(obj, name) for name in key): obj for obj in model.objects.all()}
    created, updated, kept = [], [], []
    changed: set[str] = set()
    for row in rows:
        values = {name: value for name, value in row.items() if name in columns}
        obj = existing.get(tuple(values[name] for name in key))
        if obj is None:
            obj = model(**values)
            created.append(obj)
        else:
            for name, value in values.items():
                setattr(obj, name, value)
            updated.append(obj)
            changed.update(n for n in values if n not in key and not columns[n].primary_key)
        kept.append(obj)
    model.objects.bulk_create(created, batch_size=500)
    if updated and changed:
        model.objects.bulk_update(updated, sorted(changed), batch_size=200)
    return [obj.pk for obj in kept]


def _current(name: str) -> Any:
    from catalog import law

    return getattr(law, name)
