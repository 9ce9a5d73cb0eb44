"""Reads of the glossary: terms with what pages show, search, history, who may review or edit,
and the names that pages turn into links to their terms.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, Prefetch, QuerySet

from catalog.models import Dataset, PersonalDataCategory
from catalog.revisions import revisions
from governance.glossary.content import GLOSSARY, rules_using
from governance.models import LocalityRule, Term, TermRevision, TermStatus, TermVersion
from governance.policy.index import term_note
from governance.policy.selectors import REPLAY_DAYS, term_definition_replay


def terms() -> QuerySet[Term]:
    """Terms with what lists and pages show, in a fixed number of queries."""
    return Term.objects.select_related("steward").prefetch_related(
        Prefetch("related", Term.objects.only("id", "slug", "name", "status")),
        Prefetch("datasets", Dataset.objects.only("id", "slug", "name").order_by("slug")),
        Prefetch("rules", LocalityRule.objects.only("id", "name").order_by("id")),
        Prefetch("categories", PersonalDataCategory.objects.order_by("code")),
        Prefetch("rules_using", LocalityRule.objects.only("id", "name", "term").order_by("id")),
        Prefetch(
            "revisions",
            TermRevision.objects.filter(status=TermRevision.Status.PROPOSED),
            to_attr="open_proposals",
        ),
    )


def term_search(queryset: QuerySet[Term], text: str) -> QuerySet[Term]:
    """Terms whose name, synonyms or definition contain the text (any case, any script)."""
    text = text.strip().casefold()
    return queryset.filter(search_text__contains=text) if text else queryset


def status_counts() -> dict[str, int]:
    """How many terms are in each status."""
    return dict(Term.objects.order_by().values_list("status").annotate(count=Count("id")))


def terms_by_slug(slugs: Iterable[str]) -> dict[str, Term]:
    """Terms named by slug, for forms that take slugs."""
    return {t.slug: t for t in Term.objects.filter(slug__in=list(slugs))}


def term_versions(term: Term) -> QuerySet[TermVersion]:
    """Every published version of a term, newest first."""
    return TermVersion.objects.filter(term=term).order_by("-version")


def term_proposals(term: Term) -> QuerySet[TermRevision]:
    """Every proposal made for a term, newest first."""
    return TermRevision.objects.filter(term=term).order_by("-created_at", "-id")


def open_proposal(term: Term) -> TermRevision | None:
    """The proposal awaiting review, if any (there is at most one)."""
    return TermRevision.objects.filter(term=term, status=TermRevision.Status.PROPOSED).first()


def proposal_replay(
    term: Term, proposal: TermRevision | None, *, days: int = REPLAY_DAYS
) -> dict[str, Any] | None:
    """What approving the open change would flip among recorded decisions: the rules that match
    by the term, its definition now and as proposed, and the replay under the proposed one.
    None when no change to an approved term awaits review."""
    if proposal is None or term.status != TermStatus.APPROVED or not proposal.base_version:
        return None
    proposed = sorted(proposal.proposed.get("categories") or [])
    rules = rules_using(term)
    summary = {
        "proposal": proposal.pk,
        "rules": [{"id": rule.pk, "name": rule.name} for rule in rules],
        "definition": {
            "now": sorted(term.categories.values_list("code", flat=True)),
            "proposed": proposed,
        },
    }
    if not rules:  # nothing matches by the term: nothing can flip
        empty: dict[str, Any] = {"by_dataset": {}, "by_jurisdiction": {}, "flips": []}
        return {**summary, "days": days, "replayed": 0, "flipped": 0, **empty}
    note = term_note(proposal.proposed.get("name") or term.name, term.version + 1)
    return {**summary, **term_definition_replay(term.slug, proposed, note, days=days)}


def may_review(user: User | AnonymousUser, revision: TermRevision | None) -> bool:
    """May this person approve or reject this proposal? Never their own."""
    return bool(
        revision is not None
        and revision.status == TermRevision.Status.PROPOSED
        and user.has_perm("governance.approve_term")
        and revision.proposer_id != user.pk
    )


def edit_refusal(user: User | AnonymousUser, term: Term) -> str:
    """Why this person may not edit the term or propose a change to it ("" if they may)."""
    if term.status == TermStatus.DRAFT:
        if term.created_by_id == user.pk and user.has_perm("governance.add_term"):
            return ""
        return "Only the draft's proposer may edit it"
    if term.status == TermStatus.APPROVED:
        if user.has_perm("governance.change_term"):
            return ""
        return "Only privacy officers and data owners propose changes to terms"
    if term.status == TermStatus.IN_REVIEW:
        return "The term is in review: it can change again once it is approved or rejected"
    return "A deprecated term no longer changes"


def may_edit(user: User | AnonymousUser, term: Term) -> bool:
    """Drafts are edited by their proposer; approved terms take proposals from proposers."""
    return not edit_refusal(user, term)


@dataclass(frozen=True)
class LinkTarget:
    """A name (or synonym) that pages turn into a link to its term."""

    text: str
    slug: str
    name: str


def link_targets() -> list[LinkTarget]:
    """Every approved term's name and synonyms, longest first (so longer names win)."""
    targets: dict[str, LinkTarget] = {}
    rows = Term.objects.filter(status=TermStatus.APPROVED).values_list("name", "slug", "synonyms")
    for name, slug, synonyms in rows.order_by("id"):
        for text in [name, *(synonyms or [])]:
            targets.setdefault(text.casefold(), LinkTarget(text, slug, name))
    return sorted(targets.values(), key=lambda t: (-len(t.text), t.text.casefold()))


def link_revision() -> tuple[int, str] | None:
    """The glossary's revision counter: it moves whenever the approved terms change."""
    return revisions().get(GLOSSARY)
