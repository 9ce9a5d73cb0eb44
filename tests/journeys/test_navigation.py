"""The main navigation on a phone: each role sees its own menus, the header leaves the screen
to the page, and every item is two taps away (the menu, then the item)."""

from urllib.parse import urlparse

import pytest

from governance.roles import Role
from tests.browser import browser_user
from tests.navigation import follow

PHONE = {"width": 390, "height": 844}
MENUS_JS = """() => Array.from(document.querySelectorAll('nav.main-nav .nav-groups > li')).flatMap(li => {
  const summary = li.querySelector('summary');
  const menu = summary ? summary.textContent.trim() : '';
  return Array.from(li.querySelectorAll('a')).map(a => [menu, a.textContent.trim(), a.pathname]);
})"""


# What each role's menus must hold and must not: an owner has her tasks, an executive the
# register, an officer the exceptions to review, not the reverse.
MUST_SEE = {
    "data_owner": {"My subject tasks"},
    "executive": {"Transfer register"},
    "privacy_officer": {"Exceptions to review"},
}
MUST_NOT_SEE = {"executive": {"My subject tasks"}, "engineer": {"Exceptions to review"}}


@pytest.mark.parametrize("role", Role.values)
def test_every_menu_item_of_each_role_is_two_taps_away_on_a_phone(shared_browser, role):
    browser = shared_browser
    page = browser.page_as(browser_user(f"nav-{role}", [role]))
    page.set_viewport_size(PHONE)
    page.goto("/catalog/")
    header = page.locator("header.site-header").bounding_box()
    assert header["height"] <= PHONE["height"] / 3, f"{role}: the header fills the screen"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    items = page.evaluate(MENUS_JS)
    seen = {label for _, label, _ in items}
    assert MUST_SEE.get(role, set()) <= seen, seen
    assert not MUST_NOT_SEE.get(role, set()) & seen, seen
    for menu, label, path in items:
        follow(page, menu or label, label)
        page.wait_for_url(lambda url, path=path: urlparse(url).path == path)
        assert page.locator("h1").count(), f"{role}: {label} has no heading"
        assert "Forbidden" not in page.title() and "Not found" not in page.title()
    if role == "privacy_officer":
        browser.shot(page, "navigation-phone-officer")
    page.context.close()
