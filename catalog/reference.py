"""Locus's legal and geographic reference data: load it, and check it before loading.

The data lives in ``reference_data.json`` next to this module: countries, jurisdictions (with
their data-subject-request clocks and transfer rules), adequacy decisions, cloud and on-premises
regions, and the personal-data-category taxonomy.

An adequacy decision is in force on a day ``d`` when ``effective_from <= d`` and either
``effective_until`` is empty or ``d < effective_until``: ``effective_until`` is the first day the
decision no longer applies (for the invalidated US frameworks, the day of the CJEU judgment).
"""

from __future__ import annotations

import datetime
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from catalog.reference_law import LAW_SECTIONS, load_law, upsert_rows, validate_law

REFERENCE_DATA_PATH = Path(__file__).with_name("reference_data.json")

SECTIONS = (
    "countries",
    "jurisdictions",
    "adequacy_decisions",
    "regions",
    "personal_data_categories",
)

_COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
_ISO3 = re.compile(r"^[A-Z]{3}$")
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
_REGION_CODE = re.compile(r"^[a-z0-9]+:[a-z0-9][a-z0-9-]*$")

# Lengths of the CharFields the data is loaded into (catalog/models.py).
_MAX_LENGTHS = {
    "countries": {"name": 100},
    "jurisdictions": {"code": 20, "name": 120, "dsr_citation": 300, "transfer_citation": 300},
    "adequacy_decisions": {"scope_description": 300, "instrument": 200, "citation": 300},
    "regions": {"code": 60, "name": 120, "city": 80},
    "personal_data_categories": {"code": 40, "name": 80, "description": 300},
}


def read_reference_data(path: Path | str = REFERENCE_DATA_PATH) -> dict[str, list[dict[str, Any]]]:
    """The reference data document, as parsed JSON."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _choices() -> tuple[set[str], set[str], set[str], set[str]]:
    # Imported here so that importing this module (e.g. from a migration) stays cheap.
    from catalog.models import AdequacyDecision, DeadlineUnit, Regime, Region

    return (
        set(Regime.values),
        set(DeadlineUnit.values),
        set(AdequacyDecision.Scope.values),
        set(Region.Provider.values),
    )


def _parse_date(value: Any) -> datetime.date | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


def _duplicates(values: list[Any]) -> list[Any]:
    return sorted((v for v, n in Counter(values).items() if n > 1), key=str)


def validate_reference_data(data: dict[str, Any]) -> list[str]:
    """Problems with a reference data document; an empty list means it may be loaded."""
    problems: list[str] = []
    regimes, units, scopes, providers = _choices()

    for section in SECTIONS:
        if not isinstance(data.get(section), list):
            problems.append(f"missing or malformed section {section!r}")
    if problems:
        return problems

    for section, limits in _MAX_LENGTHS.items():
        for row in data[section]:
            for field, limit in limits.items():
                if len(str(row.get(field) or "")) > limit:
                    problems.append(
                        f"{section}: {row.get('code', row.get('instrument'))!r} {field} is longer "
                        f"than {limit} characters"
                    )

    # Countries.
    countries = data["countries"]
    country_codes = [c.get("code") for c in countries]
    known_countries = set(country_codes)
    for code in _duplicates(country_codes):
        problems.append(f"duplicate country code {code!r}")
    for iso3 in _duplicates([c.get("iso3") for c in countries]):
        problems.append(f"duplicate country iso3 {iso3!r}")
    for c in countries:
        code = c.get("code")
        if not isinstance(code, str) or not _COUNTRY_CODE.match(code):
            problems.append(f"country code {code!r} is not ISO 3166-1 alpha-2")
        if not isinstance(c.get("iso3"), str) or not _ISO3.match(c["iso3"]):
            problems.append(f"country {code!r}: iso3 {c.get('iso3')!r} is not alpha-3")
        if not c.get("name"):
            problems.append(f"country {code!r} has no name")
        lat, lon = c.get("latitude"), c.get("longitude")
        if not isinstance(lat, int | float) or not -90 <= lat <= 90:
            problems.append(f"country {code!r}: latitude {lat!r} out of range")
        if not isinstance(lon, int | float) or not -180 <= lon <= 180:
            problems.append(f"country {code!r}: longitude {lon!r} out of range")
        if not isinstance(c.get("in_eea"), bool):
            problems.append(f"country {code!r}: in_eea must be true or false")

    # Jurisdictions.
    jurisdictions = data["jurisdictions"]
    jurisdiction_codes = [j.get("code") for j in jurisdictions]
    for code in _duplicates(jurisdiction_codes):
        problems.append(f"duplicate jurisdiction code {code!r}")
    coverage: dict[str, set[str]] = {}
    for j in jurisdictions:
        code = j.get("code")
        if not isinstance(code, str) or not _SLUG.match(code):
            problems.append(f"jurisdiction code {code!r} is not a slug")
        if j.get("regime") not in regimes:
            problems.append(f"jurisdiction {code!r}: unknown regime {j.get('regime')!r}")
        members = j.get("countries") or []
        for cc in _duplicates(members):
            problems.append(f"jurisdiction {code!r} lists country {cc!r} twice")
        for cc in members:
            if cc not in known_countries:
                problems.append(f"jurisdiction {code!r}: unknown country code {cc!r}")
        coverage[code] = set(members)
        for amount_field, unit_field in (
            ("dsr_deadline_amount", "dsr_deadline_unit"),
            ("dsr_extension_amount", "dsr_extension_unit"),
        ):
            amount, unit = j.get(amount_field), j.get(unit_field)
            if unit not in units:
                problems.append(f"jurisdiction {code!r}: unknown {unit_field} {unit!r}")
            if not isinstance(amount, int) or amount < 0:
                problems.append(
                    f"jurisdiction {code!r}: {amount_field} must be a whole number >= 0"
                )
            elif (unit == "none") != (amount == 0):
                problems.append(
                    f"jurisdiction {code!r}: {amount_field} {amount} does not fit unit {unit!r}"
                )
        ack = j.get("dsr_acknowledge_business_days")
        if ack is not None and (not isinstance(ack, int) or ack < 0):
            problems.append(f"jurisdiction {code!r}: dsr_acknowledge_business_days must be >= 0")

    # Adequacy decisions.
    decisions = data["adequacy_decisions"]
    keys = [(a.get("decided_by"), a.get("country"), a.get("instrument")) for a in decisions]
    for key in _duplicates(keys):
        problems.append(f"duplicate adequacy decision {key!r}")
    for a in decisions:
        label = (
            f"adequacy decision {a.get('decided_by')}/{a.get('country')} {a.get('instrument')!r}"
        )
        if a.get("decided_by") not in coverage:
            problems.append(f"{label}: unknown jurisdiction {a.get('decided_by')!r}")
        if a.get("country") not in known_countries:
            problems.append(f"{label}: unknown country code {a.get('country')!r}")
        if a.get("scope") not in scopes:
            problems.append(f"{label}: unknown scope {a.get('scope')!r}")
        scope_code = a.get("scope_code") or ""
        if (a.get("scope") == "full") != (scope_code == "") or not _SLUG.match(scope_code or "-"):
            problems.append(f"{label}: a partial or certified decision names its scope_code")
        if not a.get("instrument") or not a.get("citation"):
            problems.append(f"{label}: instrument and citation are required")
        start = _parse_date(a.get("effective_from"))
        if start is None:
            problems.append(f"{label}: effective_from {a.get('effective_from')!r} is not a date")
        if a.get("effective_until") is not None:
            end = _parse_date(a.get("effective_until"))
            if end is None:
                problems.append(
                    f"{label}: effective_until {a.get('effective_until')!r} is not a date"
                )
            elif start is not None and end <= start:
                problems.append(f"{label}: effective_until is not after effective_from")

    # Regions.
    regions = data["regions"]
    for code in _duplicates([r.get("code") for r in regions]):
        problems.append(f"duplicate region code {code!r}")
    for r in regions:
        code = r.get("code")
        if not isinstance(code, str) or not _REGION_CODE.match(code):
            problems.append(f"region code {code!r} is not provider:name")
        elif code.split(":", 1)[0] != r.get("provider"):
            problems.append(f"region {code!r}: provider {r.get('provider')!r} does not match code")
        if r.get("provider") not in providers:
            problems.append(f"region {code!r}: unknown provider {r.get('provider')!r}")
        country, jurisdiction = r.get("country"), r.get("jurisdiction")
        if country not in known_countries:
            problems.append(f"region {code!r}: unknown country code {country!r}")
        if jurisdiction not in coverage:
            problems.append(f"region {code!r}: unknown jurisdiction {jurisdiction!r}")
        elif country not in coverage[jurisdiction]:
            problems.append(
                f"region {code!r}: jurisdiction {jurisdiction!r} does not cover country {country!r}"
            )

    # Personal data categories.
    categories = data["personal_data_categories"]
    for code in _duplicates([c.get("code") for c in categories]):
        problems.append(f"duplicate personal data category {code!r}")
    for c in categories:
        if not isinstance(c.get("code"), str) or not _SLUG.match(c["code"]):
            problems.append(f"personal data category code {c.get('code')!r} is not a slug")
        if not isinstance(c.get("special"), bool):
            problems.append(f"personal data category {c.get('code')!r}: special must be a bool")

    problems += validate_law(
        data,
        known_countries,
        set(coverage),
        {c.get("code") for c in categories},
    )
    return problems


def _get_models(apps):
    names = ("Country", "Jurisdiction", "AdequacyDecision", "Region", "PersonalDataCategory")
    if apps is None:
        from catalog import models

        return tuple(getattr(models, name) for name in names)
    return tuple(apps.get_model("catalog", name) for name in names)


def load_reference_data(apps=None, data: dict[str, Any] | None = None) -> dict[str, int]:
    """Create or update the reference data; safe to run repeatedly. Returns rows per section.

    With ``apps`` (a migration's historical app registry) the historical models are used;
    otherwise the current ones. ``data`` defaults to the shipped ``reference_data.json``.
    Raises ValueError, loading nothing, if the data fails validate_reference_data.
    """
    from django.db import transaction

    if data is None:
        data = read_reference_data()
    problems = validate_reference_data(data)
    if problems:
        raise ValueError("Invalid reference data:\n  " + "\n  ".join(problems))

    Country, Jurisdiction, AdequacyDecision, Region, PersonalDataCategory = _get_models(apps)
    countries_of = {row["code"]: row["countries"] for row in data["jurisdictions"]}

    with transaction.atomic():
        upsert_rows(Country, data["countries"], ("code",))
        upsert_rows(Jurisdiction, data["jurisdictions"], ("code",))
        for jurisdiction in Jurisdiction.objects.filter(code__in=countries_of):
            jurisdiction.countries.set(countries_of[jurisdiction.code])
        upsert_rows(
            AdequacyDecision,
            [
                {**row, "decided_by_id": row["decided_by"], "country_id": row["country"]}
                for row in data["adequacy_decisions"]
            ],
            ("decided_by_id", "country_id", "instrument"),
        )
        upsert_rows(
            Region,
            [
                {**row, "country_id": row["country"], "jurisdiction_id": row["jurisdiction"]}
                for row in data["regions"]
            ],
            ("code",),
        )
        upsert_rows(PersonalDataCategory, data["personal_data_categories"], ("code",))
        load_law(apps, data)

    return {section: len(data[section]) for section in (*SECTIONS, *LAW_SECTIONS)}
