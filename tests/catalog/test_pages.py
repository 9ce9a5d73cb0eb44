"""The catalog's pages: access per role, the dataset form, history, the data map, query counts."""

import json
import re
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog import dashboards, services
from catalog.models import Dataset, DatasetChange, PersonalDataCategory, Region
from tests.navigation import POLICY_NAV

pytestmark = pytest.mark.django_db

EU_REGION = "aws:eu-west-1"  # Ireland, under the EU's GDPR (reference data)
US_REGION = "aws:us-east-1"  # United States, under Virginia's VCDPA (reference data)


# --- local fixtures -------------------------------------------------------------------------


def make_user(username: str, *roles: str, **fields):
    """A user in the given role groups (the groups come from governance.roles on migrate)."""
    user = get_user_model().objects.create_user(username=username, password="not-used", **fields)
    user.groups.add(*(Group.objects.get(name=role) for role in roles))
    return get_user_model().objects.get(pk=user.pk)  # without cached permissions


@pytest.fixture
def eu_region():
    return Region.objects.select_related("jurisdiction").get(code=EU_REGION)


@pytest.fixture
def us_region():
    return Region.objects.select_related("jurisdiction").get(code=US_REGION)


@pytest.fixture
def owner():
    return make_user("olga", "data_owner", first_name="Olga", last_name="Owner")


@pytest.fixture
def other_owner():
    return make_user("oscar", "data_owner")


@pytest.fixture
def officer():
    return make_user("pat", "privacy_officer")


@pytest.fixture
def executive():
    return make_user("erin", "executive")


@pytest.fixture
def no_role():
    return make_user("otto")


@pytest.fixture
def register(eu_region):
    """register(actor, **fields) -> a dataset created through catalog.services."""
    counter = iter(range(1, 10_000))

    def make(actor, **fields):
        number = next(counter)
        values = {
            "name": f"Dataset {number}",
            "slug": f"dataset-{number}",
            "storage_region": eu_region,
            "sensitivity": "internal",
            "retention_days": 90,
        }
        values.update(fields)
        return services.dataset_create(actor=actor, **values)

    return make


def signed_in(client, user):
    client.force_login(user)
    return client


def form_data(region, **overrides) -> dict:
    data = {
        "name": "Customer events",
        "slug": "customer-events",
        "description": "Clicks and page views",
        "uri": "s3://events/customer",
        "storage_region": str(region.pk),
        "jurisdiction": "",
        "sensitivity": "confidential",
        "lawful_basis": "legitimate_interests",
        "retention_days": "365",
        "tags": "web, eu-customers",
    }
    data.update(overrides)
    return data


def json_script(response, element_id: str):
    """The value a page passed to its scripts with the json_script filter."""
    content = response.content.decode()
    match = re.search(
        rf'<script id="{element_id}" type="application/json">(.*?)</script>', content, re.S
    )
    assert match, f"no json_script #{element_id} on the page"
    return json.loads(unescape(match.group(1)))


def page_urls(slug: str) -> list[str]:
    return [
        reverse("catalog:dataset-list"),
        reverse("catalog:data-map"),
        reverse("catalog:dataset-create"),
        reverse("catalog:dataset-detail", args=[slug]),
        reverse("catalog:dataset-edit", args=[slug]),
        reverse("catalog:dataset-delete", args=[slug]),
    ]


# --- access per role ------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(client, owner, register):
    dataset = register(owner)
    for url in page_urls(dataset.slug):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login") + "?next="), url


def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password"' in response.content


def test_a_user_without_a_role_gets_403(client, no_role, owner, register):
    dataset = register(owner)
    signed_in(client, no_role)
    for url in page_urls(dataset.slug):
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize(
    "role", ["privacy_officer", "executive", "data_owner", "engineer", "auditor"]
)
def test_every_role_reads_the_list_the_detail_and_the_map(client, role, owner, register):
    dataset = register(owner)
    signed_in(client, make_user("reader", role))
    urls = page_urls(dataset.slug)
    for url in [urls[0], urls[1], urls[3]]:  # list, map, detail
        assert client.get(url).status_code == 200, url


def test_home_sends_each_role_to_its_landing(client, executive):
    response = signed_in(client, executive).get("/")
    assert response.status_code == 302
    assert response.url == reverse("monitoring:home")


def _menus(page) -> dict[str, list[str]]:
    return {g.label: [item.label for item in g.items] for g in page.context["nav_groups"]}


def test_navigation_follows_the_role(client, owner, executive, officer):
    signed_in(client, owner)
    page = client.get(reverse("catalog:dataset-list"))
    menus = _menus(page)
    # Menus in order, each with only what the role uses.
    assert list(menus) == ["Catalog", "Governance", "Workflows", "Monitoring"]
    assert menus["Catalog"] == ["Datasets", "Data map", "New dataset", "Glossary"]
    assert menus["Governance"] == [*POLICY_NAV, "Access reviews"]
    assert {"Transfer exceptions", "My subject tasks"} <= set(menus["Workflows"])
    assert menus["Monitoring"] == ["My datasets' risk"]
    assert "Exceptions to review" not in menus["Workflows"]
    assert page.context["user_roles"] == ["Data owner"]
    content = page.content.decode()
    assert re.search(
        r'<form class="logout-form" method="post" action="/accounts/logout/">', content
    )
    assert "csrfmiddlewaretoken" in content
    assert '<summary class="nav-current">Catalog</summary>' in content

    signed_in(client, executive)
    menus = _menus(client.get(reverse("catalog:data-map")))
    assert menus["Catalog"] == ["Datasets", "Data map", "Glossary"]
    assert menus["Governance"] == [*POLICY_NAV, "Decision log"]
    assert "Transfer register" in menus["Workflows"] and "Risk" in menus["Monitoring"]
    assert "My subject tasks" not in menus["Workflows"]

    officer.is_staff = True
    officer.save()
    signed_in(client, officer)
    menus = _menus(client.get(reverse("catalog:dataset-list")))
    assert menus["Governance"] == [
        *POLICY_NAV,
        "Decision log",
        "Evidence for auditors",
        "Access reviews",
    ]
    assert "Exceptions to review" in menus["Workflows"]
    assert "Incident queue" in menus["Monitoring"]
    assert list(menus)[-1] == "Admin" and menus["Admin"] == ["Django admin"]


def test_no_two_navigation_items_lead_to_the_same_kind_of_page(client, officer, auditor):
    """No near-duplicates: each item its own page and label; the decision log is the only
    "decision" item, and the grants in force are a view of the one "Grants" item."""
    for user in (officer, auditor):
        signed_in(client, user)
        items = client.get(reverse("catalog:dataset-list")).context["nav_items"]
        labels = [item.label for item in items]
        assert len(labels) == len(set(labels))
        assert len({item.url for item in items}) == len(items)
        assert [label for label in labels if "decision" in label.lower()] == ["Decision log"]
        assert [label for label in labels if "grant" in label.lower()] == ["Grants"]


def test_logout_is_a_post(client, owner):
    signed_in(client, owner)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("catalog:dataset-list")).status_code == 302


# --- create ---------------------------------------------------------------------------------


def test_a_data_owner_registers_a_dataset_as_themselves(client, owner, eu_region):
    signed_in(client, owner)
    form_page = client.get(reverse("catalog:dataset-create"))
    assert form_page.status_code == 200
    assert "owner" not in form_page.context["form"].fields

    categories = PersonalDataCategory.objects.order_by("code")[:2]
    data = form_data(eu_region, personal_data_categories=[c.pk for c in categories])
    response = client.post(reverse("catalog:dataset-create"), data)

    assert response.status_code == 302
    assert response.url == reverse("catalog:dataset-detail", args=["customer-events"])
    dataset = Dataset.objects.get(slug="customer-events")
    assert dataset.owner == owner
    assert dataset.jurisdiction == eu_region.jurisdiction  # blank: the region's own
    assert sorted(t.name for t in dataset.tags.all()) == ["eu-customers", "web"]
    assert set(dataset.personal_data_categories.all()) == set(categories)
    assert DatasetChange.objects.get(dataset_slug="customer-events").version == 1


def test_a_data_owner_cannot_register_a_dataset_for_someone_else(
    client, owner, other_owner, eu_region
):
    signed_in(client, owner)
    client.post(reverse("catalog:dataset-create"), form_data(eu_region, owner=str(other_owner.pk)))
    assert Dataset.objects.get(slug="customer-events").owner == owner


def test_a_privacy_officer_may_name_the_owner(client, officer, other_owner, eu_region):
    signed_in(client, officer)
    assert "owner" in client.get(reverse("catalog:dataset-create")).context["form"].fields
    response = client.post(
        reverse("catalog:dataset-create"), form_data(eu_region, owner=str(other_owner.pk))
    )
    assert response.status_code == 302
    dataset = Dataset.objects.get(slug="customer-events")
    assert dataset.owner == other_owner
    assert services.can_change_dataset(other_owner, dataset)


@pytest.mark.parametrize("role", ["executive", "engineer", "auditor"])
def test_read_only_roles_may_not_register(client, role, eu_region):
    signed_in(client, make_user("reader", role))
    assert client.get(reverse("catalog:dataset-create")).status_code == 403
    assert client.post(reverse("catalog:dataset-create"), form_data(eu_region)).status_code == 403
    assert not Dataset.objects.exists()


def _posted_with_error(client, data, field: str, message: str):
    response = client.post(reverse("catalog:dataset-create"), data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert any(message in error for error in errors[field]), errors[field]
    assert message in unescape(response.content.decode())
    return response


def test_an_unknown_region_is_refused_next_to_its_field(client, owner, eu_region):
    signed_in(client, owner)
    data = form_data(eu_region, storage_region="999999")
    _posted_with_error(client, data, "storage_region", "Select a valid choice")
    assert not Dataset.objects.exists()


def test_a_jurisdiction_that_does_not_cover_the_region_is_refused(
    client, owner, eu_region, us_region
):
    signed_in(client, owner)
    data = form_data(eu_region, jurisdiction=us_region.jurisdiction_id)
    message = f"{us_region.jurisdiction_id} does not cover IE"
    _posted_with_error(client, data, "jurisdiction", message)
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("retention", ["0", "-30"])
def test_a_retention_below_one_day_is_refused(client, owner, eu_region, retention):
    signed_in(client, owner)
    data = form_data(eu_region, retention_days=retention)
    _posted_with_error(client, data, "retention_days", "greater than or equal to 1")


def test_a_duplicate_slug_is_refused(client, owner, eu_region, register):
    register(owner, slug="customer-events")
    signed_in(client, owner)
    _posted_with_error(client, form_data(eu_region), "slug", "already exists")
    assert Dataset.objects.filter(slug="customer-events").count() == 1


def test_slugs_taken_by_pages_are_refused(client, owner, eu_region):
    signed_in(client, owner)
    _posted_with_error(client, form_data(eu_region, slug="map"), "slug", "reserved")


def test_a_tag_that_is_not_a_slug_is_refused(client, owner, eu_region):
    signed_in(client, owner)
    _posted_with_error(client, form_data(eu_region, tags="ok, not ok"), "tags", "not a slug")


def test_missing_required_fields_are_refused(client, owner):
    signed_in(client, owner)
    response = client.post(reverse("catalog:dataset-create"), {})
    assert response.status_code == 400
    assert {"name", "slug", "storage_region", "sensitivity", "retention_days"} <= set(
        response.context["form"].errors
    )


# --- edit and delete ------------------------------------------------------------------------


def test_a_data_owner_edits_their_own_dataset(client, owner, register, us_region):
    dataset = register(owner, slug="events", tags=["web"])
    signed_in(client, owner)
    edit_url = reverse("catalog:dataset-edit", args=["events"])
    form_page = client.get(edit_url)
    assert form_page.status_code == 200
    assert form_page.context["form"]["tags"].value() == "web"
    assert "slug" not in form_page.context["form"].fields

    response = client.post(
        edit_url, form_data(us_region, name="Events", sensitivity="restricted", tags="web, us")
    )

    assert response.status_code == 302
    dataset.refresh_from_db()
    assert (dataset.name, dataset.sensitivity) == ("Events", "restricted")
    assert dataset.storage_region == us_region
    assert dataset.jurisdiction == us_region.jurisdiction  # blank: follows the new region
    assert dataset.owner == owner


def test_editing_with_a_mismatched_jurisdiction_is_refused(
    client, owner, register, eu_region, us_region
):
    register(owner, slug="events")
    signed_in(client, owner)
    response = client.post(
        reverse("catalog:dataset-edit", args=["events"]),
        form_data(eu_region, jurisdiction=us_region.jurisdiction_id),
    )
    assert response.status_code == 400
    assert "does not cover" in response.context["form"].errors["jurisdiction"][0]
    assert Dataset.objects.get(slug="events").jurisdiction == eu_region.jurisdiction


def test_another_owners_dataset_cannot_be_edited_or_deleted(
    client, owner, other_owner, register, eu_region
):
    dataset = register(other_owner, slug="theirs")
    signed_in(client, owner)
    edit_url = reverse("catalog:dataset-edit", args=["theirs"])
    assert client.get(edit_url).status_code == 403
    assert client.post(edit_url, form_data(eu_region, name="Mine now")).status_code == 403
    delete_url = reverse("catalog:dataset-delete", args=["theirs"])
    assert client.get(delete_url).status_code == 403
    assert client.post(delete_url).status_code == 403
    dataset.refresh_from_db()
    assert dataset.name != "Mine now"

    detail = client.get(reverse("catalog:dataset-detail", args=["theirs"]))
    assert edit_url not in detail.content.decode()
    assert not detail.context["can_change"]


def test_an_executive_sees_no_edit_button_and_may_not_edit(
    client, executive, owner, register, eu_region
):
    register(owner, slug="events")
    signed_in(client, executive)
    detail = client.get(reverse("catalog:dataset-detail", args=["events"]))
    content = detail.content.decode()
    assert detail.status_code == 200
    assert reverse("catalog:dataset-edit", args=["events"]) not in content
    assert reverse("catalog:dataset-delete", args=["events"]) not in content
    assert client.get(reverse("catalog:dataset-edit", args=["events"])).status_code == 403
    response = client.post(reverse("catalog:dataset-edit", args=["events"]), form_data(eu_region))
    assert response.status_code == 403


def test_the_owner_sees_edit_and_delete_buttons(client, owner, register):
    register(owner, slug="events")
    content = signed_in(client, owner).get(reverse("catalog:dataset-detail", args=["events"]))
    assert reverse("catalog:dataset-edit", args=["events"]) in content.content.decode()
    assert reverse("catalog:dataset-delete", args=["events"]) in content.content.decode()


def test_a_privacy_officer_edits_anyones_dataset(client, officer, owner, register, eu_region):
    register(owner, slug="events")
    signed_in(client, officer)
    response = client.post(
        reverse("catalog:dataset-edit", args=["events"]),
        form_data(eu_region, owner=str(owner.pk), name="Renamed"),
    )
    assert response.status_code == 302
    assert Dataset.objects.get(slug="events").name == "Renamed"


def test_delete_asks_then_removes_and_keeps_the_history(client, owner, register):
    register(owner, slug="events")
    signed_in(client, owner)
    delete_url = reverse("catalog:dataset-delete", args=["events"])
    confirm = client.get(delete_url)
    assert confirm.status_code == 200
    assert b'method="post"' in confirm.content
    assert Dataset.objects.filter(slug="events").exists()

    response = client.post(delete_url)

    assert response.status_code == 302
    assert response.url == reverse("catalog:dataset-list")
    assert not Dataset.objects.filter(slug="events").exists()
    actions = list(
        DatasetChange.objects.filter(dataset_slug="events").values_list("action", flat=True)
    )
    assert sorted(actions) == ["created", "deleted"]
    assert client.get(reverse("catalog:dataset-detail", args=["events"])).status_code == 404


# --- detail: lineage and history -----------------------------------------------------------


def test_detail_shows_lineage_with_transformations(client, owner, register):
    raw = register(owner, slug="raw", name="Raw events")
    clean = register(owner, slug="clean", name="Clean events")
    features = register(owner, slug="features", name="Features")
    services.lineage_edge_create(
        actor=owner, upstream=raw, downstream=clean, transformation="dedupe"
    )
    services.lineage_edge_create(
        actor=owner, upstream=clean, downstream=features, transformation="aggregate daily"
    )
    response = signed_in(client, owner).get(reverse("catalog:dataset-detail", args=["clean"]))

    [upstream] = response.context["upstream"]
    [downstream] = response.context["downstream"]
    assert (upstream["upstream"]["slug"], upstream["transformation"]) == ("raw", "dedupe")
    assert (downstream["downstream"]["slug"], downstream["transformation"]) == (
        "features",
        "aggregate daily",
    )
    content = response.content.decode()
    assert reverse("catalog:dataset-detail", args=["raw"]) in content
    assert reverse("catalog:dataset-detail", args=["features"]) in content
    assert "aggregate daily" in content


def test_history_shows_each_changed_field_before_and_after(client, owner, register):
    dataset = register(
        owner, slug="events", sensitivity="internal", retention_days=30, tags=["web"]
    )
    services.dataset_update(
        actor=owner,
        dataset=dataset,
        sensitivity="restricted",
        retention_days=400,
        tags=["web", "ml"],
    )
    response = signed_in(client, owner).get(reverse("catalog:dataset-detail", args=["events"]))

    latest, first = response.context["history"]
    assert latest["change"].version == 2
    assert first["created"]
    changes = {field["label"]: (field["before"], field["after"]) for field in latest["fields"]}
    assert changes == {
        "retention days": ("30", "400"),
        "sensitivity": ("internal", "restricted"),
        "tags": ("web", "ml, web"),
    }
    content = response.content.decode()
    assert re.search(r'class="before">internal</td>\s*<td class="after">.*?→.*?restricted', content)
    assert "Olga Owner" in content  # who made the change


# --- list -----------------------------------------------------------------------------------


def test_list_shows_the_columns_and_filters(client, owner, register, us_region):
    contact = PersonalDataCategory.objects.get(code="contact")
    register(owner, slug="eu-data", name="EU data", personal_data_categories=[contact])
    register(
        owner, slug="us-data", name="US data", storage_region=us_region, sensitivity="restricted"
    )
    signed_in(client, owner)

    page = client.get(reverse("catalog:dataset-list"))
    content = page.content.decode()
    assert [d.slug for d in page.context["page"].object_list] == ["eu-data", "us-data"]
    for text in ("EU data", "aws:eu-west-1", "IE", "badge-restricted", "olga", contact.name):
        assert text in content

    filtered = client.get(reverse("catalog:dataset-list"), {"sensitivity": "restricted"})
    assert [d.slug for d in filtered.context["page"].object_list] == ["us-data"]
    by_country = client.get(reverse("catalog:dataset-list"), {"country": "IE"})
    assert [d.slug for d in by_country.context["page"].object_list] == ["eu-data"]
    by_text = client.get(reverse("catalog:dataset-list"), {"q": "US data"})
    assert [d.slug for d in by_text.context["page"].object_list] == ["us-data"]


def test_list_paginates_by_fifty(client, owner, register):
    for _ in range(51):
        register(owner)
    signed_in(client, owner)
    first = client.get(reverse("catalog:dataset-list"))
    assert len(first.context["page"].object_list) == 50
    second = client.get(reverse("catalog:dataset-list"), {"page": 2})
    assert len(second.context["page"].object_list) == 1


def _list_queries(client) -> int:
    """The page's queries with the person's permissions already cached (test_auth_cache.py
    counts the cold and warm cache)."""
    client.get(reverse("catalog:dataset-list"))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("catalog:dataset-list"))
    assert response.status_code == 200
    return len(queries)


def test_list_query_count_does_not_grow_with_the_page(
    client, owner, other_owner, register, us_region
):
    categories = list(PersonalDataCategory.objects.all()[:2])

    def add(count: int) -> None:
        for number in range(count):
            place = {"storage_region": us_region} if number % 3 else {}
            register(
                owner if number % 2 else other_owner,
                steward=owner,
                personal_data_categories=categories,
                subject_jurisdictions=[us_region.jurisdiction],
                allowed_processing_regions=[us_region],
                tags=[f"tag-{number}", "shared"],
                **place,
            )

    signed_in(client, owner)
    add(5)
    with_five = _list_queries(client)
    add(20)
    with_twenty_five = _list_queries(client)
    assert with_five == with_twenty_five


# --- data map -------------------------------------------------------------------------------


def test_the_map_carries_the_figure_with_the_right_counts(client, owner, register, us_region):
    register(owner, sensitivity="restricted")
    register(owner, sensitivity="internal")
    register(owner, sensitivity="internal")
    register(owner, sensitivity="public", storage_region=us_region)
    signed_in(client, owner)

    response = client.get(reverse("catalog:data-map"))

    assert response.status_code == 200
    figure = json_script(response, "data-map-figure")
    traces = {trace["name"]: trace for trace in figure["data"]}
    totals = traces["All datasets"]
    assert dict(zip(totals["locations"], totals["z"], strict=True)) == {"IRL": 3, "USA": 1}
    assert traces["Internal"]["customdata"] == [2]
    assert traces["Restricted"]["customdata"] == [1]
    assert traces["Public"]["customdata"] == [1]
    assert traces["Confidential"]["customdata"] == []
    assert "Ireland: 3 datasets (1 restricted, 2 internal)" in traces["Internal"]["text"]
    assert "United States: 1 dataset (1 public)" in traces["Public"]["text"]

    table = {row["country"]: (row["total"], row["counts"]) for row in response.context["table"]}
    assert table == {"IE": (3, [0, 2, 0, 1]), "US": (1, [1, 0, 0, 0])}
    content = response.content.decode()
    assert 'id="data-map-table"' in content
    assert "plotly/plotly.min.js" in content and "catalog/datamap.js" in content
    assert "<script>" not in content  # no inline scripts: data goes through json_script


def test_the_map_applies_the_lists_filters(client, owner, register, us_region):
    register(owner, sensitivity="restricted")
    register(owner, sensitivity="internal", storage_region=us_region)
    signed_in(client, owner)
    response = client.get(reverse("catalog:data-map"), {"sensitivity": "restricted"})
    figure = json_script(response, "data-map-figure")
    totals = next(trace for trace in figure["data"] if trace["type"] == "choropleth")
    assert totals["locations"] == ["IRL"]
    assert [row["country"] for row in response.context["table"]] == ["IE"]


def test_data_map_figure_is_a_pure_function_of_the_rows():
    rows = [
        {
            "country": "DE",
            "iso3": "DEU",
            "name": "Germany",
            "latitude": 51.0,
            "longitude": 10.0,
            "total": 5,
            "by_sensitivity": {"public": 0, "internal": 1, "confidential": 0, "restricted": 4},
            "highest_sensitivity": "restricted",
        }
    ]
    figure = dashboards.data_map_figure(rows)
    json.dumps(figure)  # JSON-able as it is
    restricted = next(trace for trace in figure["data"] if trace["name"] == "Restricted")
    internal = next(trace for trace in figure["data"] if trace["name"] == "Internal")
    assert restricted["type"] == "scattergeo"
    assert restricted["marker"]["size"][0] > internal["marker"]["size"][0]
    assert restricted["text"] == ["Germany: 5 datasets (4 restricted, 1 internal)"]
    assert dashboards.data_map_figure([])["data"][0]["z"] == []
