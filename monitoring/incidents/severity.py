"""How serious a violation is, from which rules it broke and what data it touched.

One explicit table, so that every case can be checked at a glance:

=====================  ===========================  ================  ==================  ===============
broke                  special-category personal    other personal    confidential or     public or
                       data, or restricted personal data              restricted, not     internal, not
                       data                                           personal            personal
=====================  ===========================  ================  ==================  ===============
the law (``legal``)    critical                     high              medium              medium
house rules (``house``) high                        medium            medium              low
=====================  ===========================  ================  ==================  ===============

A house-rule deviation (the law allows the transfer; only the dataset's declared regions or an
officer's locality rule deny it) is not a personal-data breach by itself, so it is never
critical, and never more than medium for data that is not personal. The law's verdict only
concerns personal data: its last column is there for completeness.
"""

from __future__ import annotations

from catalog.models import Sensitivity
from governance.policy.facts import DatasetFacts
from monitoring.models import Basis, Severity

SPECIAL = "special"  # special-category personal data, or restricted personal data
PERSONAL = "personal"  # other personal data
GUARDED = "guarded"  # confidential or restricted, not personal
PLAIN = "plain"  # public or internal, not personal

SEVERITY_TABLE: dict[tuple[str, str], str] = {
    (Basis.LEGAL, SPECIAL): Severity.CRITICAL,
    (Basis.LEGAL, PERSONAL): Severity.HIGH,
    (Basis.LEGAL, GUARDED): Severity.MEDIUM,
    (Basis.LEGAL, PLAIN): Severity.MEDIUM,
    (Basis.HOUSE, SPECIAL): Severity.HIGH,
    (Basis.HOUSE, PERSONAL): Severity.MEDIUM,
    (Basis.HOUSE, GUARDED): Severity.MEDIUM,
    (Basis.HOUSE, PLAIN): Severity.LOW,
}
GUARDED_SENSITIVITIES = frozenset({Sensitivity.CONFIDENTIAL, Sensitivity.RESTRICTED})


def data_class(ds: DatasetFacts, special: frozenset[str]) -> str:
    """Which column of the table a dataset falls in (`special`: the special-category codes)."""
    if ds.personal:
        if ds.categories & special or ds.sensitivity == Sensitivity.RESTRICTED:
            return SPECIAL
        return PERSONAL
    return GUARDED if ds.sensitivity in GUARDED_SENSITIVITIES else PLAIN


def severity_of(basis: str, ds: DatasetFacts, special: frozenset[str]) -> str:
    return SEVERITY_TABLE[(basis, data_class(ds, special))]
