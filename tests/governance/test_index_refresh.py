"""current_index(): one compiled index per process, rebuilt whenever a policy input changes,
whichever process made the change."""

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection, transaction

from catalog import services as catalog_services
from catalog.models import Country, Region
from governance.grants.services import grant_create, grant_revoke
from governance.models import Outcome, TransferGrant
from governance.policy.engine import evaluate
from governance.policy.facts import RULE_DATASET_REGIONS, Decision, UnknownInput
from governance.policy.index import current_index, forget_index, policy_version
from governance.policy.rules import rule_create, rule_delete, rule_update
from tests.factories import make_dataset
from tests.notices import caught_up

IRELAND = "aws:eu-west-1"
GERMANY = "aws:eu-central-1"
VIRGINIA = "aws:us-east-1"
AT = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)
PROJECT_ROOT = Path(settings.BASE_DIR)


@pytest.fixture(autouse=True)
def fresh_policy_cache():
    """Revision counters roll back with each test's transaction, so a cached index could be reused."""
    forget_index()
    yield
    forget_index()


@pytest.fixture
def eu_customers(data_owner):
    return make_dataset(
        data_owner,
        slug="eu-customers",
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[GERMANY, VIRGINIA],
    )


def decide(region, dataset="eu-customers", at=AT) -> Decision:
    return evaluate(current_index(), dataset, "train", region, "model-training", at)


def deny_germany(actor, name="No EU data in Germany"):
    return rule_create(
        actor=actor,
        regions=[],
        countries=[Country.objects.get(code="DE")],
        name=name,
        effect="deny",
        jurisdiction_id="eu",
    )


def grant_virginia(actor, dataset, around=AT):
    return grant_create(
        actor=actor,
        datasets=[dataset],
        destination_regions=[Region.objects.get(code=VIRGINIA)],
        mechanism="scc",
        valid_from=around - dt.timedelta(days=1),
        valid_until=around + dt.timedelta(days=30),
    )


# --- In this process ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_index_is_reused_while_nothing_changes(eu_customers, django_assert_num_queries):
    first = current_index()

    with django_assert_num_queries(1):  # the revision counters, nothing else
        again = current_index()

    assert again is first


@pytest.mark.django_db
def test_index_follows_rule_changes(privacy_officer, eu_customers):
    before = current_index()
    assert decide(GERMANY).outcome == Outcome.ALLOW

    rule = deny_germany(privacy_officer)

    after_create = current_index()
    assert after_create is not before
    assert after_create.version != before.version
    assert decide(GERMANY).rule == f"rule:{rule.pk}"

    rule = rule_update(actor=privacy_officer, rule=rule, countries=[Country.objects.get(code="FR")])
    assert decide(GERMANY).outcome == Outcome.ALLOW

    rule = rule_update(actor=privacy_officer, rule=rule, countries=[Country.objects.get(code="DE")])
    assert decide(GERMANY).outcome == Outcome.DENY

    rule_delete(actor=privacy_officer, rule=rule)
    assert decide(GERMANY).outcome == Outcome.ALLOW


@pytest.mark.django_db
def test_index_follows_grant_changes(privacy_officer, eu_customers):
    now = dt.datetime.now(dt.UTC)
    assert decide(VIRGINIA, at=now).outcome == Outcome.DENY

    grant = grant_virginia(privacy_officer, eu_customers, around=now)
    granted = decide(VIRGINIA, at=now)
    assert (granted.outcome, granted.grant_id) == (Outcome.ALLOW_WITH_GRANT, grant.pk)

    revoked = grant_revoke(actor=privacy_officer, grant=grant, reason="TIA withdrawn")
    after = revoked.revoked_at + dt.timedelta(seconds=1)
    assert decide(VIRGINIA, at=after).outcome == Outcome.DENY


@pytest.mark.django_db
def test_index_follows_catalog_changes(privacy_officer, eu_customers):
    assert decide(GERMANY).outcome == Outcome.ALLOW
    version = current_index().version

    catalog_services.dataset_update(
        actor=privacy_officer, dataset=eu_customers, allowed_processing_regions=[]
    )

    assert current_index().version != version
    assert decide(GERMANY).rule == RULE_DATASET_REGIONS
    assert decide(GERMANY).outcome == Outcome.DENY

    new = make_dataset(slug="brand-new")
    assert decide(IRELAND, dataset="brand-new").outcome == Outcome.ALLOW
    catalog_services.dataset_delete(actor=privacy_officer, dataset=new)
    with pytest.raises(UnknownInput):
        decide(IRELAND, dataset="brand-new")


@pytest.mark.django_db
def test_policy_version_names_both_counters(privacy_officer, eu_customers):
    catalog_before, governance_before = _counters(policy_version()[0])

    deny_germany(privacy_officer)
    make_dataset(slug="another")

    assert _counters(policy_version()[0]) == (catalog_before + 1, governance_before + 1)
    assert decide(GERMANY).policy_version == policy_version()[0]


def _counters(version: str) -> tuple[int, int]:
    catalog, governance = version.split(".")
    return int(catalog.removeprefix("c")), int(governance.removeprefix("g"))


@pytest.mark.django_db
def test_a_refused_change_leaves_the_index_alone(privacy_officer, eu_customers):
    deny_germany(privacy_officer)
    index = current_index()

    with pytest.raises(Exception, match="priority"):
        rule_create(
            actor=privacy_officer,
            regions=[Region.objects.get(code=GERMANY)],
            countries=[],
            name="Only Germany",
            effect="allow_only",
            jurisdiction_id="eu",
        )

    assert current_index() is index


class Abort(Exception):
    pass


@pytest.mark.django_db
def test_an_index_compiled_in_a_rolled_back_transaction_is_not_served_later(
    privacy_officer, eu_customers
):
    with pytest.raises(Abort), transaction.atomic():
        deny_germany(privacy_officer, name="Never committed")
        assert decide(GERMANY).outcome == Outcome.DENY  # compiled and cached inside
        raise Abort

    grant_virginia(privacy_officer, eu_customers)  # a real change: the counter moves again

    assert decide(VIRGINIA).outcome == Outcome.ALLOW_WITH_GRANT
    assert decide(GERMANY).outcome == Outcome.ALLOW


# --- In another process ------------------------------------------------------------------------


def _database_url() -> str:
    """The test database as a DATABASE_URL that another process can open."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    assert connection.vendor == "postgresql", connection.vendor
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host}{port}/{db['NAME']}"


def _in_another_process(code: str, *, notified: bool = True) -> str:
    """Run code in `manage.py shell`; its last line printed. Returns once what it committed has
    been notified here (unless not `notified`)."""
    env = {**os.environ, "DATABASE_URL": _database_url()}
    finished = subprocess.run(
        [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", textwrap.dedent(code)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    if notified:
        caught_up(_database_url())
    lines = finished.stdout.strip().splitlines()
    return lines[-1] if lines else ""


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_index_follows_a_rule_written_by_another_process(privacy_officer, eu_customers):
    assert decide(GERMANY).outcome == Outcome.ALLOW
    index = current_index()

    rule_id = _in_another_process(
        f"""
        from django.contrib.auth import get_user_model
        from catalog.models import Country
        from governance.policy.rules import rule_create

        officer = get_user_model().objects.get(username={privacy_officer.username!r})
        rule = rule_create(
            actor=officer,
            regions=[],
            countries=[Country.objects.get(code="DE")],
            name="Written elsewhere",
            effect="deny",
            jurisdiction_id="eu",
        )
        print(rule.pk)
        """
    )

    decision = decide(GERMANY)
    assert current_index() is not index
    assert (decision.outcome, decision.rule) == (Outcome.DENY, f"rule:{rule_id}")
    assert "Written elsewhere" in decision.reason


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_index_follows_a_grant_revoked_by_another_process(privacy_officer, eu_customers):
    now = dt.datetime.now(dt.UTC)
    grant = grant_virginia(privacy_officer, eu_customers, around=now)
    assert decide(VIRGINIA, at=now).outcome == Outcome.ALLOW_WITH_GRANT

    _in_another_process(
        f"""
        from django.contrib.auth import get_user_model
        from governance.grants.services import grant_revoke
        from governance.models import TransferGrant

        officer = get_user_model().objects.get(username={privacy_officer.username!r})
        grant = TransferGrant.objects.get(pk={grant.pk})
        grant_revoke(actor=officer, grant=grant, reason="revoked elsewhere")
        """
    )

    revoked_at = TransferGrant.objects.get(pk=grant.pk).revoked_at
    assert revoked_at is not None
    assert decide(VIRGINIA, at=revoked_at + dt.timedelta(seconds=1)).outcome == Outcome.DENY
