"""The shipped legal and geographic reference data: valid, loaded by migration, idempotent."""

import copy
import datetime

import pytest
from django.db.models import Q

from catalog.models import (
    AdequacyDecision,
    BreachClock,
    ConsentLaw,
    Country,
    DeadlineUnit,
    DestinationRestriction,
    Jurisdiction,
    LocalisationDuty,
    PersonalDataCategory,
    Regime,
    Region,
    SubjectRights,
    TransferLaw,
)
from catalog.reference import (
    LAW_SECTIONS,
    SECTIONS,
    load_reference_data,
    read_reference_data,
    validate_reference_data,
)

EU_MEMBER_STATES = {
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
}  # fmt: skip
EEA = EU_MEMBER_STATES | {"IS", "LI", "NO"}


def adequacy_in_force(decided_by: str, country: str, on: datetime.date):
    """Decisions in force on a day; effective_until is the first day one no longer applies."""
    return AdequacyDecision.objects.filter(
        Q(effective_until__isnull=True) | Q(effective_until__gt=on),
        decided_by_id=decided_by,
        country_id=country,
        effective_from__lte=on,
    )


def table_counts() -> dict[str, int]:
    return {
        "countries": Country.objects.count(),
        "jurisdictions": Jurisdiction.objects.count(),
        "jurisdiction_countries": Jurisdiction.countries.through.objects.count(),
        "adequacy_decisions": AdequacyDecision.objects.count(),
        "regions": Region.objects.count(),
        "personal_data_categories": PersonalDataCategory.objects.count(),
        "transfer_laws": TransferLaw.objects.count(),
        "localisation_duties": LocalisationDuty.objects.count(),
        "destination_restrictions": DestinationRestriction.objects.count(),
        "breach_clocks": BreachClock.objects.count(),
        "subject_rights": SubjectRights.objects.count(),
        "consent_laws": ConsentLaw.objects.count(),
    }


def test_shipped_reference_data_is_valid():
    assert validate_reference_data(read_reference_data()) == []


def test_validation_reports_problems():
    data = copy.deepcopy(read_reference_data())
    data["regions"][0]["jurisdiction"] = "jp"  # aws:us-east-1 is not in Japan
    data["countries"].append(dict(data["countries"][0]))  # duplicate code and iso3
    data["jurisdictions"][0]["countries"].append("XX")
    decision = data["adequacy_decisions"][0]
    decision["effective_until"] = decision["effective_from"]

    problems = validate_reference_data(data)

    assert any("does not cover country" in p for p in problems)
    assert any("duplicate country code" in p for p in problems)
    assert any("unknown country code 'XX'" in p for p in problems)
    assert any("effective_until is not after effective_from" in p for p in problems)


def test_shipped_data_covers_what_locus_needs():
    data = read_reference_data()
    assert len(data["regions"]) >= 40
    providers = {r["provider"] for r in data["regions"]}
    assert {"aws", "gcp", "azure", "alibaba", "onprem"} <= providers
    region_countries = {r["country"] for r in data["regions"]}
    assert {"DE", "GB", "CH", "US", "CA", "BR", "JP", "KR", "IN", "SG", "AU", "IL"} <= (
        region_countries
    )
    assert {c["code"] for c in data["countries"] if c["in_eea"]} == EEA
    assert {c["code"] for c in data["personal_data_categories"]} >= {
        "health", "biometric", "genetic", "racial-ethnic", "political", "religious",
        "sexual-orientation", "trade-union", "contact",
    }  # fmt: skip


@pytest.mark.django_db
def test_migrations_load_the_eu_as_the_whole_eea():
    eu = Jurisdiction.objects.get(code="eu")
    assert eu.regime == Regime.GDPR
    assert set(eu.countries.values_list("code", flat=True)) == EEA
    assert eu.countries.count() == 30
    assert set(Country.objects.filter(in_eea=True).values_list("code", flat=True)) == EEA


@pytest.mark.django_db
def test_every_region_is_under_a_jurisdiction_that_covers_its_country():
    regions = Region.objects.select_related("jurisdiction", "country")
    assert regions.count() >= 40
    for region in regions:
        covered = region.jurisdiction.countries.filter(code=region.country_id).exists()
        assert covered, (
            f"{region.code}: {region.jurisdiction_id} does not cover {region.country_id}"
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("region", "jurisdiction"),
    [
        ("aws:us-west-1", "us-ca"),
        ("aws:us-east-1", "us-va"),
        ("aws:us-west-2", "us-or"),
        ("aws:eu-west-2", "uk"),
        ("gcp:europe-west6", "ch"),
        ("alibaba:cn-hangzhou", "cn"),
    ],
)
def test_regions_use_the_most_specific_jurisdiction(region, jurisdiction):
    assert Region.objects.get(code=region).jurisdiction_id == jurisdiction


@pytest.mark.django_db
def test_us_adequacy_follows_the_frameworks_over_time():
    dpf = adequacy_in_force("eu", "US", datetime.date(2024, 1, 1)).get()
    assert dpf.instrument.endswith("(EU) 2023/1795")
    assert dpf.scope == AdequacyDecision.Scope.CERTIFIED
    assert dpf.effective_from == datetime.date(2023, 7, 10)

    shield = adequacy_in_force("eu", "US", datetime.date(2018, 1, 1)).get()
    assert shield.instrument.endswith("(EU) 2016/1250")
    assert shield.effective_until == datetime.date(2020, 7, 16)

    safe_harbor = adequacy_in_force("eu", "US", datetime.date(2010, 1, 1)).get()
    assert safe_harbor.instrument.endswith("2000/520/EC")

    # Between Schrems II and the DPF there was no adequacy decision for the US.
    assert not adequacy_in_force("eu", "US", datetime.date(2021, 1, 1)).exists()
    assert not adequacy_in_force("eu", "US", datetime.date(2020, 7, 16)).exists()


@pytest.mark.django_db
def test_uk_adequacy_is_continuous_from_2021():
    for day in (datetime.date(2021, 7, 1), datetime.date(2025, 12, 27), datetime.date(2026, 3, 1)):
        assert adequacy_in_force("eu", "GB", day).count() == 1, day
    assert adequacy_in_force("uk", "US", datetime.date(2024, 1, 1)).get().scope == "certified"


@pytest.mark.django_db
def test_gdpr_deadline_is_one_month_with_two_months_extension():
    eu = Jurisdiction.objects.get(code="eu")
    assert (eu.dsr_deadline_amount, eu.dsr_deadline_unit) == (1, DeadlineUnit.CALENDAR_MONTHS)
    assert (eu.dsr_extension_amount, eu.dsr_extension_unit) == (2, DeadlineUnit.CALENDAR_MONTHS)
    assert "Art. 12(3)" in eu.dsr_citation


@pytest.mark.django_db
def test_ccpa_deadline_and_acknowledgement():
    ca = Jurisdiction.objects.get(code="us-ca")
    assert (ca.dsr_deadline_amount, ca.dsr_deadline_unit) == (45, DeadlineUnit.CALENDAR_DAYS)
    assert (ca.dsr_extension_amount, ca.dsr_extension_unit) == (45, DeadlineUnit.CALENDAR_DAYS)
    assert ca.dsr_acknowledge_business_days == 10


@pytest.mark.django_db
def test_loading_twice_changes_no_counts():
    before = table_counts()
    first = load_reference_data()
    after_first = table_counts()
    second = load_reference_data()

    assert first == second
    assert set(first) == {*SECTIONS, *LAW_SECTIONS}
    assert after_first == before == table_counts()
    for section in (*SECTIONS, *LAW_SECTIONS):
        assert before[section] == first[section]


@pytest.mark.django_db
def test_loading_restores_edited_rows():
    Jurisdiction.objects.filter(code="eu").update(dsr_deadline_amount=3)
    Jurisdiction.objects.get(code="eu").countries.remove("NO")

    load_reference_data()

    eu = Jurisdiction.objects.get(code="eu")
    assert eu.dsr_deadline_amount == 1
    assert eu.countries.filter(code="NO").exists()


def test_invalid_data_is_refused_before_touching_the_database():
    data = copy.deepcopy(read_reference_data())
    data["regions"][0]["country"] = "XX"
    with pytest.raises(ValueError, match="unknown country code 'XX'"):
        load_reference_data(data=data)
