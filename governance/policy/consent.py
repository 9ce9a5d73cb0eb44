"""The law on consent as a lawful basis: a dataset held on consent may be used only for the
purposes its consent notices cover (GDPR Art. 6(1)(a): consent is given "for one or more
specific purposes"). Pure: the engine calls it with facts compiled into its index.
"""

from __future__ import annotations

from governance.policy.facts import ConsentFacts
from governance.policy.law import LAW_DENY, LegalVerdict

RULE_PURPOSE = "law:{regime}:consent-purpose"


def basis_named(consent: ConsentFacts) -> str:
    """How an answer names the basis: the article and the notices."""
    article = f"{consent.citation}, " if consent.citation else ""
    return f"consent ({article}notices: {consent.notices})"


def judge_consent(
    legal: LegalVerdict, consent: ConsentFacts, dataset: str, purpose: str
) -> LegalVerdict:
    """The law's verdict once the dataset's consent is weighed: an uncovered purpose is
    unlawful whatever the transfer law says; a covered one leaves the transfer verdict,
    naming the basis."""
    basis = basis_named(consent)
    if purpose not in consent.purposes:
        covered = ", ".join(sorted(consent.purposes)) or "no purpose"
        law = (
            f"under {consent.law} ({consent.citation})"
            if consent.law
            else "(no consent article encoded for its law)"
        )
        return LegalVerdict(
            LAW_DENY,
            RULE_PURPOSE.format(regime=consent.regime),
            f"{dataset} is held on consent {law}, and its consent covers {covered}, not {purpose}",
            consent.citation,
            consent.regime,
            verified=consent.verified,
            basis=basis,
        )
    return LegalVerdict(
        legal.outcome,
        legal.rule,
        f"{legal.reason}; lawful basis: {basis}, which covers {purpose}",
        legal.citation,
        legal.regime,
        legal.mechanisms,
        legal.crossing,
        legal.needs,
        legal.verified,
        basis,
    )
