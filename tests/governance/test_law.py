"""The law of every jurisdiction Locus lists, case by case: for each, a transfer its law allows,
one it denies, and one that needs a mechanism (a grant naming a route the law lists makes it
lawful; one naming a route it does not list does not), each answer naming its citation. Then a
property over every jurisdiction: personal data sent to a country its law restricts never gets
a bare allow.

The facts are the shipped reference data (tests/governance/policy_facts.py), so these tests
follow the data: a law gaining a recognised destination changes which country a case picks,
not what the case asserts.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.models import Outcome
from governance.policy.engine import evaluate
from governance.policy.law import (
    GRANT_MECHANISMS,
    LAW_ALLOW,
    LAW_DENY,
    LAW_NEEDS_MECHANISM,
    OPEN_EXCEPT_LISTED,
    RESTRICTED,
)
from tests.governance.policy_facts import LAW_BOOK, REFERENCE, REGIONS, World

AT = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)
JURISDICTIONS = {j["code"]: j for j in REFERENCE["jurisdictions"]}
COUNTRIES = sorted({c["code"] for c in REFERENCE["countries"]})
REGION_OF = {}
for _region in REGIONS.values():
    REGION_OF.setdefault(_region.country, _region.code)
# Grant mechanisms in the order a case tries them.
GRANT_ORDER = list(GRANT_MECHANISMS)


def region_in(world: World, country: str, jurisdiction: str) -> str:
    """A region in the country: a shipped one, else an on-premises site made for the test."""
    if country in REGION_OF:
        return REGION_OF[country]
    code = f"onprem:{country.lower()}-site"
    world.region(code, country, jurisdiction)
    return code


def foreign_jurisdiction(country: str) -> str:
    """The jurisdiction a destination country is under (its shipped region's, else any)."""
    for region in REGIONS.values():
        if region.country == country:
            return region.jurisdiction
    found = (code for code, j in JURISDICTIONS.items() if country in j["countries"])
    return next(found, "none")  # e.g. Andorra: no jurisdiction of its own is listed


def recognised(code: str, *, full_only: bool) -> list[str]:
    """Countries the law recognises on AT (full decisions only, or any scope)."""
    found = []
    for row in REFERENCE["adequacy_decisions"]:
        if row["decided_by"] != code or (full_only and row["scope"] != "full"):
            continue
        start = dt.date.fromisoformat(row["effective_from"])
        end = row["effective_until"] and dt.date.fromisoformat(row["effective_until"])
        if start <= AT.date() and (not end or AT.date() < end):
            found.append(row["country"])
    return found


def unrecognised(code: str) -> str:
    """A country outside the law's home that its law does not recognise at all."""
    home = set(JURISDICTIONS[code]["countries"])
    listed = {r["country"] for r in REFERENCE["adequacy_decisions"] if r["decided_by"] == code}
    barred = {c for r in REFERENCE["destination_restrictions"] for c in r["countries"]}
    for country in ("IN", "SG", "US", "BR", "ZA", "AU", "MX", "ID", "AE", "JP", "CA"):
        if country not in home | listed | barred:
            return country
    raise AssertionError(f"no unrecognised destination for {code}")


def personal_data(world: World, code: str, destination: str, categories=("contact",)) -> str:
    """Personal data of `code`'s subjects, stored at home, that the house lets go anywhere."""
    home_country = JURISDICTIONS[code]["countries"][0]
    home = region_in(world, home_country, code)
    slug = f"{code}-people-{len(world.datasets)}"
    world.dataset(
        slug,
        storage_region=home,
        jurisdiction=code,
        lawful_basis="consent",
        personal_data_categories=categories,
        subject_jurisdictions=[code],
        allowed_processing_regions=[destination],
    )
    return slug


def decide(world: World, slug: str, region: str, scopes=()):
    return evaluate(world.index(), slug, "train", region, "model-training", AT, frozenset(scopes))


def grant(world: World, slug: str, region: str, mechanism: str):
    return world.grant(
        slug,
        [region],
        mechanism=mechanism,
        valid_from=AT - dt.timedelta(days=1),
        valid_until=AT + dt.timedelta(days=1),
    )


def restricted_laws() -> list[str]:
    return sorted(code for code, law in LAW_BOOK.laws.items() if law.model == RESTRICTED)


def open_laws() -> list[str]:
    return sorted(code for code, law in LAW_BOOK.laws.items() if law.model != RESTRICTED)


def test_every_listed_jurisdiction_has_its_transfer_law_encoded():
    assert set(LAW_BOOK.laws) == set(JURISDICTIONS)
    for code, law in LAW_BOOK.laws.items():
        assert law.citation, code
        assert law.home == frozenset(JURISDICTIONS[code]["countries"]), code


# --- Restricted laws: allowed, needs a mechanism, denied ----------------------------------------


@pytest.mark.parametrize("code", restricted_laws())
def test_allowed_transfer(code):
    """To a destination the law recognises in full; a law with no list allows none abroad
    without a mechanism, so its allowed transfer is one inside its own area."""
    world = World()
    listed = [
        c for c in recognised(code, full_only=True) if c not in JURISDICTIONS[code]["countries"]
    ]
    country = listed[0] if listed else JURISDICTIONS[code]["countries"][-1]
    where = region_in(world, country, foreign_jurisdiction(country) if listed else code)
    slug = personal_data(world, code, where)

    decision = decide(world, slug, where)

    assert decision.outcome == Outcome.ALLOW, decision.reason
    assert decision.legal.outcome == LAW_ALLOW
    if listed:
        assert decision.legal.rule == f"law:{code}:adequacy"
        assert decision.legal.citation  # the instrument that recognises it
        assert f"recognises {country}" in decision.reason


@pytest.mark.parametrize("code", restricted_laws())
def test_transfer_that_needs_a_mechanism(code):
    """To a country the law does not recognise: a grant naming a route the law lists makes it
    lawful; a grant naming a route it does not list leaves it denied."""
    world = World()
    country = unrecognised(code)
    where = region_in(world, country, foreign_jurisdiction(country))
    slug = personal_data(world, code, where)
    law = LAW_BOOK.laws[code]
    accepted = {m.code for m in law.mechanisms}
    # "other": a route the approving officer names in words (e.g. Vietnam's impact assessment
    # dossier, which no grant mechanism names).
    fitting = next((m for m in GRANT_ORDER if GRANT_MECHANISMS[m] & accepted), "other")
    unfit = next((m for m in GRANT_ORDER if not GRANT_MECHANISMS[m] & accepted), None)

    asked = decide(world, slug, where)
    assert asked.legal.outcome == LAW_NEEDS_MECHANISM, asked.legal.reason
    assert asked.legal.rule == f"law:{code}:transfer"
    assert asked.legal.citation == law.citation
    assert asked.legal.mechanisms == frozenset(accepted)
    if unfit is not None:
        grant(world, slug, where, unfit)
        assert decide(world, slug, where).outcome == Outcome.DENY
    given_grant = grant(world, slug, where, fitting)
    lifted = decide(world, slug, where)
    assert (lifted.outcome, lifted.grant_id) == (Outcome.ALLOW_WITH_GRANT, given_grant.id)


@pytest.mark.parametrize("code", restricted_laws())
def test_denied_transfer(code):
    """Without a mechanism, a transfer to a country the law does not recognise is denied, and
    the answer names the law, its citation and the routes that would make it lawful."""
    world = World()
    country = unrecognised(code)
    where = region_in(world, country, foreign_jurisdiction(country))
    slug = personal_data(world, code, where)

    decision = decide(world, slug, where)

    assert decision.outcome == Outcome.DENY
    assert decision.rule == f"law:{code}:transfer"
    assert f"does not recognise {country}" in decision.reason
    assert LAW_BOOK.laws[code].name in decision.reason
    for mechanism in LAW_BOOK.laws[code].mechanisms:
        assert f"{mechanism.code} (" in decision.reason
    assert decision.house.outcome == "allow"  # the house would have let it go: the law decided


# --- Laws that do not restrict transfers: allowed, and never silently ------------------------


@pytest.mark.parametrize("code", open_laws())
def test_open_law_allows_abroad_and_says_why(code):
    world = World()
    where = region_in(world, "SG", "sg")
    slug = personal_data(world, code, where)

    decision = decide(world, slug, where)

    law = LAW_BOOK.laws[code]
    assert decision.outcome == Outcome.ALLOW
    # A US state's data is also under federal law: either may be the one the answer names.
    laws = [j for j in (code, code.split("-")[0]) if j in LAW_BOOK.laws]
    assert decision.legal.rule in {f"law:{j}:{LAW_BOOK.laws[j].model}" for j in laws}
    assert decision.legal.citation
    expected = "exporter stays accountable" if law.model != OPEN_EXCEPT_LISTED else "restricts"
    assert expected in decision.reason


def test_us_data_bulk_genomic_data_to_a_country_of_concern_is_denied():
    """28 CFR §202.303: a prohibited transaction that no safeguard permits."""
    world = World()
    where = region_in(world, "CN", "cn")
    slug = personal_data(world, "us-ca", where, categories=("genetic",))

    decision = decide(world, slug, where)
    world_grant = grant(world, slug, where, "other")
    after_grant = decide(world, slug, where)

    assert (decision.outcome, decision.rule) == (Outcome.DENY, "law:us-dsp-prohibited")
    assert "28 CFR" in decision.legal.citation
    assert after_grant.outcome == Outcome.DENY and world_grant.id  # no grant lifts it


def test_us_health_data_to_a_country_of_concern_needs_the_security_requirements():
    """28 CFR §202.401: a restricted transaction is lawful with the CISA security requirements."""
    world = World()
    where = region_in(world, "CN", "cn")
    slug = personal_data(world, "us-ca", where, categories=("health",))

    decision = decide(world, slug, where)

    assert (decision.outcome, decision.rule) == (Outcome.DENY, "law:us-dsp-restricted")
    assert decision.legal.outcome == LAW_NEEDS_MECHANISM
    assert "cisa_security_requirements" in decision.legal.mechanisms
    grant(world, slug, where, "other")
    assert decide(world, slug, where).outcome == Outcome.ALLOW_WITH_GRANT


def test_russian_citizens_data_stored_first_abroad_is_denied_everywhere():
    """152-FZ Art. 18(5): recorded and stored in Russia first; wherever the work runs."""
    world = World()
    germany = REGION_OF["DE"]
    world.dataset(
        "ru-citizens-in-germany",
        storage_region=germany,
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["ru"],
    )

    decision = decide(world, "ru-citizens-in-germany", germany)
    grant(world, "ru-citizens-in-germany", germany, "other")

    assert (decision.outcome, decision.rule) == (Outcome.DENY, "law:ru:localisation")
    assert "152-FZ Art. 18(5)" in decision.legal.citation
    assert decide(world, "ru-citizens-in-germany", germany).outcome == Outcome.DENY


@pytest.mark.parametrize(
    ("code", "country", "scope"),
    [
        pytest.param("eu", "CA", "pipeda-commercial", id="eu-canada-pipeda"),
        pytest.param("eu", "JP", "appi-private-sector", id="eu-japan-private-sector"),
        pytest.param("eu", "IL", "il-automated", id="eu-israel-automated"),
        pytest.param("eu", "US", "dpf-certified", id="eu-us-dpf"),
        pytest.param("uk", "JP", "appi-private-sector", id="uk-japan-carried-over"),
        pytest.param("uk", "US", "dpf-uk-extension-certified", id="uk-us-data-bridge"),
        pytest.param("ch", "US", "dpf-swiss-certified", id="ch-us-swiss-dpf"),
    ],
)
def test_scope_limited_adequacy_asks_the_scope_question(code, country, scope):
    world = World()
    where = region_in(world, country, foreign_jurisdiction(country))
    slug = personal_data(world, code, where)

    asked = decide(world, slug, where)
    in_scope = decide(world, slug, where, scopes=[scope])

    assert asked.outcome == Outcome.DENY
    assert asked.legal.outcome == LAW_NEEDS_MECHANISM
    assert f"is the recipient {scope}" in asked.reason
    assert "Otherwise it needs one of" in asked.reason
    assert (in_scope.outcome, in_scope.rule) == (Outcome.ALLOW, f"law:{code}:adequacy")


@pytest.mark.parametrize("country", ["JP", "CH", "IL", "NZ", "AR", "UY", "CA"])
def test_uk_law_kept_the_eu_adequacy_findings_of_2020(country):
    """DPA 2018 Sch. 21 para 5: the EU's findings in force at the end of 2020 are UK law."""
    world = World()
    where = region_in(world, country, foreign_jurisdiction(country))
    slug = personal_data(world, "uk", where)

    decision = decide(
        world, slug, where, scopes=["appi-private-sector", "pipeda-commercial", "il-automated"]
    )

    assert decision.outcome == Outcome.ALLOW, decision.reason
    assert decision.legal.rule == "law:uk:adequacy"


def test_a_public_dataset_outside_its_declared_regions_is_a_house_deny_not_a_legal_one():
    world = World()
    world.dataset(
        "public-weather",
        storage_region=REGION_OF["DE"],
        sensitivity="public",
        lawful_basis="not_personal",
        allowed_processing_regions=[REGION_OF["FR"]],
    )

    decision = decide(world, "public-weather", REGION_OF["IN"])

    assert decision.outcome == Outcome.DENY
    assert decision.house.outcome == "deny"
    assert decision.legal.outcome == LAW_ALLOW
    assert "no personal data" in decision.legal.reason


# --- The property ------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    code=st.sampled_from(sorted(JURISDICTIONS)),
    country=st.sampled_from(COUNTRIES),
    categories=st.sets(
        st.sampled_from(["contact", "health", "genetic", "financial", "location"]), min_size=1
    ),
    day=st.dates(min_value=dt.date(2019, 1, 1), max_value=dt.date(2027, 12, 31)),
)
def test_personal_data_to_a_country_its_law_restricts_never_gets_a_bare_allow(
    code, country, categories, day
):
    world = World()
    where = region_in(world, country, foreign_jurisdiction(country))
    slug = personal_data(world, code, where, categories=tuple(sorted(categories)))
    at = dt.datetime.combine(day, dt.time(12), dt.UTC)

    decision = evaluate(world.index(), slug, "train", where, "model-training", at)

    legal = decision.legal
    law = LAW_BOOK.laws[code]
    assert legal.reason and legal.rule.startswith("law:")
    if country in law.home:
        return
    # Abroad, the answer always names the law that decided and its article.
    assert legal.citation, legal
    if law.model == RESTRICTED and legal.outcome == LAW_ALLOW:
        # Only a destination its law recognises in full on that day is allowed without a route.
        in_force = [
            row
            for row in REFERENCE["adequacy_decisions"]
            if row["decided_by"] == code
            and row["country"] == country
            and row["scope"] == "full"
            and dt.date.fromisoformat(row["effective_from"]) <= day
            and (not row["effective_until"] or day < dt.date.fromisoformat(row["effective_until"]))
        ]
        assert in_force, legal.reason
    if legal.outcome in (LAW_NEEDS_MECHANISM, LAW_DENY):
        assert not decision.allowed


def test_data_under_two_laws_that_each_need_a_mechanism_needs_a_grant_that_fits_both():
    """EU and Chinese subjects' data in Singapore: GDPR needs SCCs (or another of its routes),
    PIPL its standard contract, certification or security assessment; a grant naming SCCs
    answers GDPR only, so the work stays denied until PIPL's own route is granted too."""
    world = World()
    where = region_in(world, "SG", "sg")
    world.dataset(
        "eu-and-cn-people",
        storage_region=region_in(world, "DE", "eu"),
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu", "cn"],
        allowed_processing_regions=[where],
    )

    asked = decide(world, "eu-and-cn-people", where)
    grant(world, "eu-and-cn-people", where, "scc")
    with_scc = decide(world, "eu-and-cn-people", where)
    grant(world, "eu-and-cn-people", where, "pipl_standard_contract")
    with_both = decide(world, "eu-and-cn-people", where)

    assert asked.legal.outcome == LAW_NEEDS_MECHANISM
    assert len(asked.legal.needs) == 2
    assert with_scc.outcome == Outcome.DENY  # GDPR's route only: PIPL still needs its own
    assert with_both.outcome == Outcome.ALLOW_WITH_GRANT
    assert with_both.grant_id in {g.id for g in world.grants[world.datasets["eu-and-cn-people"].id]}
