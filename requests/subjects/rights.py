"""Which requests a subject may make: the rights their jurisdiction's law gives (the catalog's
SubjectRights, each with its label and article), mapped to the request types the workflow
answers. Rights the workflow cannot honour (automated decisions, explanations, nomination,
complaints) are listed as not handled by Locus, with their articles.

A jurisdiction whose law encodes no general rights (the US federal row: sectoral laws only)
is offered the workflow's requests as house policy, said so in the citation."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ObjectDoesNotExist, ValidationError

from catalog.law import SubjectRights
from catalog.models import Jurisdiction
from requests.models.subjects import SubjectRequestType

T = SubjectRequestType

# SubjectRights code -> the request type that answers it. opt_out_sale and withdraw_consent
# are answered as an objection is (each owner stops the processing and says what was done).
HANDLED: dict[str, SubjectRequestType] = {
    "access": T.ACCESS,
    "rectification": T.RECTIFICATION,
    "erasure": T.ERASURE,
    "restriction": T.RESTRICTION,
    "portability": T.PORTABILITY,
    "objection": T.OBJECTION,
    "opt_out_sale": T.OPT_OUT_SALE,
    "withdraw_consent": T.WITHDRAW_CONSENT,
}
# Offered where the law encodes no rights: what the workflow answered before regimes had any.
HOUSE_TYPES = (T.ACCESS, T.RECTIFICATION, T.ERASURE, T.RESTRICTION, T.PORTABILITY, T.OBJECTION)


@dataclass(frozen=True)
class NoVerification:
    """A request the subject's law forbids making wait for proof of identity: it is taken at
    once (the waiver recorded with its article), never sent a code."""

    citation: str
    reason: str
    verified: bool
    notes: str = ""

    @property
    def shown(self) -> str:
        return f"{self.reason} ({self.citation})"


# (jurisdiction, request type) -> why no identity verification may be asked for. A business
# may still refuse a request it documents as fraudulent (§7026, §7027(f)): an officer's step.
NO_VERIFICATION: dict[tuple[str, str], NoVerification] = {
    ("us-ca", T.OPT_OUT_SALE): NoVerification(
        "11 CCR §7026(d)",
        "a request to opt out of sale or sharing is not a verifiable consumer request",
        verified=False,
        notes="The current subsection's text was not seen; its predecessor (11 CCR "
        "§999.315(h), 2020) was: 'A request to opt-out need not be a verifiable consumer "
        "request.'",
    ),
    # The catalog's us-ca rights code "restriction" is the right to limit (§1798.121).
    ("us-ca", T.RESTRICTION): NoVerification(
        "11 CCR §7027(e)",
        "a business shall not require a verifiable consumer request for a request to limit "
        "the use of sensitive personal information",
        verified=True,
        notes="Text of §7027(e) seen in a reproduction of the regulations.",
    ),
}


def no_verification(jurisdiction: Jurisdiction | str, type_: str) -> NoVerification | None:
    """Why this request may not be made to wait for proof of identity, if its law says so."""
    code = jurisdiction if isinstance(jurisdiction, str) else jurisdiction.code
    return NO_VERIFICATION.get((code, type_))


@dataclass(frozen=True)
class Right:
    """One right as the law names it: several rows of one code are joined (CCPA's two rights
    to know are both answered by an access request)."""

    code: str
    label: str
    citation: str

    @property
    def shown(self) -> str:
        return f"{self.label} ({self.citation})" if self.citation else self.label


@dataclass(frozen=True)
class Offered(Right):
    """A right the workflow answers, with the request type that answers it."""

    type: str = ""


@dataclass(frozen=True)
class RegimeRights:
    jurisdiction: str
    regime: str
    encoded: bool
    verified: bool
    offered: tuple[Offered, ...]
    not_handled: tuple[Right, ...]

    def offer(self, type_: str) -> Offered | None:
        return next((o for o in self.offered if o.type == type_), None)

    @property
    def types(self) -> list[str]:
        return [o.type for o in self.offered]


def _joined(values: list[str]) -> str:
    return "; ".join(dict.fromkeys(v for v in values if v))


def _grouped(rows: list[dict]) -> dict[str, Right]:
    """The law's rights by code, in the order the law lists them."""
    labels: dict[str, list[str]] = {}
    citations: dict[str, list[str]] = {}
    for row in rows:
        code = str(row.get("code", ""))
        labels.setdefault(code, []).append(str(row.get("label", "")))
        citations.setdefault(code, []).append(str(row.get("citation", "")))
    return {code: Right(code, _joined(labels[code]), _joined(citations[code])) for code in labels}


def _house(jurisdiction: Jurisdiction) -> RegimeRights:
    citation = f"no general right encoded for {jurisdiction.name}: answered as house policy"
    offered = tuple(Offered(t.value, t.label, citation, type=t.value) for t in HOUSE_TYPES)
    return RegimeRights(jurisdiction.code, jurisdiction.name, False, False, offered, ())


def rights_of(jurisdiction: Jurisdiction) -> RegimeRights:
    """The requests a subject of this jurisdiction may make, and the rights Locus leaves to
    people."""
    try:
        law: SubjectRights = jurisdiction.subject_rights
    except ObjectDoesNotExist:
        return _house(jurisdiction)
    rows = law.rights if isinstance(law.rights, list) else []
    if not rows:
        return _house(jurisdiction)
    offered: list[Offered] = []
    not_handled: list[Right] = []
    for code, right in _grouped(rows).items():
        if code in HANDLED:
            offered.append(Offered(code, right.label, right.citation, type=HANDLED[code].value))
        else:
            not_handled.append(right)
    return RegimeRights(
        jurisdiction.code,
        jurisdiction.name,
        True,
        law.verified,
        tuple(offered),
        tuple(not_handled),
    )


def jurisdiction_named(code: str | None) -> Jurisdiction:
    """The jurisdiction a subject names; a ValidationError naming `jurisdiction`, with the
    valid codes, when it is missing or unknown."""
    found = (
        Jurisdiction.objects.select_related("subject_rights").filter(pk=code).first()
        if code
        else None
    )
    if found is not None:
        return found
    codes = ", ".join(Jurisdiction.objects.order_by("code").values_list("code", flat=True))
    problem = f"Unknown jurisdiction {code!r}" if code else "Give the subject's jurisdiction"
    raise ValidationError({"jurisdiction": f"{problem}: one of {codes}"})


def check_type(jurisdiction: Jurisdiction, type_: str) -> Offered:
    """The right a request of this type exercises; a ValidationError naming `type` where the
    subject's law gives no such right."""
    regime = rights_of(jurisdiction)
    offered = regime.offer(type_)
    if offered is not None:
        return offered
    given = ", ".join(regime.types) or "none"
    if type_ in SubjectRequestType.values:
        message = (
            f"{jurisdiction.name} gives no {SubjectRequestType(type_).label.lower()} right "
            f"that Locus answers; its law gives: {given}"
        )
    else:
        message = f"Unknown request type {type_!r}; {jurisdiction.name} gives: {given}"
    raise ValidationError({"type": message})
