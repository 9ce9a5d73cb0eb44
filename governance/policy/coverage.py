"""The legal coverage report: for each jurisdiction, what Locus encodes of its law (subject-request
deadlines, transfer rule, recognised destinations, localisation duties, destination
restrictions, breach clock, subject rights, consent as a lawful basis where encoded), each with
its citation, and what is unverified.

Nothing is silent: a jurisdiction with no transfer rule says so, as the engine's answers do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q

from catalog.models import AdequacyDecision, Jurisdiction
from governance.policy.law_index import law_name

NOT_ENCODED = "not encoded"


@dataclass(frozen=True)
class Fact:
    """One encoded fact: what it says, its citation, and whether it was verified."""

    topic: str
    says: str
    citation: str
    verified: bool
    source: str = ""


@dataclass
class Coverage:
    code: str
    name: str
    law: str
    facts: list[Fact] = field(default_factory=list)
    recognised: int = 0  # destinations its law recognises (adequacy rows)
    recognised_verified: int = 0

    def fact(self, topic: str) -> Fact | None:
        return next((f for f in self.facts if f.topic == topic), None)

    @property
    def unverified(self) -> list[str]:
        topics = [f.topic for f in self.facts if not f.verified and f.says != NOT_ENCODED]
        return list(dict.fromkeys(topics))

    @property
    def missing(self) -> list[str]:
        return [f.topic for f in self.facts if f.says == NOT_ENCODED]


def legal_coverage() -> list[Coverage]:
    """Every jurisdiction's encoded law, in name order (a fixed number of queries)."""
    jurisdictions = (
        Jurisdiction.objects.select_related(
            "transfer_law", "breach_clock", "subject_rights", "consent_law"
        )
        .prefetch_related("localisation_duties", "destination_restrictions")
        .annotate(
            recognised=Count("adequacy_decisions", distinct=True),
            recognised_verified=Count(
                "adequacy_decisions", filter=Q(adequacy_decisions__verified=True), distinct=True
            ),
        )
        .order_by("name")
    )
    return [_coverage(j) for j in jurisdictions]


def _coverage(j: Jurisdiction) -> Coverage:
    row = Coverage(j.code, j.name, law_name(j.regime, j.name))
    row.recognised = j.recognised  # type: ignore[attr-defined]  # annotated above
    row.recognised_verified = j.recognised_verified  # type: ignore[attr-defined]
    row.facts.append(_deadline(j))
    row.facts.append(_transfer(j))
    row.facts += [
        Fact(
            "localisation",
            f"{d.get_duty_display()}: {d.applies_to}",
            d.citation,
            d.verified,
            d.source,
        )
        for d in j.localisation_duties.all()
    ]
    row.facts += [
        Fact(
            "destination restriction",
            f"{r.get_effect_display()} to {', '.join(r.countries)}",
            r.citation,
            r.verified,
            r.source,
        )
        for r in j.destination_restrictions.all()
    ]
    row.facts.append(_breach(j))
    row.facts.append(_rights(j))
    consent = getattr(j, "consent_law", None)
    if consent is not None:
        row.facts.append(
            Fact(
                "consent",
                f"a lawful basis for specific purposes; withdrawn under {consent.withdrawal_citation}",
                consent.citation,
                consent.verified,
                consent.source,
            )
        )
    return row


def _deadline(j: Jurisdiction) -> Fact:
    if j.dsr_deadline_unit == "none":
        says = "no fixed period"
    else:
        says = f"{j.dsr_deadline_amount} {j.get_dsr_deadline_unit_display()}"
    # The deadlines predate the verified flag: their citations' notes say what was checked.
    verified = "unverified" not in j.notes.lower()
    return Fact("subject-request deadline", says, j.dsr_citation, verified)


def _transfer(j: Jurisdiction) -> Fact:
    law = getattr(j, "transfer_law", None)
    if law is None:
        return Fact("transfer rule", NOT_ENCODED, "", False)
    routes = sorted({m["code"] for m in law.mechanisms})
    says = law.get_model_display() + (f" ({', '.join(routes)})" if routes else "")
    return Fact("transfer rule", says, law.citation, law.verified, law.source)


def _breach(j: Jurisdiction) -> Fact:
    clock = getattr(j, "breach_clock", None)
    if clock is None:
        return Fact("breach clock", NOT_ENCODED, "", False)
    hours = f"{clock.regulator_hours} h: " if clock.regulator_hours else ""
    return Fact(
        "breach clock",
        f"{hours}{clock.regulator_deadline_text}",
        clock.citation,
        clock.verified,
        clock.source,
    )


def _rights(j: Jurisdiction) -> Fact:
    rights = getattr(j, "subject_rights", None)
    if rights is None:
        return Fact("subject rights", NOT_ENCODED, "", False)
    codes = [r["code"] for r in rights.rights]
    citations = "; ".join(dict.fromkeys(r["citation"] for r in rights.rights))
    return Fact("subject rights", ", ".join(codes), citations[:300], rights.verified, rights.source)


def recognised_destinations(code: str) -> list[AdequacyDecision]:
    """The destinations one jurisdiction's law recognises, for its detail."""
    return list(
        AdequacyDecision.objects.filter(decided_by_id=code)
        .select_related("country")
        .order_by("country__name", "effective_from")
    )


def coverage_table(rows: list[Coverage]) -> str:
    """The report as a Markdown table (the command prints it; the README holds a copy)."""
    lines = [
        "| Jurisdiction | DSR deadline | Transfer rule | Recognised destinations "
        "| Localisation | Breach clock | Rights | Unverified |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        transfer = row.fact("transfer rule")
        breach = row.fact("breach clock")
        rights = row.fact("subject rights")
        deadline = row.fact("subject-request deadline")
        localisation = [f for f in row.facts if f.topic == "localisation"]
        cells = [
            f"{row.name} (`{row.code}`)",
            deadline.says if deadline else NOT_ENCODED,
            (transfer.says.split(":")[0].split(" (")[0] if transfer else NOT_ENCODED),
            f"{row.recognised} ({row.recognised_verified} verified)" if row.recognised else "—",
            _duties(len(localisation)),
            _short_clock(breach),
            f"{len(rights.says.split(', '))}" if rights and rights.says != NOT_ENCODED else "—",
            ", ".join(row.unverified + [f"{m} missing" for m in row.missing]) or "—",
        ]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def _duties(count: int) -> str:
    return "—" if not count else f"{count} {'duty' if count == 1 else 'duties'}"


def _short_clock(breach: Fact | None) -> str:
    if breach is None or breach.says == NOT_ENCODED:
        return NOT_ENCODED
    head = breach.says.split(":")[0]
    return head if head.endswith(" h") else "no fixed hours"
