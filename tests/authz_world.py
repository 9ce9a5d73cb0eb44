"""One of every kind of object the authorisation matrix needs, built once through the services.

`build_world()` makes the people (one per role, an outsider with no role, a second data owner)
and, owned by the data owner where ownership matters: datasets and a lineage edge, a locality
rule, a transfer grant, a training run and its decisions, a ledger checkpoint, a recorded
decision, glossary terms (one approved, one in review), a submitted transfer exception, a
verified erasure request with its task and model decision, a dataset connector, a telemetry
source (and a revoked one), a violation with its incident, an anomaly alert, a catalog gap, retention runs and a legal
hold.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.core import mail
from django.test import TestCase
from django.utils import timezone
from guardian.shortcuts import assign_perm

from catalog import services as catalog_services
from catalog.models import Country, Dataset, Jurisdiction, LineageEdge, Region
from governance.checks.services import training_run_register
from governance.consent.services import consent_notice_publish
from governance.glossary import services as glossary_services
from governance.grants.services import grant_create
from governance.ledger.export import checkpoint_create
from governance.ledger.records import recorded_decision_create
from governance.ml.services import model_deploy, model_register
from governance.models import LedgerEntry, LocalityDecision, LocalityRule, Purpose
from governance.policy.rules import rule_create
from governance.reviews.services import review_open
from governance.roles import Role
from monitoring.drills.services import drill_start
from monitoring.models import AnomalyAlert, UnregisteredAsset, Violation
from monitoring.telemetry import services as monitoring_services
from monitoring.telemetry.ingest import telemetry_ingest
from requests.models import DatasetConnector, MlPropagationDecision, RetentionRun, SubjectTask
from requests.retention import holds as retention_holds
from requests.retention import services as retention_services
from requests.subjects import intake, verification
from requests.transfers import services as transfer_services
from tests.factories import UserFactory, make_dataset

IRELAND = "aws:eu-west-1"
GERMANY = "aws:eu-central-1"
VIRGINIA = "aws:us-east-1"
SUBJECT = "sam.subject@example.org"

# The columns of the matrix, in order.
ROLES = (
    "anonymous",
    "privacy_officer",
    "executive",
    "data_owner",
    "engineer",
    "auditor",
    "outsider",
)


@dataclass
class World:
    users: dict[str, int] = field(default_factory=dict)
    ids: dict[str, object] = field(default_factory=dict)
    token: str = ""
    revoked_token: str = ""


def _regions(*codes: str) -> list[Region]:
    return [Region.objects.get(code=code) for code in codes]


def _people(world: World) -> dict:
    people = {
        "privacy_officer": UserFactory(username="mx-officer", roles=[Role.PRIVACY_OFFICER]),
        "executive": UserFactory(username="mx-executive", roles=[Role.EXECUTIVE]),
        "data_owner": UserFactory(username="mx-owner", roles=[Role.DATA_OWNER]),
        "engineer": UserFactory(username="mx-engineer", roles=[Role.ENGINEER]),
        "auditor": UserFactory(username="mx-auditor", roles=[Role.AUDITOR]),
        "outsider": UserFactory(username="mx-outsider"),
        "other_owner": UserFactory(username="mx-other-owner", roles=[Role.DATA_OWNER]),
    }
    world.users = {name: user.pk for name, user in people.items()}
    return people


def _catalog(world: World, p: dict) -> dict[str, Dataset]:
    owner = p["data_owner"]
    datasets = {
        "customers": make_dataset(
            owner,
            slug="mx-customers",
            uri="s3://mx-bucket/customers",
            jurisdiction="eu",
            lawful_basis="consent",
            personal_data_categories=["contact"],
            subject_jurisdictions=["eu"],
            allowed_processing_regions=[GERMANY],
        ),
        "features": make_dataset(owner, slug="mx-features"),
        "metrics": make_dataset(p["other_owner"], slug="mx-metrics", storage_region=VIRGINIA),
    }
    edge = catalog_services.lineage_edge_create(
        actor=owner, upstream=datasets["customers"], downstream=datasets["features"]
    )
    world.ids.update(
        {f"dataset_{key}": ds.slug for key, ds in datasets.items()} | {"edge": edge.pk}
    )
    return datasets


def _governance(world: World, p: dict, datasets: dict[str, Dataset]) -> None:
    officer, now = p["privacy_officer"], timezone.now()
    rule = rule_create(
        actor=officer,
        name="metrics stay out of China",
        effect=LocalityRule.Effect.DENY,
        dataset=datasets["metrics"],
        regions=[],
        countries=[Country.objects.get(code="CN")],
    )
    grant = grant_create(
        actor=officer,
        datasets=[datasets["features"]],
        destination_regions=_regions(VIRGINIA),
        mechanism="scc",
        valid_from=now - dt.timedelta(days=1),
        valid_until=now + dt.timedelta(days=30),
    )
    run, _ = training_run_register(
        actor=p["engineer"],
        name="churn-v3",
        purpose=Purpose.objects.get(code="model-training"),
        compute_regions=_regions(IRELAND),
        inputs=[(datasets["customers"], "v1")],
        model_name="churn-model",
    )
    model = model_register(
        actor=p["data_owner"],
        name="churn",
        version="3",
        uri="s3://models/churn/3",
        training_runs=[run],
    )
    deployment, _ = model_deploy(
        actor=p["data_owner"],
        trained_model=model,
        region=Region.objects.get(code=IRELAND),
        purpose=Purpose.objects.get(code="model-training"),
    )
    record = recorded_decision_create(
        actor=officer,
        title="Keep customers in the EU",
        context="Customer data is EU personal data.",
        decision="No transfer outside the EU without a grant.",
        datasets=[datasets["customers"]],
    )
    checkpoint = checkpoint_create(actor=officer)
    world.ids.update(
        rule=rule.pk,
        grant=grant.pk,
        run=run.pk,
        model=model.pk,
        deployment=deployment.pk,
        decision=LocalityDecision.objects.filter(training_run=run)
        .values_list("pk", flat=True)
        .first(),
        record=record.pk,
        checkpoint=checkpoint.pk,
        ledger_sequence=LedgerEntry.objects.order_by("sequence").first().sequence,
    )


def _glossary(world: World, p: dict) -> None:
    owner, officer = p["data_owner"], p["privacy_officer"]
    approved = glossary_services.term_create(
        actor=owner, name="Data subject", definition="The person the data is about."
    )
    glossary_services.term_submit(actor=owner, term=approved)
    glossary_services.term_approve(actor=officer, term=approved)
    in_review = glossary_services.term_create(
        actor=owner, name="Controller", definition="Who decides why and how data is processed."
    )
    glossary_services.term_submit(actor=owner, term=in_review)
    world.ids.update(term_approved=approved.slug, term_in_review=in_review.slug)


def _transfer_exception(world: World, p: dict, datasets: dict[str, Dataset]) -> None:
    start = timezone.now()
    exception = transfer_services.exception_create(
        actor=p["data_owner"],
        datasets=[datasets["customers"]],
        destination_regions=_regions(VIRGINIA),
        purpose=Purpose.objects.get(code="model-training"),
        submit=True,
        mechanism="scc",
        scc_module="c2p",
        justification="Train the ranking model on US GPUs",
        tia_risks=["US surveillance law"],
        tia_measures=["encryption_in_transit"],
        starts_at=start,
        ends_at=start + dt.timedelta(days=14),
    )
    world.ids["exception"] = exception.pk


def _subject_request(world: World, p: dict, datasets: dict[str, Dataset]) -> None:
    """An erasure the subject verified: discovery gave the owner a task and a model decision."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        request = intake.subject_request_create(
            actor=p["privacy_officer"],
            type="erasure",
            jurisdiction="eu",
            identifiers={"email": SUBJECT},
            channel="email",
        )
    body = next(
        m.body
        for m in reversed(mail.outbox)
        if m.subject == f"[{request.reference}] Please confirm your request"
    )
    code = re.search(r"code (\d{6})", body).group(1)
    with TestCase.captureOnCommitCallbacks(execute=True):
        verification.verification_check(subject_request=request, code=code)
    task = SubjectTask.objects.get(request=request, dataset=datasets["customers"])
    decision = MlPropagationDecision.objects.filter(request=request).first()
    connector = DatasetConnector.objects.create(
        dataset=datasets["features"], kind="manual", identifier_kinds=["email"]
    )
    notice = consent_notice_publish(
        actor=p["privacy_officer"],
        code="mx-signup",
        version="1",
        title="Sign-up consent",
        jurisdiction=Jurisdiction.objects.get(code="eu"),
        datasets=[datasets["customers"]],
        purposes=list(Purpose.objects.filter(code="analytics")),
    )
    world.ids.update(
        subject_request=request.pk,
        subject_task=task.pk,
        ml_decision=decision.pk,
        connector=connector.pk,
        consent_notice=notice.pk,
    )
    _pending_request(world)


def _pending_request(world: World) -> None:
    """A request the public made and has not confirmed yet: the verify pages' target."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        pending = intake.subject_request_create(
            actor=None, type="access", jurisdiction="eu", identifiers={"email": SUBJECT}
        )
    body = next(
        m.body
        for m in reversed(mail.outbox)
        if m.subject == f"[{pending.reference}] Please confirm your request"
    )
    world.ids.update(
        verify_token=pending.verify_token,
        verify_link=re.search(r"/verify/[^/\s]+/([^/\s]+)/", body).group(1),
    )


def _monitoring(world: World, p: dict, datasets: dict[str, Dataset]) -> None:
    officer, now = p["privacy_officer"], timezone.now()
    source, world.token = monitoring_services.telemetry_source_register(
        actor=officer, name="mx-pipeline"
    )
    revoked, world.revoked_token = monitoring_services.telemetry_source_register(
        actor=officer, name="mx-retired"
    )
    monitoring_services.telemetry_source_revoke(actor=officer, source=revoked, reason="retired")
    at = (now - dt.timedelta(seconds=30)).isoformat()
    common = {"time": at, "kind": "read", "actor": "etl-bot", "bytes": 10, "records": 1}
    telemetry_ingest(
        source=source,
        items=[
            {"id": "mx-1", "dataset": "mx-customers", "destination_region": VIRGINIA, **common},
            {"id": "mx-2", "dataset": "s3://mx-lake/unknown", "destination_region": IRELAND}
            | common,
        ],
    )
    violation = Violation.objects.get(dataset=datasets["customers"])
    alert = AnomalyAlert.objects.create(
        kind=AnomalyAlert.Kind.values[0],
        dedupe_key="mx-alert",
        actor="etl-bot",
        dataset=datasets["customers"],
        dataset_ref="mx-customers",
        region=VIRGINIA,
        detected_at=now,
        occurred_at=now,
        detail="first time in this region",
    )
    drill = drill_start(
        actor=officer,
        dataset=datasets["customers"],
        destination_region=VIRGINIA,
        scenario="Matrix drill",
    )
    world.ids.update(
        source=source.pk,
        violation=violation.pk,
        incident=violation.incident_id,
        drill=drill.pk,
        alert=alert.pk,
        gap=UnregisteredAsset.objects.get(dataset_ref="s3://mx-lake/unknown").pk,
    )


def _retention(world: World, p: dict, datasets: dict[str, Dataset]) -> None:
    """This period's retention runs (the data owner's customers among them), and a legal hold
    on another owner's dataset."""
    retention_services.retention_due()
    hold = retention_holds.legal_hold_place(
        actor=p["privacy_officer"], dataset=datasets["metrics"], reason="Matrix litigation"
    )
    run = RetentionRun.objects.get(dataset=datasets["customers"])
    world.ids.update(retention_run=run.pk, legal_hold=hold.pk)


def _access_review(world: World, p: dict, datasets: dict[str, Dataset]) -> None:
    """An open access review in which the data owner reviews another owner's permission to
    change their customers dataset."""
    assign_perm("catalog.change_dataset", p["other_owner"], datasets["customers"])
    review = review_open(actor=p["privacy_officer"])
    item = review.items.get(kind="object_permission", dataset_slug=datasets["customers"].slug)
    world.ids.update(access_review=review.pk, access_review_item=item.pk)


def build_world() -> World:
    """Everything the matrix's URLs point at, made the way the product makes it."""
    from governance.celery import app

    eager, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        world = World()
        people = _people(world)
        datasets = _catalog(world, people)
        _governance(world, people, datasets)
        _glossary(world, people)
        _transfer_exception(world, people, datasets)
        _subject_request(world, people, datasets)
        _monitoring(world, people, datasets)
        _retention(world, people, datasets)
        _access_review(world, people, datasets)
        assert LineageEdge.objects.filter(pk=world.ids["edge"]).exists()
        return world
    finally:
        app.conf.task_always_eager = eager
