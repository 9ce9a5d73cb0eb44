"""The glossary's review workflow.

A new term is a draft its proposer edits, then submits; another person with the approve permission
publishes it. A change to an approved term is a proposal: the term keeps its published text until
someone other than the proposer approves the change. Every step is one transaction with its ledger
entry; status moves are compare-and-swaps, so two reviewers racing can never both succeed (the
loser gets a StateConflict, 409). A step the term's state does not allow (submitting a term that
is not a draft, approving when nothing awaits review, reviewing a proposal that is no longer the
open one, changing a deprecated term) is a StateConflict too: 409 naming `status` (or
`proposal`), as every workflow answers, never a 400.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from catalog.actors import Actor, may
from catalog.errors import StateConflict
from catalog.revisions import revision_bump
from governance.glossary.content import (
    GLOSSARY,
    clean_fields,
    current_fields,
    fields_from_snapshot,
    ledger_snapshot,
    pseudonym_or_none,
    relations_set,
    rules_named,
    rules_using,
    search_text_of,
    snapshot_of,
    term_snapshot,
    term_subjects,
    unique_slug,
)
from governance.ledger.chain import actor_name, ledger_append
from governance.models import Term, TermRevision, TermStatus, TermVersion
from governance.policy.index import GOVERNANCE
from governance.workflow import Step, status_move

S = TermStatus
# The workflow's one table: verb -> the statuses it starts from and the status it leads to.
# Approving a change to an approved term keeps it approved (with a new version).
TRANSITIONS: dict[str, Step] = {
    "submit": Step(frozenset({S.DRAFT}), S.IN_REVIEW),
    "approve": Step(frozenset({S.IN_REVIEW, S.APPROVED}), S.APPROVED),
    "reject": Step(frozenset({S.IN_REVIEW}), S.DRAFT),
    "withdraw": Step(frozenset({S.IN_REVIEW}), S.DRAFT),
    "deprecate": Step(frozenset({S.APPROVED}), S.DEPRECATED),
}


# --- Permissions and compare-and-swap ------------------------------------------------------------


def _require(actor: Actor, permission: str, reason: str) -> User:
    """The actor, refused unless they hold the permission."""
    if not may(actor, permission):
        raise PermissionDenied(reason)
    return actor


def _check_reviewer(actor: Actor, revision: TermRevision) -> User:
    reviewer = _require(
        actor, "governance.approve_term", "Only privacy officers review glossary changes"
    )
    if revision.proposer_id is not None and revision.proposer_id == reviewer.pk:
        raise PermissionDenied(
            "You proposed this change, so you cannot review it: another privacy officer must"
        )
    return reviewer


def term_move(term: Term, action: str, **changes: Any) -> None:
    """Take one step of TRANSITIONS if the term is still as we read it (status and version);
    a StateConflict (409) when the step is not allowed or someone else moved it first."""
    step = TRANSITIONS[action]
    if not step.allows(term.status):
        status = term.get_status_display().lower()
        raise StateConflict({"status": f"A {status} term cannot take the step {action!r}"})
    status_move(
        Term,
        pk=term.pk,
        current=term.status,
        target=term.status if step.target is None else step.target,
        when=Q(version=term.version),
        what="term",
        updated_at=timezone.now(),
        **changes,
    )


def _close_revision(
    revision: TermRevision, status: str, *, reviewer: User | None = None, comment: str = ""
) -> None:
    """Decide an open proposal exactly once (a StateConflict if it was decided meanwhile)."""
    status_move(
        TermRevision,
        pk=revision.pk,
        current=TermRevision.Status.PROPOSED,
        target=status,
        what="proposal",
        reviewer=reviewer,
        reviewer_name=actor_name(reviewer) if reviewer else "",
        comment=comment,
        decided_at=timezone.now(),
    )


def _locked(term: Term) -> Term:
    return Term.objects.select_for_update().get(pk=term.pk)


def _open_revision(term: Term) -> TermRevision:
    revision = (
        TermRevision.objects.select_for_update()
        .filter(term=term, status=TermRevision.Status.PROPOSED)
        .first()
    )
    if revision is None:
        raise StateConflict({"status": "Nothing about this term awaits review"})
    return revision


def _open_revision_for(term: Term, revision_id: int | None) -> TermRevision:
    revision = _open_revision(term)
    if revision_id is not None and revision.pk != revision_id:
        raise StateConflict({"proposal": f"Proposal #{revision_id} is not the one open"})
    return revision


# --- Services -------------------------------------------------------------------------------


@transaction.atomic
def term_create(*, actor: Actor, note: str = "", **fields: Any) -> Term:
    """Write a new term as a draft that its proposer can edit and then submit."""
    author = _require(
        actor, "governance.add_term", "Only privacy officers and data owners propose terms"
    )
    cleaned = clean_fields(fields)
    term = Term(
        name=cleaned["name"],
        slug=unique_slug(cleaned["name"]),
        definition=cleaned["definition"],
        synonyms=cleaned["synonyms"],
        steward=cleaned["steward"],
        search_text=search_text_of(cleaned),
        created_by=author,
        created_by_name=actor_name(author),
    )
    _save_new(term)
    relations_set(term, cleaned)
    snapshot = snapshot_of(cleaned)
    ledger_append(
        actor=actor,
        kind="glossary.drafted",
        subjects=term_subjects(term, snapshot),
        data={"term": term.slug, "snapshot": ledger_snapshot(snapshot), "note": note},
    )
    return term


def _save_new(term: Term) -> None:
    # Two people naming a term at once: the database's case-insensitive constraint decides.
    try:
        with transaction.atomic():
            term.save()
    except IntegrityError as error:
        raise ValidationError({"name": "The glossary already has a term by this name"}) from error


def _is_proposer(actor: Actor, term: Term) -> TypeGuard[User]:
    """Whether the actor wrote the draft, and may still propose terms."""
    return may(actor, "governance.add_term") and term.created_by_id == actor.pk


@transaction.atomic
def term_update_draft(*, actor: Actor, term: Term, **fields: Any) -> Term:
    """Change a draft in place (only its proposer may; drafts are not published)."""
    term = _locked(term)
    if term.status != TermStatus.DRAFT:
        raise StateConflict({"status": "Only a draft is edited in place; propose a change"})
    if not _is_proposer(actor, term):
        raise PermissionDenied("Only the draft's proposer may edit it")
    cleaned = clean_fields({**current_fields(term), **fields}, term)
    for name in ("name", "definition", "synonyms", "steward"):
        setattr(term, name, cleaned[name])
    term.search_text = search_text_of(cleaned)
    term.save()
    relations_set(term, cleaned)
    snapshot = snapshot_of(cleaned)
    ledger_append(
        actor=actor,
        kind="glossary.draft_updated",
        subjects=term_subjects(term, snapshot),
        data={"term": term.slug, "snapshot": ledger_snapshot(snapshot)},
    )
    return term


@transaction.atomic
def term_submit(*, actor: Actor, term: Term, note: str = "") -> TermRevision:
    """Send a draft for review: its text is frozen until a reviewer decides."""
    term = _locked(term)
    if not _is_proposer(actor, term):
        raise PermissionDenied("Only the draft's proposer may submit it")
    if term.status != TermStatus.DRAFT:
        raise StateConflict({"status": "Only a draft can be submitted for review"})
    snapshot = term_snapshot(term)
    term_move(term, "submit")
    revision = TermRevision.objects.create(
        term=term,
        base_version=term.version,
        proposed=snapshot,
        note=note,
        proposer=actor,
        proposer_name=actor_name(actor),
    )
    _ledger_proposal(actor, term, revision, "glossary.submitted")
    return revision


@transaction.atomic
def term_propose(*, actor: Actor, term: Term, note: str = "", **fields: Any) -> TermRevision:
    """Propose a change to an approved term; it stays published as it is until approved."""
    proposer = _require(
        actor, "governance.change_term", "Only privacy officers and data owners propose changes"
    )
    term = _locked(term)
    if term.status != TermStatus.APPROVED:
        raise StateConflict({"status": "Changes are proposed to approved terms only"})
    if TermRevision.objects.filter(term=term, status=TermRevision.Status.PROPOSED).exists():
        raise StateConflict({"status": "A change to this term already awaits review"})
    cleaned = clean_fields({**current_fields(term), **fields}, term)
    _check_definition_for_rules(term, cleaned)
    revision = TermRevision.objects.create(
        term=term,
        base_version=term.version,
        proposed=snapshot_of(cleaned),
        note=note,
        proposer=proposer,
        proposer_name=actor_name(proposer),
    )
    _ledger_proposal(actor, term, revision, "glossary.proposed")
    return revision


def _check_definition_for_rules(term: Term, fields: dict[str, Any]) -> None:
    """A term that rules match by keeps a definition they can match (at least one category):
    a conflict with those rules (409, as deprecating such a term is), not a malformed body."""
    if fields["categories"]:
        return
    rules = rules_using(term)
    if rules:
        raise StateConflict(
            {
                "categories": f"Locality rules match by this term ({rules_named(rules)}): "
                "its definition needs at least one personal-data category"
            }
        )


def term_change(*, actor: Actor, term: Term, note: str = "", **fields: Any) -> Term | TermRevision:
    """Edit a draft, or propose a change to an approved term: as its status calls for."""
    if term.status == TermStatus.DRAFT:
        return term_update_draft(actor=actor, term=term, **fields)
    if term.status == TermStatus.APPROVED:
        return term_propose(actor=actor, term=term, note=note, **fields)
    raise StateConflict({"status": f"A term {term.get_status_display().lower()} cannot be changed"})


def _ledger_proposal(actor: Actor, term: Term, revision: TermRevision, kind: str) -> None:
    ledger_append(
        actor=actor,
        kind=kind,
        subjects=term_subjects(term, revision.proposed),
        data={
            "term": term.slug,
            "proposal": revision.pk,
            "base_version": revision.base_version,
            "proposed": ledger_snapshot(revision.proposed),
            "note": revision.note,
        },
    )


@transaction.atomic
def term_approve(
    *, actor: Actor, term: Term, comment: str = "", proposal: int | None = None
) -> Term:
    """Publish the open proposal (never the approver's own): a new version, on the ledger."""
    term = _locked(term)
    revision = _open_revision_for(term, proposal)
    reviewer = _check_reviewer(actor, revision)
    if revision.base_version != term.version:
        raise StateConflict({"status": "The term changed since this proposal was made"})
    fields = clean_fields(fields_from_snapshot(revision.proposed), term)
    _check_definition_for_rules(term, fields)
    snapshot = snapshot_of(fields)
    term_move(
        term,
        "approve",
        name=fields["name"],
        definition=fields["definition"],
        synonyms=fields["synonyms"],
        steward=fields["steward"],
        search_text=search_text_of(fields),
        version=term.version + 1,
    )
    relations_set(term, fields)
    _close_revision(revision, TermRevision.Status.APPROVED, reviewer=reviewer, comment=comment)
    term.refresh_from_db()
    by_term = [rule.pk for rule in rules_using(term)]
    _publish(
        actor, term, "approved", snapshot, revision=revision, comment=comment, rules_by_term=by_term
    )
    if by_term:
        revision_bump(GOVERNANCE)  # the rules that match by it now use the new definition
    return term


def _publish(
    actor: Actor,
    term: Term,
    action: str,
    snapshot: dict[str, Any],
    *,
    revision: TermRevision | None = None,
    **data: object,
) -> None:
    """Keep the published version, put it on the ledger, and tell pages their links are stale."""
    TermVersion.objects.create(
        term=term,
        version=term.version,
        action=action,
        snapshot={**snapshot, "status": term.status},
        revision=revision,
        proposer_name=revision.proposer_name if revision else "",
        actor_name=actor_name(actor),
    )
    ledger_append(
        actor=actor,
        kind=f"glossary.{action}",
        subjects=term_subjects(term, snapshot),
        data={
            "term": term.slug,
            "version": term.version,
            "proposal": revision.pk if revision else None,
            "proposed_by": pseudonym_or_none(revision.proposer_id) if revision else None,
            "snapshot": ledger_snapshot(snapshot),
            **data,
        },
    )
    revision_bump(GLOSSARY)


@transaction.atomic
def term_reject(*, actor: Actor, term: Term, comment: str, proposal: int | None = None) -> Term:
    """Turn down the open proposal with a reason; a new term goes back to draft."""
    if not (comment or "").strip():
        raise ValidationError({"comment": "Say why the proposal is rejected"})
    term = _locked(term)
    revision = _open_revision_for(term, proposal)
    reviewer = _check_reviewer(actor, revision)
    if term.status == TermStatus.IN_REVIEW:
        term_move(term, "reject")
    _close_revision(revision, TermRevision.Status.REJECTED, reviewer=reviewer, comment=comment)
    ledger_append(
        actor=actor,
        kind="glossary.rejected",
        subjects=term_subjects(term),
        data={"term": term.slug, "proposal": revision.pk, "comment": comment},
    )
    term.refresh_from_db()
    return term


@transaction.atomic
def term_withdraw(*, actor: Actor, term: Term) -> Term:
    """The proposer takes back their open proposal; a new term goes back to draft."""
    term = _locked(term)
    revision = _open_revision(term)
    if actor is None or revision.proposer_id != actor.pk:
        raise PermissionDenied("Only the person who proposed it may withdraw a proposal")
    if term.status == TermStatus.IN_REVIEW:
        term_move(term, "withdraw")
    _close_revision(revision, TermRevision.Status.WITHDRAWN)
    ledger_append(
        actor=actor,
        kind="glossary.withdrawn",
        subjects=term_subjects(term),
        data={"term": term.slug, "proposal": revision.pk},
    )
    term.refresh_from_db()
    return term


@transaction.atomic
def term_deprecate(*, actor: Actor, term: Term, reason: str) -> Term:
    """Retire an approved term with a reason; it stays readable, and is no longer linked."""
    _require(actor, "governance.deprecate_term", "Only privacy officers deprecate terms")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the term is deprecated"})
    term = _locked(term)
    if term.status != TermStatus.APPROVED:
        raise StateConflict({"status": "Only an approved term can be deprecated"})
    rules = rules_using(term)
    if rules:
        raise StateConflict(
            {
                "rules": f"Locality rules match by this term: {rules_named(rules)}. "
                "Change or delete them before deprecating it"
            }
        )
    pending = TermRevision.objects.filter(term=term, status=TermRevision.Status.PROPOSED).first()
    if pending is not None:
        _close_revision(pending, TermRevision.Status.WITHDRAWN, comment="The term was deprecated")
    term_move(term, "deprecate", deprecation_reason=reason.strip(), version=term.version + 1)
    term.refresh_from_db()
    snapshot = {**term_snapshot(term), "reason": term.deprecation_reason}
    _publish(
        actor,
        term,
        "deprecated",
        snapshot,
        withdrawn_proposal=pending.pk if pending is not None else None,
    )
    return term
