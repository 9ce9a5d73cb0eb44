"""A glossary term's fields: the limits, cleaning what people typed, snapshots of a term (as
versions and proposals keep them, and as the ledger keeps them: people by pseudonym), and the
ledger subjects a term's entry names.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.text import slugify

from catalog.models import Dataset, PersonalDataCategory
from governance.ledger.chain import person_pseudonym
from governance.models import LocalityRule, Term

GLOSSARY = "glossary"  # the revision counter that tells pages their term links are stale
MAX_NAME = 200
MAX_SYNONYMS = 50
MAX_DEFINITION = 20_000
CONTENT_FIELDS = (
    "name",
    "definition",
    "categories",
    "synonyms",
    "related",
    "steward",
    "datasets",
    "rules",
)


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


def _clean_categories(categories) -> list[PersonalDataCategory]:
    """The term's machine-readable definition: categories given as objects or codes."""
    if not isinstance(categories, list | tuple):
        raise ValidationError({"categories": "Give the categories as a list of codes"})
    codes = [c.pk if isinstance(c, PersonalDataCategory) else c for c in categories]
    if not all(isinstance(code, str) for code in codes):
        raise ValidationError({"categories": "Each category is a code, e.g. health"})
    found = PersonalDataCategory.objects.in_bulk(list(dict.fromkeys(codes)))
    unknown = [code for code in codes if code not in found]
    if unknown:
        raise ValidationError(
            {"categories": f"No personal-data category has the code: {', '.join(unknown[:10])}"}
        )
    return [found[code] for code in sorted(found)]


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
    cleaned["categories"] = _clean_categories(fields.get("categories") or [])
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
        "categories": sorted(c.pk for c in fields["categories"]),
        "synonyms": list(fields["synonyms"]),
        "related": sorted(t.slug for t in fields["related"]),
        "steward": steward.get_username() if steward else None,
        "datasets": sorted(d.slug for d in fields["datasets"]),
        "rules": sorted(r.pk for r in fields["rules"]),
    }


def term_snapshot(term: Term) -> dict:
    """A term's current text as a snapshot."""
    return snapshot_of(current_fields(term))


def current_fields(term: Term) -> dict:
    return {
        "name": term.name,
        "definition": term.definition,
        "categories": list(term.categories.all()),
        "synonyms": list(term.synonyms or []),
        "related": list(term.related.all()),
        "steward": term.steward,
        "datasets": list(term.datasets.all()),
        "rules": list(term.rules.all()),
    }


def fields_from_snapshot(snapshot: dict) -> dict:
    """A snapshot's relations as objects; ones deleted since the proposal are left out."""
    user_model = get_user_model()
    steward = snapshot.get("steward")
    return {
        "name": snapshot["name"],
        "definition": snapshot["definition"],
        "categories": list(
            PersonalDataCategory.objects.filter(pk__in=snapshot.get("categories") or [])
        ),
        "synonyms": snapshot.get("synonyms") or [],
        "related": list(Term.objects.filter(slug__in=snapshot.get("related") or [])),
        "steward": user_model.objects.filter(username=steward).first() if steward else None,
        "datasets": list(Dataset.objects.filter(slug__in=snapshot.get("datasets") or [])),
        "rules": list(LocalityRule.objects.filter(pk__in=snapshot.get("rules") or [])),
    }


def search_text_of(fields: dict) -> str:
    return "\n".join([fields["name"], *fields["synonyms"], fields["definition"]]).casefold()


def unique_slug(name: str) -> str:
    base = slugify(name)[:100].strip("-") or "term"
    taken = set(Term.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    slug, number = base, 2
    while slug in taken:
        slug, number = f"{base}-{number}", number + 1
    return slug


def relations_set(term: Term, fields: dict) -> None:
    term.related.set(fields["related"])
    term.categories.set(fields["categories"])
    term.datasets.set(fields["datasets"])
    term.rules.set(fields["rules"])


def rules_using(term: Term) -> list[LocalityRule]:
    """The locality rules that match by this term (enabled or not), by id."""
    return list(LocalityRule.objects.filter(term=term).order_by("id").only("id", "name"))


def rules_named(rules: list[LocalityRule]) -> str:
    """Rules as a refusal names them: "#3 'Health data stays in the EEA'; #7 ..."."""
    return "; ".join(f"#{rule.pk} {rule.name!r}" for rule in rules)


def pseudonym_or_none(user_id: int | None) -> str | None:
    return person_pseudonym(user_id) if user_id is not None else None


def ledger_snapshot(snapshot: dict) -> dict:
    """The snapshot as the ledger keeps it: the steward by pseudonym, never by username."""
    username = snapshot.get("steward")
    if not username:
        return snapshot
    users = get_user_model().objects.filter(username=username)
    return {**snapshot, "steward": pseudonym_or_none(users.values_list("pk", flat=True).first())}


def term_subjects(term: Term, snapshot: dict | None = None) -> list[str]:
    snapshot = snapshot or {}
    return [
        f"term:{term.slug}",
        *(f"dataset:{slug}" for slug in snapshot.get("datasets", [])),
        *(f"rule:{pk}" for pk in snapshot.get("rules", [])),
    ]
