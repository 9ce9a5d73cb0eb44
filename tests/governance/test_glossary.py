"""The glossary: review rules (nobody approves their own change), history, the API, pages, links."""

import json
import re
from html import unescape

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.errors import StateConflict
from governance.glossary import selectors, services
from governance.ledger.chain import actor_name, person_pseudonym
from governance.ledger.verification import verify_ledger
from governance.models import LedgerEntry, Term, TermRevision, TermStatus, TermVersion
from governance.roles import Role
from governance.templatetags.glossary import forget_link_index, link_terms
from tests.factories import UserFactory, make_dataset

pytestmark = pytest.mark.django_db

READ_ONLY_ROLES = ["executive", "auditor", "engineer"]
PROPOSING_ROLES = ["privacy_officer", "data_owner"]


@pytest.fixture(autouse=True)
def fresh_link_index():
    """Revision counters roll back with each test's transaction; start every test uncached."""
    forget_link_index()
    yield
    forget_link_index()


@pytest.fixture
def second_officer(db):
    return UserFactory(username="pia-privacy", roles=[Role.PRIVACY_OFFICER])


# --- helpers ----------------------------------------------------------------------------------


def draft(actor, name="Data subject", **fields) -> Term:
    fields.setdefault("definition", "The person the personal data is about.")
    return services.term_create(actor=actor, name=name, **fields)


def published(proposer, approver, name="Data subject", **fields) -> Term:
    term = draft(proposer, name, **fields)
    services.term_submit(actor=proposer, term=term)
    return services.term_approve(actor=approver, term=term)


def refreshed(term: Term) -> Term:
    return Term.objects.get(pk=term.pk)


def term_url(term: Term, action: str | None = None) -> str:
    if action is None:
        return reverse("v1:glossary-term-detail", kwargs={"slug": term.slug})
    return reverse(f"v1:glossary-term-{action}", kwargs={"slug": term.slug})


LIST_URL = "/api/v1/glossary/terms/"


def ledger_kinds() -> list[str]:
    return list(LedgerEntry.objects.order_by("sequence").values_list("kind", flat=True))


def page_text(response) -> str:
    content = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", unescape(content))


def render_links(text: str, skip: str = "") -> str:
    return str(link_terms(text, skip))


# --- review rules (services) ------------------------------------------------------------------


def test_a_new_term_goes_from_draft_through_review_to_approved(data_owner, privacy_officer):
    term = draft(data_owner, synonyms=["subject", "Data subject"])
    assert (term.status, term.version, term.slug) == (TermStatus.DRAFT, 0, "data-subject")
    assert term.synonyms == ["subject"]  # the name itself is not its own synonym

    revision = services.term_submit(actor=data_owner, term=term, note="We keep saying it")
    assert refreshed(term).status == TermStatus.IN_REVIEW
    assert (revision.status, revision.base_version) == (TermRevision.Status.PROPOSED, 0)

    approved = services.term_approve(actor=privacy_officer, term=term, comment="Good")

    assert (approved.status, approved.version) == (TermStatus.APPROVED, 1)
    revision.refresh_from_db()
    assert revision.status == TermRevision.Status.APPROVED
    assert (revision.reviewer, revision.comment) == (privacy_officer, "Good")
    assert revision.decided_at is not None
    version = TermVersion.objects.get(term=term)
    assert (version.version, version.action, version.proposer_name) == (
        1,
        "approved",
        revision.proposer_name,
    )
    assert version.snapshot["definition"] == "The person the personal data is about."


def test_the_proposer_cannot_approve_their_own_term(privacy_officer):
    term = draft(privacy_officer)
    services.term_submit(actor=privacy_officer, term=term)

    with pytest.raises(PermissionDenied, match="You proposed this change"):
        services.term_approve(actor=privacy_officer, term=term)

    assert refreshed(term).status == TermStatus.IN_REVIEW
    assert "glossary.approved" not in ledger_kinds()


def test_the_proposer_cannot_reject_their_own_proposal_either(privacy_officer):
    term = draft(privacy_officer)
    services.term_submit(actor=privacy_officer, term=term)

    with pytest.raises(PermissionDenied, match="You proposed this change"):
        services.term_reject(actor=privacy_officer, term=term, comment="changed my mind")


def test_only_privacy_officers_review(data_owner, other_owner):
    term = draft(data_owner)
    services.term_submit(actor=data_owner, term=term)

    with pytest.raises(PermissionDenied, match="Only privacy officers"):
        services.term_approve(actor=other_owner, term=term)


def test_a_rejection_says_why_and_sends_the_term_back_to_draft(data_owner, privacy_officer):
    term = draft(data_owner)
    revision = services.term_submit(actor=data_owner, term=term)

    with pytest.raises(ValidationError) as refused:
        services.term_reject(actor=privacy_officer, term=term, comment="  ")
    assert "comment" in refused.value.message_dict

    rejected = services.term_reject(actor=privacy_officer, term=term, comment="Too vague")

    assert (rejected.status, rejected.version) == (TermStatus.DRAFT, 0)
    revision.refresh_from_db()
    assert (revision.status, revision.comment) == (TermRevision.Status.REJECTED, "Too vague")
    # The proposer improves the draft and submits again: a new proposal, reviewed afresh.
    services.term_update_draft(actor=data_owner, term=term, definition="A living person.")
    second = services.term_submit(actor=data_owner, term=term)
    assert second.pk != revision.pk
    assert second.proposed["definition"] == "A living person."


def test_only_the_drafts_proposer_edits_or_submits_it(data_owner, other_owner, privacy_officer):
    term = draft(data_owner)

    with pytest.raises(PermissionDenied):
        services.term_update_draft(actor=other_owner, term=term, definition="Mine now")
    with pytest.raises(PermissionDenied):
        services.term_submit(actor=privacy_officer, term=term)
    services.term_submit(actor=data_owner, term=term)
    with pytest.raises(ValidationError) as frozen:
        services.term_update_draft(actor=data_owner, term=term, definition="Sneaky")
    assert "status" in frozen.value.message_dict


def test_a_change_to_an_approved_term_keeps_the_published_text_until_approved(
    data_owner, privacy_officer, second_officer
):
    term = published(data_owner, privacy_officer)

    proposal = services.term_change(
        actor=privacy_officer, term=refreshed(term), definition="Anyone identifiable."
    )

    assert isinstance(proposal, TermRevision)
    current = refreshed(term)
    assert (current.status, current.version) == (TermStatus.APPROVED, 1)
    assert current.definition == "The person the personal data is about."
    with pytest.raises(PermissionDenied):
        services.term_approve(actor=privacy_officer, term=current)

    approved = services.term_approve(actor=second_officer, term=current)

    assert (approved.version, approved.definition) == (2, "Anyone identifiable.")
    history = list(selectors.term_versions(term).values_list("version", "snapshot"))
    assert [v for v, _ in history] == [2, 1]
    assert history[1][1]["definition"] == "The person the personal data is about."


def test_a_rejected_change_leaves_the_approved_term_as_it_was(data_owner, privacy_officer):
    term = published(data_owner, privacy_officer)
    services.term_propose(actor=data_owner, term=term, name="Subject of data")

    current = services.term_reject(actor=privacy_officer, term=term, comment="Keep the name")

    assert (current.status, current.version, current.name) == (
        TermStatus.APPROVED,
        1,
        "Data subject",
    )


def test_a_term_has_at_most_one_open_proposal(data_owner, other_owner, privacy_officer):
    term = published(data_owner, privacy_officer)
    services.term_propose(actor=data_owner, term=term, definition="One")

    with pytest.raises(StateConflict, match="already awaits review"):
        services.term_propose(actor=other_owner, term=term, definition="Two")


def test_the_proposer_may_withdraw(data_owner, privacy_officer):
    term = draft(data_owner)
    revision = services.term_submit(actor=data_owner, term=term)

    with pytest.raises(PermissionDenied):
        services.term_withdraw(actor=privacy_officer, term=term)
    withdrawn = services.term_withdraw(actor=data_owner, term=term)

    assert withdrawn.status == TermStatus.DRAFT
    revision.refresh_from_db()
    assert revision.status == TermRevision.Status.WITHDRAWN


def test_a_decided_proposal_cannot_be_decided_again(data_owner, privacy_officer, second_officer):
    term = draft(data_owner)
    services.term_submit(actor=data_owner, term=term)
    stale = refreshed(term)
    services.term_approve(actor=privacy_officer, term=term)

    with pytest.raises(StateConflict, match="awaits review"):
        services.term_approve(actor=second_officer, term=stale)
    assert TermVersion.objects.filter(term=term).count() == 1


def test_status_moves_are_compare_and_swap(data_owner, privacy_officer):
    term = draft(data_owner)
    stale = refreshed(term)
    services.term_submit(actor=data_owner, term=term)

    # A writer that read the term before someone else moved it changes nothing.
    with pytest.raises(StateConflict, match="changed meanwhile"):
        services.term_move(stale, "submit")
    with pytest.raises(StateConflict, match="cannot take the step"):
        services.term_move(refreshed(term), "deprecate")


def test_deprecating_needs_a_reason_and_a_privacy_officer(data_owner, privacy_officer):
    term = published(data_owner, privacy_officer)
    services.term_propose(actor=data_owner, term=term, definition="pending")

    with pytest.raises(PermissionDenied):
        services.term_deprecate(actor=data_owner, term=term, reason="old")
    with pytest.raises(ValidationError) as missing:
        services.term_deprecate(actor=privacy_officer, term=term, reason="")
    assert "reason" in missing.value.message_dict

    deprecated = services.term_deprecate(
        actor=privacy_officer, term=term, reason="Use 'individual'"
    )

    assert (deprecated.status, deprecated.version) == (TermStatus.DEPRECATED, 2)
    assert deprecated.deprecation_reason == "Use 'individual'"
    assert not TermRevision.objects.filter(term=term, status="proposed").exists()
    assert TermVersion.objects.get(term=term, version=2).action == "deprecated"
    entry = LedgerEntry.objects.get(kind="glossary.deprecated")
    assert f"term:{term.slug}" in entry.subject_list
    with pytest.raises(ValidationError):
        services.term_change(actor=privacy_officer, term=deprecated, definition="again")


# --- ledger and history -----------------------------------------------------------------------


def test_every_approval_is_a_ledger_entry_naming_the_term(data_owner, privacy_officer):
    events = make_dataset(data_owner, slug="events")
    term = published(data_owner, privacy_officer, datasets=[events])

    entry = LedgerEntry.objects.get(kind="glossary.approved")

    assert f"term:{term.slug}" in entry.subject_list
    assert "dataset:events" in entry.subject_list
    assert entry.actor_id == privacy_officer.pk
    data = json.loads(bytes(entry.payload))["data"]
    assert data["version"] == 1
    assert data["proposed_by"] == person_pseudonym(data_owner.pk)  # never a name
    assert actor_name(data_owner) not in bytes(entry.payload).decode()
    assert data["snapshot"]["datasets"] == ["events"]
    assert ledger_kinds()[-3:] == ["glossary.drafted", "glossary.submitted", "glossary.approved"]
    assert verify_ledger().ok


def test_the_ledger_names_a_terms_steward_by_pseudonym(data_owner, privacy_officer):
    published(data_owner, privacy_officer, steward=privacy_officer)

    entries = LedgerEntry.objects.filter(kind__startswith="glossary.")
    datas = [json.loads(bytes(e.payload))["data"] for e in entries]
    snapshots = [d.get("snapshot") or d.get("proposed") for d in datas]
    assert [s["steward"] for s in snapshots] == [person_pseudonym(privacy_officer.pk)] * 3
    for entry in entries:
        assert privacy_officer.get_username() not in bytes(entry.payload).decode()
    # The term's own history keeps the username it restores from.
    assert refreshed(Term.objects.get()).steward == privacy_officer


def test_published_versions_are_append_only(data_owner, privacy_officer):
    term = published(data_owner, privacy_officer)
    version = TermVersion.objects.get(term=term)

    with pytest.raises(PermissionError):
        version.save()
    with pytest.raises(PermissionError):
        TermVersion.objects.filter(term=term).update(action="edited")
    with pytest.raises(PermissionError):
        version.delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_postgresql_refuses_to_rewrite_a_published_version(data_owner, privacy_officer):
    from django.db import DatabaseError, transaction

    term = published(data_owner, privacy_officer)

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE governance_termversion SET action = 'edited' WHERE term_id = %s", [term.pk]
        )


def test_the_api_lists_versions_and_proposals(
    api_client, data_owner, privacy_officer, second_officer
):
    term = published(data_owner, privacy_officer)
    services.term_propose(actor=data_owner, term=term, definition="Second text")
    services.term_approve(actor=second_officer, term=term)
    client = api_client(data_owner)

    versions = client.get(term_url(term, "versions")).json()["results"]
    proposals = client.get(term_url(term, "proposals")).json()["results"]

    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["snapshot"]["definition"] == "Second text"
    assert versions[0]["actor_name"] == actor_name(second_officer)
    assert [p["status"] for p in proposals] == ["approved", "approved"]
    assert proposals[0]["base_version"] == 1


# --- API: workflow --------------------------------------------------------------------------


def test_the_api_runs_the_whole_review(api_client, data_owner, privacy_officer):
    owner, officer = api_client(data_owner), api_client(privacy_officer)

    created = owner.post(
        LIST_URL,
        {"name": "Personal data", "definition": "Any information...", "synonyms": ["PII"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["slug"], body["status"], body["version"]) == ("personal-data", "draft", 0)
    assert body["url"] == "/governance/glossary/personal-data/"
    term = Term.objects.get(slug="personal-data")

    submitted = owner.post(term_url(term, "submit"), {"note": "please"}, format="json")
    assert submitted.status_code == 200
    approved = officer.post(term_url(term, "approve"), {"comment": "ok"}, format="json")
    assert approved.status_code == 200, approved.json()
    assert (approved.json()["status"], approved.json()["version"]) == ("approved", 1)

    fetched = owner.get(term_url(term)).json()
    assert fetched["status"] == "approved"


def test_self_approval_through_the_api_is_403_with_the_reason(api_client, privacy_officer):
    term = draft(privacy_officer)
    services.term_submit(actor=privacy_officer, term=term)

    response = api_client(privacy_officer).post(term_url(term, "approve"), {}, format="json")

    assert response.status_code == 403
    assert "You proposed this change" in response.json()["detail"]
    assert refreshed(term).status == TermStatus.IN_REVIEW


def test_a_second_person_approves_through_the_api(api_client, privacy_officer, second_officer):
    term = draft(privacy_officer)
    proposal = services.term_submit(actor=privacy_officer, term=term)

    response = api_client(second_officer).post(
        term_url(term, "approve"), {"proposal": proposal.pk}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["version"] == 1


def test_approving_another_proposal_than_the_open_one_is_a_409(
    api_client, data_owner, privacy_officer
):
    term = draft(data_owner)
    proposal = services.term_submit(actor=data_owner, term=term)

    response = api_client(privacy_officer).post(
        term_url(term, "approve"), {"proposal": proposal.pk + 100}, format="json"
    )

    assert response.status_code == 409
    assert response.json() == {"proposal": [f"Proposal #{proposal.pk + 100} is not the one open"]}
    assert refreshed(term).status == TermStatus.IN_REVIEW


# A step the term's state does not allow is a 409 naming `status`, as every workflow answers
# (a transfer exception's, a subject request's), with nothing changed.
STATE_REFUSALS = [
    ("draft", "approve", {}, "Nothing about this term awaits review"),
    ("draft", "reject", {"comment": "No"}, "Nothing about this term awaits review"),
    ("draft", "withdraw", {}, "Nothing about this term awaits review"),
    ("draft", "deprecate", {"reason": "Old"}, "Only an approved term can be deprecated"),
    ("approved", "submit", {}, "Only a draft can be submitted for review"),
    ("deprecated", "update", {"definition": "New"}, "A term deprecated cannot be changed"),
]


@pytest.mark.parametrize(("state", "step", "body", "reason"), STATE_REFUSALS)
def test_a_step_the_terms_state_does_not_allow_is_a_409_naming_the_status(
    api_client, data_owner, privacy_officer, state, step, body, reason
):
    term = draft(data_owner)
    if state != "draft":
        services.term_submit(actor=data_owner, term=term)
        term = services.term_approve(actor=privacy_officer, term=term)
    if state == "deprecated":
        term = services.term_deprecate(actor=privacy_officer, term=term, reason="Merged")
    before = (refreshed(term).status, refreshed(term).version, ledger_kinds())
    actor = data_owner if step in {"submit", "withdraw", "update"} else privacy_officer

    client = api_client(actor)
    if step == "update":
        response = client.patch(term_url(term), body, format="json")
    else:
        response = client.post(term_url(term, step), body, format="json")

    assert response.status_code == 409, response.json()
    assert response.json() == {"status": [reason]}
    assert (refreshed(term).status, refreshed(term).version, ledger_kinds()) == before


def test_a_second_open_proposal_is_a_409(api_client, data_owner, other_owner, privacy_officer):
    term = published(data_owner, privacy_officer)
    services.term_propose(actor=data_owner, term=term, definition="One")

    response = api_client(other_owner).patch(term_url(term), {"definition": "Two"}, format="json")

    assert response.status_code == 409
    assert response.json() == {"status": ["A change to this term already awaits review"]}


def test_an_update_to_an_approved_term_is_a_proposal(api_client, data_owner, privacy_officer):
    term = published(data_owner, privacy_officer)
    client = api_client(data_owner)

    response = client.patch(term_url(term), {"definition": "Proposed text"}, format="json")

    assert response.status_code == 202, response.json()
    assert response.json()["proposed"]["definition"] == "Proposed text"
    shown = client.get(term_url(term)).json()
    assert shown["definition"] == "The person the personal data is about."
    assert shown["open_proposal"] == response.json()["id"]


def test_an_update_to_a_draft_changes_it_in_place(api_client, data_owner):
    term = draft(data_owner)

    response = api_client(data_owner).patch(
        term_url(term), {"synonyms": ["individual"]}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["synonyms"] == ["individual"]
    assert response.json()["slug"] == term.slug


def test_a_rename_keeps_the_stable_address(api_client, data_owner, privacy_officer):
    term = published(data_owner, privacy_officer)
    services.term_propose(actor=data_owner, term=term, name="Individual")
    services.term_approve(actor=privacy_officer, term=term)

    response = api_client(data_owner).get(term_url(term))

    assert (response.json()["name"], response.json()["slug"]) == ("Individual", "data-subject")


def test_reject_through_the_api_needs_a_comment(api_client, data_owner, privacy_officer):
    term = draft(data_owner)
    services.term_submit(actor=data_owner, term=term)
    client = api_client(privacy_officer)

    missing = client.post(term_url(term, "reject"), {}, format="json")
    done = client.post(term_url(term, "reject"), {"comment": "Cite the law"}, format="json")

    assert missing.status_code == 400 and "comment" in missing.json()
    assert done.status_code == 200 and done.json()["status"] == "draft"


def test_deprecate_through_the_api(api_client, data_owner, privacy_officer):
    term = published(data_owner, privacy_officer)

    refused = api_client(data_owner).post(term_url(term, "deprecate"), {"reason": "x"})
    missing = api_client(privacy_officer).post(term_url(term, "deprecate"), {})
    done = api_client(privacy_officer).post(term_url(term, "deprecate"), {"reason": "Merged"})

    assert refused.status_code == 403
    assert missing.status_code == 400 and "reason" in missing.json()
    assert done.status_code == 200 and done.json()["status"] == "deprecated"


# --- API: bad input is a 400 naming the field ---------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "", "definition": "d"}, "name"),
        ({"name": "   ", "definition": "d"}, "name"),
        ({"definition": "d"}, "name"),
        ({"name": "DATA SUBJECT", "definition": "d"}, "name"),
        ({"name": "data subject", "definition": "d"}, "name"),
        ({"name": "Other", "definition": ""}, "definition"),
        ({"name": "Other", "definition": "d", "datasets": ["no-such-dataset"]}, "datasets"),
        ({"name": "Other", "definition": "d", "synonyms": "PII"}, "synonyms"),
        ({"name": "Other", "definition": "d", "synonyms": {"a": 1}}, "synonyms"),
        ({"name": "Other", "definition": "d", "synonyms": [""]}, "synonyms"),
        ({"name": "Other", "definition": "d", "related": ["no-such-term"]}, "related"),
        ({"name": "Other", "definition": "d", "steward": "nobody-here"}, "steward"),
        ({"name": "Other", "definition": "d", "rules": [999999]}, "rules"),
        ({"name": "x" * 201, "definition": "d"}, "name"),
    ],
)
def test_malformed_input_is_a_400_naming_the_field(
    api_client, data_owner, privacy_officer, payload, field
):
    published(data_owner, privacy_officer)

    response = api_client(data_owner).post(LIST_URL, payload, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
    assert Term.objects.count() == 1


def test_a_proposal_that_takes_another_terms_name_is_a_400(api_client, data_owner, privacy_officer):
    published(data_owner, privacy_officer, name="Data subject")
    other = published(data_owner, privacy_officer, name="Controller")

    response = api_client(data_owner).patch(
        term_url(other), {"name": "Data Subject"}, format="json"
    )

    assert response.status_code == 400
    assert "name" in response.json()


def test_a_term_cannot_be_related_to_itself(api_client, data_owner):
    term = draft(data_owner)

    response = api_client(data_owner).patch(term_url(term), {"related": [term.slug]}, format="json")

    assert response.status_code == 400
    assert "related" in response.json()


def test_names_are_unique_whatever_the_case_in_every_script(data_owner):
    draft(data_owner, name="Übermittlung")

    with pytest.raises(ValidationError) as clash:
        draft(data_owner, name="übermittlung")

    assert "name" in clash.value.message_dict


# --- API: permissions per role ----------------------------------------------------------------


@pytest.mark.parametrize("role", READ_ONLY_ROLES + PROPOSING_ROLES)
def test_every_role_reads_the_glossary(api_client, data_owner, privacy_officer, role):
    term = published(data_owner, privacy_officer)
    client = api_client(UserFactory(roles=[role]))

    assert client.get(LIST_URL).status_code == 200
    assert client.get(term_url(term)).status_code == 200
    assert client.get(term_url(term, "versions")).status_code == 200


@pytest.mark.parametrize("role", READ_ONLY_ROLES)
def test_read_only_roles_may_not_write(api_client, data_owner, privacy_officer, role):
    term = published(data_owner, privacy_officer)
    services.term_propose(actor=data_owner, term=term, definition="pending")
    client = api_client(UserFactory(roles=[role]))

    created = client.post(LIST_URL, {"name": "New", "definition": "d"}, format="json")
    changed = client.patch(term_url(term), {"definition": "x"}, format="json")
    approved = client.post(term_url(term, "approve"), {}, format="json")
    deprecated = client.post(term_url(term, "deprecate"), {"reason": "x"}, format="json")

    assert [created.status_code, changed.status_code] == [403, 403]
    assert [approved.status_code, deprecated.status_code] == [403, 403]
    assert "propose" in created.json()["detail"]
    assert Term.objects.count() == 1


def test_an_outsider_gets_403(api_client, data_owner, privacy_officer, outsider):
    term = published(data_owner, privacy_officer)
    client = api_client(outsider)

    assert client.get(LIST_URL).status_code == 403
    assert client.get(term_url(term)).status_code == 403
    assert client.post(LIST_URL, {"name": "n", "definition": "d"}).status_code == 403


def test_anonymous_callers_get_401(api_client):
    assert api_client().get(LIST_URL).status_code == 401


def test_a_data_owner_proposes_but_does_not_approve(api_client, data_owner, other_owner):
    term = draft(data_owner)
    services.term_submit(actor=data_owner, term=term)

    response = api_client(other_owner).post(term_url(term, "approve"), {}, format="json")

    assert response.status_code == 403
    assert "Only privacy officers" in response.json()["detail"]


# --- API: search and list ---------------------------------------------------------------------


@pytest.fixture
def vocabulary(data_owner, privacy_officer):
    subject = published(data_owner, privacy_officer, "Data subject", synonyms=["Betroffene"])
    transfer = published(
        data_owner,
        privacy_officer,
        "Transfer",
        definition="Making personal data available in another country.",
    )
    pending = draft(data_owner, "Processor", definition="Acts for a controller.")
    return {"subject": subject, "transfer": transfer, "pending": pending}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("subject", ["data-subject"]),
        ("BETROFFENE", ["data-subject"]),  # a synonym, any case
        ("another country", ["transfer"]),  # the definition
        ("controller", ["processor"]),
        ("personal data", ["data-subject", "transfer"]),
        ("nothing like it", []),
    ],
)
def test_search_covers_names_synonyms_and_definitions(
    api_client, executive, vocabulary, query, expected
):
    response = api_client(executive).get(LIST_URL, {"q": query})

    assert sorted(t["slug"] for t in response.json()["results"]) == expected


def test_the_list_filters_by_status(api_client, executive, vocabulary):
    client = api_client(executive)

    drafts = client.get(LIST_URL, {"status": "draft"}).json()["results"]
    approved = client.get(LIST_URL, {"status": "approved", "q": "data"}).json()["results"]

    assert [t["slug"] for t in drafts] == ["processor"]
    assert [t["slug"] for t in approved] == ["data-subject", "transfer"]
    assert client.get(LIST_URL, {"status": "bogus"}).status_code == 400


def test_the_list_takes_a_fixed_number_of_queries(api_client, executive, data_owner, vocabulary):
    events = make_dataset(data_owner, slug="events")
    client = api_client(executive)
    client.get(LIST_URL)  # loads the caller's permissions, which are then cached on them
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST_URL).status_code == 200
    for number in range(5):
        draft(data_owner, f"Extra {number}", datasets=[events], related=[vocabulary["subject"]])
    with CaptureQueriesContext(connection) as many:
        response = client.get(LIST_URL)

    assert response.json()["count"] == 8
    assert len(many) == len(few)


# --- the link filter --------------------------------------------------------------------------


def test_link_terms_links_approved_names_and_synonyms(vocabulary):
    html = render_links("Each data subject (die Betroffene) may object to a TRANSFER processor.")

    assert '<a class="term-link" href="/governance/glossary/data-subject/"' in html
    assert ">data subject</a>" in html
    assert ">Betroffene</a>" in html
    assert 'href="/governance/glossary/transfer/" title="Glossary: Transfer">TRANSFER</a>' in html
    assert "processor/" not in html  # drafts are never linked


def test_link_terms_links_whole_words_only(vocabulary):
    html = render_links("Transfers, transferred, subtransfer and re-transfer are not Transfer.")

    assert html.count("<a ") == 1
    assert html.endswith('title="Glossary: Transfer">Transfer</a>.')


def test_link_terms_escapes_the_text(vocabulary):
    html = render_links('<script>alert("transfer")</script> & Transfer')

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;" in html
    assert "&amp; <a " in html
    assert html.count("<a ") == 2


def test_link_terms_prefers_the_longest_name(data_owner, privacy_officer, second_officer):
    published(data_owner, privacy_officer, "Data")
    published(data_owner, second_officer, "Personal data")

    html = render_links("personal data and data")

    assert html.startswith('<a class="term-link" href="/governance/glossary/personal-data/"')
    assert html.count("<a ") == 2


def test_link_terms_skips_the_terms_own_page_and_deprecated_terms(vocabulary, privacy_officer):
    assert "<a " not in render_links("a transfer", skip="transfer")
    services.term_deprecate(actor=privacy_officer, term=vocabulary["transfer"], reason="gone")

    assert "<a " not in render_links("a transfer")


def test_link_terms_without_terms_still_escapes(db):
    assert render_links("<b>plain</b>") == "&lt;b&gt;plain&lt;/b&gt;"
    assert render_links("") == ""


def test_link_terms_in_a_template_before_linebreaks(vocabulary):
    template = Template("{% load glossary %}{{ text|link_terms|linebreaksbr }}")

    html = template.render(Context({"text": "a transfer\n<i>"}))

    assert html == (
        'a <a class="term-link" href="/governance/glossary/transfer/" '
        'title="Glossary: Transfer">transfer</a><br>&lt;i&gt;'
    )


def test_the_link_index_is_rebuilt_when_a_term_is_approved(data_owner, privacy_officer):
    assert "<a " not in render_links("a transfer")

    published(data_owner, privacy_officer, "Transfer")

    assert "<a " in render_links("a transfer")


# --- pages ------------------------------------------------------------------------------------


def test_the_dataset_page_links_terms_in_its_description(client, data_owner, vocabulary):
    make_dataset(data_owner, slug="crm", description="Each <data subject> & their transfer.")
    client.force_login(data_owner)

    response = client.get(reverse("catalog:dataset-detail", args=["crm"]))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'href="/governance/glossary/data-subject/"' in html
    assert "&lt;<a" in html  # the description's own angle brackets are escaped
    assert 'title="Glossary: Transfer">transfer</a>' in html


@pytest.mark.parametrize("role", READ_ONLY_ROLES + PROPOSING_ROLES)
def test_every_role_sees_glossary_in_the_navigation_and_reads_its_pages(client, vocabulary, role):
    client.force_login(UserFactory(roles=[role]))

    listing = client.get(reverse("governance:glossary-list"))
    detail = client.get(reverse("governance:glossary-term", args=["data-subject"]))

    assert listing.status_code == 200 and detail.status_code == 200
    assert "Glossary" in [item.label for item in listing.context["nav_items"]]
    assert "Data subject" in page_text(listing)
    assert "The person the personal data is about." in page_text(detail)


def test_an_outsider_may_not_open_glossary_pages(client, outsider, vocabulary):
    client.force_login(outsider)

    assert client.get(reverse("governance:glossary-list")).status_code == 403
    assert client.get(reverse("governance:glossary-term", args=["transfer"])).status_code == 403


def test_the_list_page_searches_and_filters(client, executive, vocabulary):
    client.force_login(executive)

    found = client.get(reverse("governance:glossary-list"), {"q": "betroffene"})
    drafts = client.get(reverse("governance:glossary-list"), {"status": "draft"})
    bad = client.get(reverse("governance:glossary-list"), {"status": "bogus"})

    assert [t.slug for t in found.context["page"].object_list] == ["data-subject"]
    assert [t.slug for t in drafts.context["page"].object_list] == ["processor"]
    assert bad.status_code == 400


def test_the_term_page_shows_links_history_and_the_proposal(
    client, data_owner, privacy_officer, second_officer
):
    events = make_dataset(data_owner, slug="events")
    term = published(data_owner, privacy_officer, datasets=[events], synonyms=["individual"])
    services.term_propose(actor=privacy_officer, term=term, definition="Anyone identifiable.")
    client.force_login(second_officer)

    response = client.get(reverse("governance:glossary-term", args=[term.slug]))

    text = page_text(response)
    assert "events" in text and "individual" in text
    assert "v1" in text and "Proposed change" in text
    assert "Anyone identifiable." in text  # the proposal's text, shown as a change
    assert response.context["can_review"] is True
    assert 'action="/governance/glossary/data-subject/approve/"' in response.content.decode()


def test_the_proposer_sees_no_approve_button_and_a_posted_self_approval_is_403(
    client, data_owner, privacy_officer
):
    term = published(data_owner, privacy_officer)
    services.term_propose(actor=privacy_officer, term=term, definition="Mine")
    client.force_login(privacy_officer)

    page = client.get(reverse("governance:glossary-term", args=[term.slug]))
    posted = client.post(reverse("governance:glossary-approve", args=[term.slug]))

    assert page.context["can_review"] is False
    assert "/approve/" not in page.content.decode()
    assert posted.status_code == 403
    assert "You proposed this change" in page_text(posted)
    assert refreshed(term).definition == "The person the personal data is about."


def test_the_pages_run_the_whole_review(client, data_owner, privacy_officer):
    client.force_login(data_owner)
    created = client.post(
        reverse("governance:glossary-create"),
        {
            "name": "Controller",
            "definition": "Decides why and how.",
            "synonyms": "Verantwortlicher",
        },
    )
    assert created.status_code == 302
    term = Term.objects.get(slug="controller")
    assert term.synonyms == ["Verantwortlicher"]
    client.post(reverse("governance:glossary-submit", args=[term.slug]))
    assert refreshed(term).status == TermStatus.IN_REVIEW

    client.force_login(privacy_officer)
    rejected = client.post(reverse("governance:glossary-reject", args=[term.slug]), {})
    assert rejected.status_code == 400  # no comment
    approved = client.post(reverse("governance:glossary-approve", args=[term.slug]))

    assert approved.status_code == 302
    assert refreshed(term).status == TermStatus.APPROVED


def test_the_edit_page_proposes_a_change_to_an_approved_term(client, data_owner, privacy_officer):
    term = published(data_owner, privacy_officer)
    client.force_login(data_owner)
    url = reverse("governance:glossary-edit", args=[term.slug])

    form = client.get(url)
    posted = client.post(
        url, {"name": "Data subject", "definition": "New words", "note": "clearer"}
    )

    assert form.status_code == 200 and "Propose" in page_text(form)
    assert posted.status_code == 302
    assert refreshed(term).definition == "The person the personal data is about."
    assert selectors.open_proposal(term).note == "clearer"


def test_the_forms_show_bad_input_as_400(client, data_owner, vocabulary):
    client.force_login(data_owner)

    duplicate = client.post(
        reverse("governance:glossary-create"), {"name": "data SUBJECT", "definition": "d"}
    )
    unknown = client.post(
        reverse("governance:glossary-create"),
        {"name": "New", "definition": "d", "datasets": "no-such"},
    )

    assert duplicate.status_code == 400 and duplicate.context["form"].errors["name"]
    assert unknown.status_code == 400 and unknown.context["form"].errors["datasets"]


def test_read_only_roles_may_not_open_the_write_pages(client, executive, vocabulary):
    client.force_login(executive)

    assert client.get(reverse("governance:glossary-create")).status_code == 403
    assert client.get(reverse("governance:glossary-edit", args=["transfer"])).status_code == 403
    assert (
        client.get(reverse("governance:glossary-deprecate", args=["transfer"])).status_code == 403
    )


def test_a_privacy_officer_deprecates_from_the_page(client, privacy_officer, vocabulary):
    client.force_login(privacy_officer)
    url = reverse("governance:glossary-deprecate", args=["transfer"])

    missing = client.post(url, {"reason": ""})
    done = client.post(url, {"reason": "Say 'export'"})

    assert missing.status_code == 400
    assert done.status_code == 302
    page = client.get(reverse("governance:glossary-term", args=["transfer"]))
    assert "Deprecated." in page_text(page) and "Say 'export'" in page_text(page)


def test_a_nul_character_in_a_lookup_is_a_400_not_a_500(api_client, privacy_officer):
    """PostgreSQL refuses NUL in text even in a WHERE clause; that is the client's input."""
    response = api_client(privacy_officer).post(
        "/api/v1/glossary/terms/",
        {"name": "Pseudonymisation", "definition": "Replacing identifiers.", "related": ["a\x00"]},
        format="json",
    )
    assert response.status_code == 400, response.content
