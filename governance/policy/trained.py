"""The engine's answer for a trained model: may it be deployed, or serve inferences, in a region?

A model trained on personal data is not presumed anonymous (EDPB Opinion 28/2024): the
personal data of its training may be extracted from it, or obtained by querying it. So the
restrictions on where its training data may be processed apply to where the model is deployed
and served. `evaluate_model()` asks the engine (`evaluate()`, pure and memoised) for each
training dataset and takes the stricter of every answer: the law's verdicts and the house's
apart, as for a dataset, naming the datasets whose answer denies. The caller gives the
datasets (one query, made once per deployment); nothing here reads the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from governance.models import Action, Outcome
from governance.policy.engine import NO_SCOPES, evaluate
from governance.policy.facts import HOUSE_DENY, Decision, HouseVerdict, PolicyIndex, UnknownInput
from governance.policy.law import NOT_PERSONAL, LegalVerdict, stricter

MODEL_ACTIONS = frozenset({Action.DEPLOY.value, Action.INFER.value})

# Checked against the opinion's text (its executive summary, adopted 17 December 2024).
EDPB_AI_MODELS = (
    "EDPB Opinion 28/2024 on certain data protection aspects related to the processing of "
    "personal data in the context of AI models (17 December 2024), executive summary"
)
EDPB_AI_MODELS_VERIFIED = True
NOT_ANONYMOUS = (
    "a model trained on personal data is not presumed anonymous (EDPB Opinion 28/2024): "
    "its training data's restrictions apply where it runs"
)


@dataclass(slots=True)
class ModelDecision:
    """The engine's answer for a model: the outcome, the law's and the house's verdicts (the
    strictest of its training datasets'), and the datasets that cause a denial."""

    outcome: str
    reason: str
    policy_version: str
    legal: LegalVerdict
    house: HouseVerdict
    causes: tuple[str, ...]  # slugs of the training datasets whose answer denies
    per_dataset: tuple[tuple[str, Decision], ...]  # (slug, the engine's answer), in order
    personal: bool  # trained on personal data: the anonymity note applies
    grant_ids: tuple[int, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.outcome != Outcome.DENY


def evaluate_model(
    index: PolicyIndex,
    datasets: Sequence[str | int],
    action: str,
    region: str,
    purpose: str,
    at: dt.datetime,
    scopes: frozenset[str] = NO_SCOPES,
) -> ModelDecision:
    """May a model trained on `datasets` be deployed (`deploy`) or serve inferences (`infer`)
    in `region` for `purpose` at `at`? Deny when any training dataset's answer denies."""
    if action not in MODEL_ACTIONS:
        raise UnknownInput(
            "action", f"A model's action is one of {', '.join(sorted(MODEL_ACTIONS))}"
        )
    if not datasets:
        raise UnknownInput("datasets", "The model names no training data: register its runs")
    answers = tuple(
        (index.dataset(ds).slug, evaluate(index, ds, action, region, purpose, at, scopes))
        for ds in datasets
    )
    personal = any(index.dataset(ds).personal for ds in datasets)
    return _combined(index, answers, region, personal)


def _combined(
    index: PolicyIndex, answers: tuple[tuple[str, Decision], ...], region: str, personal: bool
) -> ModelDecision:
    legal: LegalVerdict = NOT_PERSONAL
    house: HouseVerdict | None = None
    for _, decision in answers:
        if decision.legal is not None:
            legal = stricter(legal, decision.legal)
        here = decision.house
        if here is not None and (house is None or _first_denial(house, here)):
            house = here
    assert house is not None  # every answer carries the house's verdict
    causes = tuple(slug for slug, decision in answers if decision.outcome == Outcome.DENY)
    grants = tuple(sorted({d.grant_id for _, d in answers if d.grant_id is not None}))
    outcome = _outcome(answers)
    return ModelDecision(
        outcome=outcome,
        reason=_reason(answers, causes, region, personal),
        policy_version=index.version,
        legal=legal,
        house=house,
        causes=causes,
        per_dataset=answers,
        personal=personal,
        grant_ids=grants,
    )


def _first_denial(kept: HouseVerdict, here: HouseVerdict) -> bool:
    return kept.outcome != HOUSE_DENY and here.outcome == HOUSE_DENY


def _outcome(answers: tuple[tuple[str, Decision], ...]) -> str:
    outcomes = {decision.outcome for _, decision in answers}
    if Outcome.DENY in outcomes:
        return Outcome.DENY
    return Outcome.ALLOW_WITH_GRANT if Outcome.ALLOW_WITH_GRANT in outcomes else Outcome.ALLOW


def _reason(
    answers: tuple[tuple[str, Decision], ...], causes: tuple[str, ...], region: str, personal: bool
) -> str:
    note = f"; {NOT_ANONYMOUS}" if personal else ""
    if not causes:
        return f"every training dataset may be processed in {region}{note}"
    first = dict(answers)[causes[0]]
    return f"trained on {', '.join(causes)}: {first.reason}{note}"
