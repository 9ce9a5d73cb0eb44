"""The decision-log pages: access per role, the filtered log, an entry with the chain's status
(intact and tampered), checkpoints, and recorded decisions written from a page."""

import datetime as dt
import json
import re
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import Country, Region
from governance.grants.services import grant_create
from governance.ledger import signing
from governance.ledger.chain import ledger_append
from governance.ledger.export import checkpoint_create
from governance.ledger.records import recorded_decision_create
from governance.ledger.verification import signing_document, verify_ledger
from governance.models import LedgerCheckpoint, LedgerEntry, LocalityRule, RecordedDecision
from governance.policy.rules import rule_create
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db

READERS = ["privacy_officer", "executive", "auditor"]
NON_READERS = ["data_owner", "engineer", "outsider"]
VIRGINIA = "aws:us-east-1"


# --- helpers and fixtures ------------------------------------------------------------------------


def person(request, role: str):
    return request.getfixturevalue(role)


def rows(response) -> list[int]:
    """The entry sequences the log page shows, in order."""
    return [
        int(n) for n in re.findall(r'href="/governance/ledger/(\d+)/">#\d+</a>', _html(response))
    ]


def _html(response) -> str:
    return response.content.decode()


@pytest.fixture
def payments(privacy_officer):
    return make_dataset(privacy_officer, slug="payments")


@pytest.fixture
def rule(privacy_officer, payments):
    return rule_create(
        actor=privacy_officer,
        name="payments stay out of the US",
        effect=LocalityRule.Effect.DENY,
        dataset=payments,
        regions=[],
        countries=[Country.objects.get(code="US")],
    )


@pytest.fixture
def grant(privacy_officer, payments):
    now = timezone.now()
    return grant_create(
        actor=privacy_officer,
        datasets=[payments],
        destination_regions=[Region.objects.get(code=VIRGINIA)],
        mechanism="scc",
        valid_from=now - dt.timedelta(days=1),
        valid_until=now + dt.timedelta(days=30),
    )


@pytest.fixture
def record(privacy_officer, payments, rule):
    return recorded_decision_create(
        actor=privacy_officer,
        title="Keep payments in the EU",
        context="Payments data is EU personal data.",
        decision="No transfer outside the EU without a grant.",
        datasets=[payments],
        rules=[rule],
        links=["exception:12"],
    )


@pytest.fixture
def chain(record, grant):
    """A small chain: a dataset created, a rule, a recorded decision, a grant."""
    return list(LedgerEntry.objects.order_by("sequence"))


def tamper(sequence: int, kind: str) -> None:
    """Change a column behind the chain's back (PostgreSQL's trigger is switched off for it)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            "UPDATE governance_ledgerentry SET kind = %s WHERE sequence = %s", [kind, sequence]
        )
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = origin")


# --- access --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", READERS)
def test_ledger_readers_open_every_log_page(client, request, role, chain):
    client.force_login(person(request, role))
    entry = chain[-1]

    for url in [
        reverse("governance:ledger-list"),
        reverse("governance:ledger-entry", args=[entry.sequence]),
        reverse("governance:ledger-checkpoints"),
        reverse("governance:ledger-checkpoints-json"),
        reverse("governance:ledger-tree-head-json"),
        reverse("governance:ledger-record-list"),
    ]:
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("role", NON_READERS)
def test_others_may_not_read_the_log(client, request, role, chain):
    client.force_login(person(request, role))

    for url in [
        reverse("governance:ledger-list"),
        reverse("governance:ledger-entry", args=[chain[0].sequence]),
        reverse("governance:ledger-checkpoints"),
        reverse("governance:ledger-checkpoints-json"),
        reverse("governance:ledger-tree-head-json"),
    ]:
        assert client.get(url).status_code == 403, url


def test_anonymous_visitors_are_sent_to_log_in(client, chain):
    for url in [
        reverse("governance:ledger-list"),
        reverse("governance:ledger-entry", args=[1]),
        reverse("governance:ledger-checkpoints"),
        reverse("governance:ledger-record-list"),
        reverse("governance:ledger-record-create"),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login")), url


def test_the_navigation_shows_the_log_to_its_readers_and_evidence_to_auditors(
    client, auditor, executive, privacy_officer, data_owner
):
    def nav(user) -> str:
        client.force_login(user)
        html = _html(client.get(reverse("catalog:dataset-list")))
        return html.split('aria-label="Main"', 1)[1].split("</nav>", 1)[0]

    assert "Decision log" in nav(auditor) and "Evidence" in nav(auditor)
    assert "Decision log" in nav(privacy_officer) and "Evidence" in nav(privacy_officer)
    assert "Decision log" in nav(executive) and "Evidence" not in nav(executive)
    assert "Decision log" not in nav(data_owner) and "Evidence" not in nav(data_owner)


def test_the_log_lights_up_its_navigation_item(client, auditor, chain):
    client.force_login(auditor)

    html = _html(client.get(reverse("governance:ledger-entry", args=[1])))

    assert re.search(r'href="/governance/ledger/" aria-current="page">Decision log', html)


# --- the log -------------------------------------------------------------------------------------


def test_the_log_lists_entries_newest_first_with_linked_subjects(
    client, auditor, chain, payments, rule, grant, record
):
    ledger_append(actor=None, kind="request.opened", subjects=["exception:7", "subject:ab12"])
    client.force_login(auditor)

    response = client.get(reverse("governance:ledger-list"))

    html = _html(response)
    assert rows(response) == sorted(rows(response), reverse=True)
    assert rows(response)[0] == LedgerEntry.objects.count()
    assert f'href="/catalog/{payments.slug}/"' in html
    assert f'href="{reverse("governance:rule-detail", args=[rule.pk])}"' in html
    assert f'href="{reverse("governance:grant-detail", args=[grant.pk])}"' in html
    assert f'href="{reverse("governance:ledger-record-detail", args=[record.pk])}"' in html
    assert '<code class="chip">exception:7</code>' in html  # unknown kinds stay text
    assert '<code class="chip">subject:ab12</code>' in html
    head = LedgerEntry.objects.order_by("-sequence").first()
    assert head.hash[:12] in html and head.hash not in html.replace(f'title="{head.hash}"', "")
    assert "grant.created" in html and "system" in html


@pytest.mark.parametrize(
    ("query", "expected_kinds"),
    [
        ({"kind": "grant."}, {"grant.created"}),
        ({"kind": "decision.recorded"}, {"decision.recorded"}),
        ({"q": "exception:12"}, {"decision.recorded"}),
        ({"subject": "exception:12"}, {"decision.recorded"}),
        ({"actor": "nobody-like-this"}, set()),
    ],
)
def test_the_log_filters_by_kind_search_and_subject(client, auditor, chain, query, expected_kinds):
    client.force_login(auditor)

    response = client.get(reverse("governance:ledger-list"), query)

    shown = LedgerEntry.objects.filter(sequence__in=rows(response))
    assert response.status_code == 200
    assert {entry.kind for entry in shown} == expected_kinds
    if not expected_kinds:
        assert "No entry matches these filters" in _html(response)


def test_the_log_filters_by_dataset_and_actor(client, auditor, privacy_officer, chain, payments):
    other = make_dataset(privacy_officer, slug="other-data")
    client.force_login(auditor)

    name = privacy_officer.get_full_name()
    by_dataset = rows(client.get(reverse("governance:ledger-list"), {"dataset": "payments"}))
    by_actor = rows(client.get(reverse("governance:ledger-list"), {"actor": name.upper()}))

    mentions = {
        e.sequence for e in LedgerEntry.objects.all() if "dataset:payments" in e.subject_list
    }
    assert set(by_dataset) == mentions and mentions
    assert not any(
        "dataset:other-data" in LedgerEntry.objects.get(sequence=n).subject_list for n in by_dataset
    )
    assert by_actor
    assert set(by_actor) == {
        e.sequence for e in LedgerEntry.objects.filter(actor_id=privacy_officer.pk)
    }
    assert other.slug  # the other dataset's entry exists, and is filtered out above


def test_the_log_filters_by_date(client, auditor, chain):
    time.sleep(0.002)
    middle = timezone.now()
    time.sleep(0.002)
    later = ledger_append(actor=None, kind="test.later")
    client.force_login(auditor)
    stamp = middle.strftime("%Y-%m-%dT%H:%M:%S.%f")

    since = rows(client.get(reverse("governance:ledger-list"), {"since": stamp}))
    until = rows(client.get(reverse("governance:ledger-list"), {"until": stamp}))

    assert since == [later.sequence]
    assert later.sequence not in until and len(until) == len(chain)


def test_a_malformed_filter_is_a_400_that_names_it(client, auditor, chain):
    client.force_login(auditor)

    response = client.get(reverse("governance:ledger-list"), {"since": "yesterday-ish"})

    assert response.status_code == 400
    assert "field-invalid" in _html(response)


def test_the_log_pages_newest_first(client, auditor):
    for number in range(60):
        ledger_append(actor=None, kind="test.bulk", data={"n": number})
    client.force_login(auditor)

    first = client.get(reverse("governance:ledger-list"))
    second = client.get(reverse("governance:ledger-list"), {"page": 2})

    assert rows(first) == list(range(60, 10, -1))
    assert rows(second) == list(range(10, 0, -1))
    assert 'rel="next"' in _html(first) and 'rel="next"' not in _html(second)


def test_the_log_page_costs_the_same_queries_for_more_entries(client, auditor):
    client.force_login(auditor)
    ledger_append(actor=None, kind="test.one", subjects=["dataset:a", "rule:1"])
    client.get(reverse("governance:ledger-list"))  # warm the session and permission caches
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("governance:ledger-list"))
    for number in range(30):
        ledger_append(
            actor=None, kind="test.many", subjects=[f"dataset:d{number}", f"grant:{number}"]
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("governance:ledger-list"))

    assert len(rows(response)) == 31
    assert len(many) == len(few)


def test_the_log_page_never_verifies_the_chain(client, auditor, chain, monkeypatch):
    def refuse():
        raise AssertionError("the list page must not verify the chain")

    monkeypatch.setattr("governance.ledger.views.verify_ledger", refuse)
    client.force_login(auditor)

    assert client.get(reverse("governance:ledger-list")).status_code == 200


# --- one entry -----------------------------------------------------------------------------------


def test_an_entry_shows_every_field_its_data_and_an_intact_chain(client, executive, chain, record):
    entry = LedgerEntry.objects.get(kind="decision.recorded")
    client.force_login(executive)

    response = client.get(reverse("governance:ledger-entry", args=[entry.sequence]))

    html = _html(response)
    assert response.status_code == 200
    assert entry.hash in html and entry.prev_hash in html
    assert f'href="{reverse("governance:ledger-entry", args=[entry.sequence - 1])}"' in html
    assert 'data-chain="ok"' in html and 'data-chain="broken"' not in html
    assert f"All {len(chain)} entries verified" in html
    assert "&quot;title&quot;: &quot;Keep payments in the EU&quot;" in html  # pretty-printed data
    assert f'href="{reverse("governance:ledger-record-detail", args=[record.pk])}"' in html


def test_an_unknown_entry_is_404(client, auditor, chain):
    client.force_login(auditor)

    assert client.get(reverse("governance:ledger-entry", args=[9999])).status_code == 404


def test_an_entry_page_shows_the_first_broken_link_when_the_chain_was_tampered(
    client, auditor, chain
):
    tamper(2, "rule.deleted")
    client.force_login(auditor)

    at_break = _html(client.get(reverse("governance:ledger-entry", args=[2])))
    after = _html(client.get(reverse("governance:ledger-entry", args=[3])))
    before = _html(client.get(reverse("governance:ledger-entry", args=[1])))

    for html in (at_break, after, before):
        assert 'data-chain="broken"' in html and 'data-chain="ok"' not in html
        assert "column kind differs from the hashed payload" in html
        assert f'at entry <a href="{reverse("governance:ledger-entry", args=[2])}">#2</a>' in html
    assert "This entry is the first broken link" in at_break
    assert "comes after the first broken link" in after
    assert "comes before the first broken link" in before


# --- checkpoints ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["auditor", "privacy_officer"])
def test_a_signer_signs_the_head_from_the_checkpoints_page(client, request, role, chain):
    client.force_login(person(request, role))
    page = _html(client.get(reverse("governance:ledger-checkpoints")))
    assert "Sign the head now" in page and "it is not signed yet" in page

    response = client.post(reverse("governance:ledger-checkpoint-sign"), follow=True)

    checkpoint = LedgerCheckpoint.objects.get()
    assert checkpoint.sequence == chain[-1].sequence and checkpoint.hash == chain[-1].hash
    assert response.redirect_chain[-1][0] == reverse("governance:ledger-checkpoints")
    assert "and it is signed" in _html(response)
    assert f"Signed the head of the chain at entry #{checkpoint.sequence}" in _html(response)


def test_an_executive_reads_checkpoints_but_may_not_sign(client, executive, chain):
    client.force_login(executive)

    page = _html(client.get(reverse("governance:ledger-checkpoints")))
    response = client.post(reverse("governance:ledger-checkpoint-sign"))

    assert "Sign the head now" not in page
    assert response.status_code == 403
    assert not LedgerCheckpoint.objects.exists()


def test_signing_needs_a_post(client, auditor, chain):
    client.force_login(auditor)

    assert client.get(reverse("governance:ledger-checkpoint-sign")).status_code == 405


def test_the_checkpoints_download_as_json_for_publication(client, auditor, chain):
    first = checkpoint_create(actor=auditor)
    ledger_append(actor=None, kind="test.more")
    second = checkpoint_create(actor=auditor)
    client.force_login(auditor)

    response = client.get(reverse("governance:ledger-checkpoints-json"))

    assert response["Content-Disposition"] == 'attachment; filename="locus-checkpoints.json"'
    documents = json.loads(response.content)
    assert [d["sequence"] for d in documents] == [first.sequence, second.sequence]
    assert documents[0] == signing_document(first)
    html = _html(client.get(reverse("governance:ledger-checkpoints")))
    assert first.key_id in html and "ed25519" in html
    assert auditor.get_full_name() in html  # the pseudonym resolved for a reader of the log
    assert signing.public_key_b64() in html  # the key to publish and trust


# --- recorded decisions --------------------------------------------------------------------------


def decision_form(payments, rule, **overrides) -> dict:
    data = {
        "title": "Train fraud models in the EU only",
        "status": "accepted",
        "context": "Fraud models read payments.",
        "decision": "Train them in eu-central-1.",
        "rationale": "GDPR Chapter V.",
        "alternatives": "SCCs to the US.",
        "datasets": [payments.pk],
        "rules": [rule.pk],
        "links": "exception:44\n\nhttps://wiki.example.com/adr/7\nexception:44\n",
    }
    data.update(overrides)
    return data


def test_a_privacy_officer_records_a_decision_from_the_page_and_it_is_on_the_ledger(
    client, privacy_officer, payments, rule
):
    client.force_login(privacy_officer)
    assert client.get(reverse("governance:ledger-record-create")).status_code == 200

    response = client.post(
        reverse("governance:ledger-record-create"), decision_form(payments, rule)
    )

    record = RecordedDecision.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("governance:ledger-record-detail", args=[record.pk])
    assert record.links == ["exception:44", "https://wiki.example.com/adr/7"]
    assert list(record.datasets.all()) == [payments] and list(record.rules.all()) == [rule]
    entry = LedgerEntry.objects.get(kind="decision.recorded")
    assert {f"decision:{record.pk}", "dataset:payments", f"rule:{rule.pk}", "exception:44"} <= set(
        entry.subject_list
    )
    assert entry.actor_id == privacy_officer.pk
    assert verify_ledger().ok


def test_editing_a_recorded_decision_writes_a_new_version_and_the_detail_lists_both(
    client, privacy_officer, record, payments, rule
):
    client.force_login(privacy_officer)
    form_page = _html(client.get(reverse("governance:ledger-record-edit", args=[record.pk])))
    assert "exception:12" in form_page and "Keep payments in the EU" in form_page

    response = client.post(
        reverse("governance:ledger-record-edit", args=[record.pk]),
        decision_form(payments, rule, title="Keep payments in the EU, v2", rules=[]),
    )

    record.refresh_from_db()
    assert response.status_code == 302
    assert record.version == 2 and record.title == "Keep payments in the EU, v2"
    assert not record.rules.exists()
    detail = client.get(reverse("governance:ledger-record-detail", args=[record.pk]))
    mentions = LedgerEntry.objects.filter(subjects__contains=f" decision:{record.pk} ")
    assert sorted(mentions.values_list("kind", flat=True)) == [
        "decision.recorded",
        "decision.updated",
    ]
    assert set(rows(detail)) == set(mentions.values_list("sequence", flat=True))


def test_a_recorded_decision_form_with_errors_is_a_400_and_records_nothing(
    client, privacy_officer, payments, rule
):
    client.force_login(privacy_officer)

    response = client.post(
        reverse("governance:ledger-record-create"),
        decision_form(payments, rule, title="", links="x" * 121, datasets=[999999]),
    )

    assert response.status_code == 400
    assert not RecordedDecision.objects.exists()
    assert not LedgerEntry.objects.filter(kind__startswith="decision.").exists()
    assert "The decision was not recorded." in _html(response)


@pytest.mark.parametrize("role", ["auditor", "executive", "data_owner", "engineer", "outsider"])
def test_only_privacy_officers_write_recorded_decisions(
    client, request, role, record, payments, rule
):
    client.force_login(person(request, role))

    create = client.post(reverse("governance:ledger-record-create"), decision_form(payments, rule))
    edit = client.post(
        reverse("governance:ledger-record-edit", args=[record.pk]), decision_form(payments, rule)
    )

    assert (create.status_code, edit.status_code) == (403, 403)
    assert RecordedDecision.objects.get().version == 1


def test_any_role_reads_recorded_decisions_but_only_log_readers_see_the_entries(
    client, data_owner, auditor, outsider, record
):
    url = reverse("governance:ledger-record-detail", args=[record.pk])
    client.force_login(data_owner)
    owner_view = client.get(url)
    client.force_login(auditor)
    auditor_view = client.get(url)
    client.force_login(outsider)

    assert owner_view.status_code == 200 and "Keep payments in the EU" in _html(owner_view)
    assert "In the decision log" not in _html(owner_view) and not rows(owner_view)
    assert rows(auditor_view) == list(
        LedgerEntry.objects.filter(subjects__contains=f" decision:{record.pk} ").values_list(
            "sequence", flat=True
        )
    )
    assert "Edit" not in _html(auditor_view).split("<main", 1)[1].split("In the decision log")[0]
    assert client.get(url).status_code == 403
    assert client.get(reverse("governance:ledger-record-list")).status_code == 403


def test_the_recorded_decisions_list_filters_by_status(client, executive, record, privacy_officer):
    recorded_decision_create(
        actor=privacy_officer, title="Old idea", context="c", decision="d", status="rejected"
    )
    client.force_login(executive)

    proposed = _html(client.get(reverse("governance:ledger-record-list"), {"status": "proposed"}))
    everything = _html(client.get(reverse("governance:ledger-record-list")))
    bad = client.get(reverse("governance:ledger-record-list"), {"status": "maybe"})

    assert "Keep payments in the EU" in proposed and "Old idea" not in proposed
    assert "Keep payments in the EU" in everything and "Old idea" in everything
    assert bad.status_code == 400
