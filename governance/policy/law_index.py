"""Compiling every jurisdiction's transfer law into the engine's `LawBook`: from the catalog's
rows (`compile_law_book`), or from reference-data rows held in memory (`build_law_book`)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from catalog.models import (
    DestinationRestriction,
    Jurisdiction,
    LocalisationDuty,
    Regime,
    TransferLaw,
)
from governance.policy.law import (
    DutyFacts,
    LawBook,
    Mechanism,
    RestrictionFacts,
    TransferLawFacts,
)

Row = Mapping[str, Any]


def law_jurisdictions(codes: Iterable[str], parents: Mapping[str, str]) -> tuple[str, ...]:
    """The laws protecting personal data under these jurisdictions: each, and the law above it
    (federal law over a US state's), sorted so equal sets share one tuple."""
    found = set(codes)
    found.update(parents[code] for code in list(found) if code in parents)
    return tuple(sorted(found))


def law_name(regime: str, name: str) -> str:
    """How answers name a jurisdiction's law: its regime's label, or the jurisdiction's name."""
    return name if regime == Regime.OTHER else str(Regime(regime).label)


def build_law_book(
    jurisdictions: Iterable[Row],
    laws: Iterable[Row],
    duties: Iterable[Row],
    restrictions: Iterable[Row],
) -> tuple[LawBook, dict[str, str]]:
    """(the law book, each jurisdiction's parent) from rows shaped as in reference_data.json."""
    places = {j["code"]: j for j in jurisdictions}
    names = {code: law_name(j["regime"], j["name"]) for code, j in places.items()}
    parents = {
        code: code.split("-", 1)[0]
        for code in places
        if "-" in code and code.split("-", 1)[0] in places
    }
    book = LawBook(
        laws={
            law["jurisdiction"]: TransferLawFacts(
                jurisdiction=law["jurisdiction"],
                name=names[law["jurisdiction"]],
                model=law["model"],
                home=frozenset(places[law["jurisdiction"]]["countries"]),
                mechanisms=_mechanisms(law["mechanisms"]),
                citation=law["citation"],
                verified=law["verified"],
            )
            for law in laws
        },
        duties=_grouped(_duty(d) for d in duties),
        restrictions=_grouped(_restriction(r) for r in restrictions),
        names=names,
    )
    return book, parents


def compile_law_book() -> tuple[LawBook, dict[str, str]]:
    """The law book from the catalog's rows: one query per table."""
    jurisdictions = [
        {
            "code": j.code,
            "regime": j.regime,
            "name": j.name,
            "countries": [c.code for c in j.countries.all()],
        }
        for j in Jurisdiction.objects.prefetch_related("countries")
    ]

    def rows(model: Any) -> list[dict[str, Any]]:
        return [{**row, "jurisdiction": row["jurisdiction_id"]} for row in model.objects.values()]

    return build_law_book(
        jurisdictions, rows(TransferLaw), rows(LocalisationDuty), rows(DestinationRestriction)
    )


def _mechanisms(rows: Iterable[Row]) -> tuple[Mechanism, ...]:
    return tuple(Mechanism(m["code"], m.get("name", ""), m["citation"]) for m in rows)


def _day(value: dt.date | str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _duty(row: Row) -> DutyFacts:
    return DutyFacts(
        row["jurisdiction"],
        row["duty"],
        row["applies_to"],
        frozenset(row.get("categories") or ()),
        row["citation"],
        _day(row.get("effective_from")),
    )


def _restriction(row: Row) -> RestrictionFacts:
    # Sorted: PostgreSQL's jsonb keeps keys in its own order, not the document's.
    limits = sorted((row.get("bulk_thresholds") or {}).items())
    thresholds = ", ".join(f"{k} > {v}" for k, v in limits)
    return RestrictionFacts(
        row["code"],
        row["jurisdiction"],
        frozenset(row["countries"]),
        frozenset(row.get("categories") or ()),
        row["effect"],
        _mechanisms(row.get("mechanisms") or ()),
        f"{thresholds} people in 12 months" if thresholds else "",
        row["citation"],
        _day(row.get("effective_from")),
    )


def _grouped(facts: Iterable[DutyFacts | RestrictionFacts]) -> dict[str, tuple[Any, ...]]:
    grouped: dict[str, list[Any]] = defaultdict(list)
    for fact in facts:
        grouped[fact.jurisdiction].append(fact)
    return {code: tuple(sorted(items, key=_order)) for code, items in grouped.items()}


def _order(fact: DutyFacts | RestrictionFacts) -> tuple[str, str]:
    return (fact.jurisdiction, fact.code if isinstance(fact, RestrictionFacts) else fact.applies_to)
