"""The shared glossary: reads (search, history, the names that pages link) and the review workflow.

A new term is a draft its proposer edits, then submits; another person with the approve permission
publishes it. A change to an approved term is a proposal: the term keeps its published text until
someone other than the proposer approves the change. Every step is one transaction with its ledger
entry; status moves are compare-and-swaps, so two reviewers racing can never both succeed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Dataset
from catalog.revisions import revision_bump, revisions
from governance.ledger import ledger_append, person_pseudonym
from governance.models import LocalityRule, Term, TermRevision, TermStatus, TermVersion

GLOSSARY = "glossary"  # the revision counter that tells pages their term links are stale
MAX_NAME = 200
MAX_SYNONYMS = 50
MAX_DEFINITION = 20_000
CONTENT_FIELDS = ("name", "definition", "synonyms", "related", "steward", "datasets", "rules")

# The workflow: (from, to) -> the verb that makes that move.
TRANSITIONS = {
    (TermStatus.DRAFT, TermStatus.IN_REVIEW): "submit",
    (TermStatus.IN_REVIEW, TermStatus.APPROVED): "approve",
    (TermStatus.IN_REVIEW, TermStatus.DRAFT): "reject or withdraw",
    (TermStatus.APPROVED, TermStatus.APPROVED): "approve a change",
    (TermStatus.APPROVED, TermStatus.DEPRECATED): "deprecate",
}


def actor_name(user) -> str:
    """How a person is shown in records that outlive their account."""
    return (user.get_full_name() or user.get_username()) if user else "system"


# --- Selectors ------------------------------------------------------------------------------


def terms() -> QuerySet[Term]:
    """Terms with what lists and pages show, in a fixed number of queries."""
    return Term.objects.select_related("steward").prefetch_related(
        Prefetch("related", Term.objects.only("id", "slug", "name", "status")),
        Prefetch("datasets", Dataset.objects.only("id", "slug", "name").order_by("slug")),
        Prefetch("rules", LocalityRule.objects.only("id", "name").order_by("id")),
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


def may_review(user, revision: TermRevision | None) -> bool:
    """May this person approve or reject this proposal? Never their own."""
    return bool(
        revision is not None
        and revision.status == TermRevision.Status.PROPOSED
        and user.has_perm("governance.approve_term")
        and revision.proposer_id != user.pk
    )


def edit_refusal(user, term: Term) -> str:
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


def may_edit(user, term: Term) -> bool:
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


# --- Fields: validation and snapshots ---------------------------------------------------------


def _clean_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "Give the term a name"})
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise ValidationError({"name": f"At most {MAX_NAME} characters"})
    return name


def _clean_synonyms(synonyms, name: str) -> list[str]:
    if not isinstance(synonyms, list | tuple):
        raise ValidationError({"synonyms": "Give the synonyms as a list of names"})
    if len(synonyms) > MAX_SYNONYMS:
        raise ValidationError({"synonyms": f"At most {MAX_SYNONYMS} synonyms"})
    cleaned: dict[str, str] = {}
    for synonym in synonyms:
        if not isinstance(synonym, str) or not synonym.strip():
            raise ValidationError({"synonyms": "Each synonym is a non-empty name"})
        synonym = " ".join(synonym.split())
        if len(synonym) > MAX_NAME:
            raise ValidationError({"synonyms": f"Each synonym has at most {MAX_NAME} characters"})
        if synonym.casefold() != name.casefold():
            cleaned.setdefault(synonym.casefold(), synonym)
    return list(cleaned.values())


def _check_name_free(name: str, term: Term | None) -> None:
    others = Term.objects.exclude(pk=term.pk) if term else Term.objects.all()
    clash_slug = others.filter(name__iexact=name).values_list("slug", flat=True).first()
    if clash_slug is None and not name.isascii():
        # SQLite folds only ASCII letters: compare every other name in Python for the rest.
        folded = name.casefold()
        rows = others.values_list("name", "slug")
        clash_slug = next((slug for other, slug in rows if other.casefold() == folded), None)
    if clash_slug:
        raise ValidationError({"name": f"The glossary already has this term: {clash_slug}"})


def clean_fields(fields: dict, term: Term | None = None) -> dict:
    """Proposed fields, checked and normalised; a ValidationError names the field at fault."""
    unknown = set(fields) - set(CONTENT_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "Not a glossary field"})
    cleaned = dict(fields)
    cleaned["name"] = _clean_name(fields.get("name"))
    definition = fields.get("definition")
    if not isinstance(definition, str) or not definition.strip():
        raise ValidationError({"definition": "Give the term a definition"})
    if len(definition) > MAX_DEFINITION:
        raise ValidationError({"definition": f"At most {MAX_DEFINITION} characters"})
    cleaned["definition"] = definition.strip()
    cleaned["synonyms"] = _clean_synonyms(fields.get("synonyms") or [], cleaned["name"])
    cleaned["related"] = list(dict.fromkeys(fields.get("related") or []))
    if term is not None and any(other.pk == term.pk for other in cleaned["related"]):
        raise ValidationError({"related": "A term cannot be related to itself"})
    cleaned["datasets"] = list(dict.fromkeys(fields.get("datasets") or []))
    cleaned["rules"] = list(dict.fromkeys(fields.get("rules") or []))
    cleaned["steward"] = fields.get("steward")
    _check_name_free(cleaned["name"], term)
    return cleaned


def snapshot_of(fields: dict) -> dict:
    """Cleaned fields as JSON: relations by slug, username or id, so they survive as text."""
    steward = fields.get("steward")
    return {
        "name": fields["name"],
        "definition": fields["definition"],
        "synonyms": list(fields["synonyms"]),
        "related": sorted(t.slug for t in fields["related"]),
        "steward": steward.get_username() if steward else None,
        "datasets": sorted(d.slug for d in fields["datasets"]),
        "rules": sorted(r.pk for r in fields["rules"]),
    }


def term_snapshot(term: Term) -> dict:
    """A term's current text as a snapshot."""
    return snapshot_of(_current_fields(term))


def _current_fields(term: Term) -> dict:
    return {
        "name": term.name,
        "definition": term.definition,
        "synonyms": list(term.synonyms or []),
        "related": list(term.related.all()),
        "steward": term.steward,
        "datasets": list(term.datasets.all()),
        "rules": list(term.rules.all()),
    }


def _fields_from_snapshot(snapshot: dict) -> dict:
    """A snapshot's relations as objects; ones deleted since the proposal are left out."""
    user_model = get_user_model()
    steward = snapshot.get("steward")
    return {
        "name": snapshot["name"],
        "definition": snapshot["definition"],
        "synonyms": snapshot.get("synonyms") or [],
        "related": list(Term.objects.filter(slug__in=snapshot.get("related") or [])),
        "steward": user_model.objects.filter(username=steward).first() if steward else None,
        "datasets": list(Dataset.objects.filter(slug__in=snapshot.get("datasets") or [])),
        "rules": list(LocalityRule.objects.filter(pk__in=snapshot.get("rules") or [])),
    }


def _search_text(fields: dict) -> str:
    return "\n".join([fields["name"], *fields["synonyms"], fields["definition"]]).casefold()


def _unique_slug(name: str) -> str:
    base = slugify(name)[:100].strip("-") or "term"
    taken = set(Term.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    slug, number = base, 2
    while slug in taken:
        slug, number = f"{base}-{number}", number + 1
    return slug


def _set_relations(term: Term, fields: dict) -> None:
    term.related.set(fields["related"])
    term.datasets.set(fields["datasets"])
    term.rules.set(fields["rules"])


def _person(user_id: int | None) -> str | None:
    return person_pseudonym(user_id) if user_id is not None else None


def _ledger_snapshot(snapshot: dict) -> dict:
    """The snapshot as the ledger keeps it: the steward by pseudonym, never by username."""
    username = snapshot.get("steward")
    if not username:
        return snapshot
    users = get_user_model().objects.filter(username=username)
    return {**snapshot, "steward": _person(users.values_list("pk", flat=True).first())}


def _subjects(term: Term, snapshot: dict | None = None) -> list[str]:
    snapshot = snapshot or {}
    return [
        f"term:{term.slug}",
        *(f"dataset:{slug}" for slug in snapshot.get("datasets", [])),
        *(f"rule:{pk}" for pk in snapshot.get("rules", [])),
    ]


# --- Permissions and compare-and-swap ------------------------------------------------------------


def _require(actor, permission: str, reason: str) -> None:
    if actor is None or not actor.has_perm(permission):
        raise PermissionDenied(reason)


def _check_reviewer(actor, revision: TermRevision) -> None:
    _require(actor, "governance.approve_term", "Only privacy officers review glossary changes")
    if revision.proposer_id is not None and revision.proposer_id == actor.pk:
        raise PermissionDenied(
            "You proposed this change, so you cannot review it: another privacy officer must"
        )


def _move_term(term: Term, to: str, **changes) -> None:
    """Move a term's status if it is still as we read it; else refuse (someone was first)."""
    if (term.status, to) not in TRANSITIONS:
        raise ValidationError(
            {"status": f"A {term.get_status_display().lower()} term cannot go to {to}"}
        )
    moved = Term.objects.filter(pk=term.pk, status=term.status, version=term.version).update(
        status=to, updated_at=timezone.now(), **changes
    )
    if moved != 1:
        raise ValidationError({"status": "The term changed meanwhile; reload it and try again"})


def _close_revision(revision: TermRevision, status: str, *, reviewer=None, comment="") -> None:
    """Decide an open proposal exactly once."""
    closed = TermRevision.objects.filter(
        pk=revision.pk, status=TermRevision.Status.PROPOSED
    ).update(
        status=status,
        reviewer=reviewer,
        reviewer_name=actor_name(reviewer) if reviewer else "",
        comment=comment,
        decided_at=timezone.now(),
    )
    if closed != 1:
        raise ValidationError({"status": "This proposal was already decided"})


def _locked(term: Term) -> Term:
    return Term.objects.select_for_update().get(pk=term.pk)


def _open_revision(term: Term) -> TermRevision:
    revision = (
        TermRevision.objects.select_for_update()
        .filter(term=term, status=TermRevision.Status.PROPOSED)
        .first()
    )
    if revision is None:
        raise ValidationError({"status": "Nothing about this term awaits review"})
    return revision


def _open_revision_for(term: Term, revision_id: int | None) -> TermRevision:
    revision = _open_revision(term)
    if revision_id is not None and revision.pk != revision_id:
        raise ValidationError({"proposal": f"Proposal #{revision_id} is not the one open"})
    return revision


# --- Services -------------------------------------------------------------------------------


@transaction.atomic
def term_create(*, actor, note: str = "", **fields) -> Term:
    """Write a new term as a draft that its proposer can edit and then submit."""
    _require(actor, "governance.add_term", "Only privacy officers and data owners propose terms")
    cleaned = clean_fields(fields)
    term = Term(
        name=cleaned["name"],
        slug=_unique_slug(cleaned["name"]),
        definition=cleaned["definition"],
        synonyms=cleaned["synonyms"],
        steward=cleaned["steward"],
        search_text=_search_text(cleaned),
        created_by=actor,
        created_by_name=actor_name(actor),
    )
    _save_new(term)
    _set_relations(term, cleaned)
    snapshot = snapshot_of(cleaned)
    ledger_append(
        actor=actor,
        kind="glossary.drafted",
        subjects=_subjects(term, snapshot),
        data={"term": term.slug, "snapshot": _ledger_snapshot(snapshot), "note": note},
    )
    return term


def _save_new(term: Term) -> None:
    # Two people naming a term at once: the database's case-insensitive constraint decides.
    try:
        with transaction.atomic():
            term.save()
    except IntegrityError as error:
        raise ValidationError({"name": "The glossary already has a term by this name"}) from error


@transaction.atomic
def term_update_draft(*, actor, term: Term, **fields) -> Term:
    """Change a draft in place (only its proposer may; drafts are not published)."""
    term = _locked(term)
    if term.status != TermStatus.DRAFT:
        raise ValidationError({"status": "Only a draft is edited in place; propose a change"})
    if term.created_by_id != actor.pk or not actor.has_perm("governance.add_term"):
        raise PermissionDenied("Only the draft's proposer may edit it")
    cleaned = clean_fields({**_current_fields(term), **fields}, term)
    for name in ("name", "definition", "synonyms", "steward"):
        setattr(term, name, cleaned[name])
    term.search_text = _search_text(cleaned)
    term.save()
    _set_relations(term, cleaned)
    snapshot = snapshot_of(cleaned)
    ledger_append(
        actor=actor,
        kind="glossary.draft_updated",
        subjects=_subjects(term, snapshot),
        data={"term": term.slug, "snapshot": _ledger_snapshot(snapshot)},
    )
    return term


@transaction.atomic
def term_submit(*, actor, term: Term, note: str = "") -> TermRevision:
    """Send a draft for review: its text is frozen until a reviewer decides."""
    term = _locked(term)
    if term.created_by_id != actor.pk or not actor.has_perm("governance.add_term"):
        raise PermissionDenied("Only the draft's proposer may submit it")
    if term.status != TermStatus.DRAFT:
        raise ValidationError({"status": "Only a draft can be submitted for review"})
    snapshot = term_snapshot(term)
    _move_term(term, TermStatus.IN_REVIEW)
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
def term_propose(*, actor, term: Term, note: str = "", **fields) -> TermRevision:
    """Propose a change to an approved term; it stays published as it is until approved."""
    _require(
        actor, "governance.change_term", "Only privacy officers and data owners propose changes"
    )
    term = _locked(term)
    if term.status != TermStatus.APPROVED:
        raise ValidationError({"status": "Changes are proposed to approved terms only"})
    if TermRevision.objects.filter(term=term, status=TermRevision.Status.PROPOSED).exists():
        raise ValidationError({"status": "A change to this term already awaits review"})
    cleaned = clean_fields({**_current_fields(term), **fields}, term)
    revision = TermRevision.objects.create(
        term=term,
        base_version=term.version,
        proposed=snapshot_of(cleaned),
        note=note,
        proposer=actor,
        proposer_name=actor_name(actor),
    )
    _ledger_proposal(actor, term, revision, "glossary.proposed")
    return revision


def term_change(*, actor, term: Term, note: str = "", **fields) -> Term | TermRevision:
    """Edit a draft, or propose a change to an approved term: as its status calls for."""
    if term.status == TermStatus.DRAFT:
        return term_update_draft(actor=actor, term=term, **fields)
    if term.status == TermStatus.APPROVED:
        return term_propose(actor=actor, term=term, note=note, **fields)
    raise ValidationError(
        {"status": f"A term {term.get_status_display().lower()} cannot be changed"}
    )


def _ledger_proposal(actor, term: Term, revision: TermRevision, kind: str) -> None:
    ledger_append(
        actor=actor,
        kind=kind,
        subjects=_subjects(term, revision.proposed),
        data={
            "term": term.slug,
            "proposal": revision.pk,
            "base_version": revision.base_version,
            "proposed": _ledger_snapshot(revision.proposed),
            "note": revision.note,
        },
    )


@transaction.atomic
def term_approve(*, actor, term: Term, comment: str = "", proposal: int | None = None) -> Term:
    """Publish the open proposal (never the approver's own): a new version, on the ledger."""
    term = _locked(term)
    revision = _open_revision_for(term, proposal)
    _check_reviewer(actor, revision)
    if revision.base_version != term.version:
        raise ValidationError({"status": "The term changed since this proposal was made"})
    fields = clean_fields(_fields_from_snapshot(revision.proposed), term)
    snapshot = snapshot_of(fields)
    _move_term(
        term,
        TermStatus.APPROVED,
        name=fields["name"],
        definition=fields["definition"],
        synonyms=fields["synonyms"],
        steward=fields["steward"],
        search_text=_search_text(fields),
        version=term.version + 1,
    )
    _set_relations(term, fields)
    _close_revision(revision, TermRevision.Status.APPROVED, reviewer=actor, comment=comment)
    term.refresh_from_db()
    _publish(actor, term, "approved", snapshot, revision=revision, comment=comment)
    return term


def _publish(actor, term: Term, action: str, snapshot: dict, *, revision=None, **data) -> None:
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
        subjects=_subjects(term, snapshot),
        data={
            "term": term.slug,
            "version": term.version,
            "proposal": revision.pk if revision else None,
            "proposed_by": _person(revision.proposer_id) if revision else None,
            "snapshot": _ledger_snapshot(snapshot),
            **data,
        },
    )
    revision_bump(GLOSSARY)


@transaction.atomic
def term_reject(*, actor, term: Term, comment: str, proposal: int | None = None) -> Term:
    """Turn down the open proposal with a reason; a new term goes back to draft."""
    if not (comment or "").strip():
        raise ValidationError({"comment": "Say why the proposal is rejected"})
    term = _locked(term)
    revision = _open_revision_for(term, proposal)
    _check_reviewer(actor, revision)
    if term.status == TermStatus.IN_REVIEW:
        _move_term(term, TermStatus.DRAFT)
    _close_revision(revision, TermRevision.Status.REJECTED, reviewer=actor, comment=comment)
    ledger_append(
        actor=actor,
        kind="glossary.rejected",
        subjects=_subjects(term),
        data={"term": term.slug, "proposal": revision.pk, "comment": comment},
    )
    term.refresh_from_db()
    return term


@transaction.atomic
def term_withdraw(*, actor, term: Term) -> Term:
    """The proposer takes back their open proposal; a new term goes back to draft."""
    term = _locked(term)
    revision = _open_revision(term)
    if revision.proposer_id != actor.pk:
        raise PermissionDenied("Only the person who proposed it may withdraw a proposal")
    if term.status == TermStatus.IN_REVIEW:
        _move_term(term, TermStatus.DRAFT)
    _close_revision(revision, TermRevision.Status.WITHDRAWN)
    ledger_append(
        actor=actor,
        kind="glossary.withdrawn",
        subjects=_subjects(term),
        data={"term": term.slug, "proposal": revision.pk},
    )
    term.refresh_from_db()
    return term


@transaction.atomic
def term_deprecate(*, actor, term: Term, reason: str) -> Term:
    """Retire an approved term with a reason; it stays readable, and is no longer linked."""
    _require(actor, "governance.deprecate_term", "Only privacy officers deprecate terms")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the term is deprecated"})
    term = _locked(term)
    if term.status != TermStatus.APPROVED:
        raise ValidationError({"status": "Only an approved term can be deprecated"})
    pending = TermRevision.objects.filter(term=term, status=TermRevision.Status.PROPOSED).first()
    if pending is not None:
        _close_revision(pending, TermRevision.Status.WITHDRAWN, comment="The term was deprecated")
    _move_term(
        term, TermStatus.DEPRECATED, deprecation_reason=reason.strip(), version=term.version + 1
    )
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
