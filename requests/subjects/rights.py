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
