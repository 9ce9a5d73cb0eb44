"""Fields that name one dataset offer the catalog's datasets as the person types."""

import pytest

from governance.roles import Role
from tests.browser import browser_user
from tests.factories import make_dataset
from tests.journeys.conftest import browser, live_locus, live_locus_process  # noqa: F401

SUGGEST = "/api/v1/datasets/suggest/"


@pytest.mark.django_db
def test_suggestions_put_slug_prefixes_first_and_stop_at_ten(api_client, data_owner, outsider):
    make_dataset(data_owner, slug="orders-eu", name="Customer orders (EU)")
    make_dataset(data_owner, slug="archive-orders", name="Old orders")
    for n in range(12):
        make_dataset(data_owner, slug=f"ord-{n:02d}", name=f"Ordinal {n}")
    client = api_client(data_owner)
    rows = client.get(SUGGEST, {"q": "ord"}).json()["results"]
    assert len(rows) == 10
    assert all(row["slug"].startswith("ord") for row in rows)  # prefixes first
    assert client.get(SUGGEST, {"q": "old ord"}).json()["results"] == [
        {"slug": "archive-orders", "name": "Old orders"}
    ]
    assert client.get(SUGGEST, {"q": "o"}).json()["results"] == []  # two characters at least
    assert api_client(outsider).get(SUGGEST, {"q": "ord"}).status_code == 403


def test_the_check_page_offers_datasets_as_one_types(browser):  # noqa: F811
    owner = browser_user("suggest-owner", [Role.DATA_OWNER])
    make_dataset(owner, slug="payments-eu-ledger", name="Payments ledger")
    page = browser.page_as(owner)
    page.goto("/governance/check/")
    page.fill("input[name=dataset]", "payments-eu")
    options = page.locator("datalist option")
    options.first.wait_for(state="attached")
    assert options.evaluate_all("os => os.map(o => o.value)") == ["payments-eu-ledger"]
