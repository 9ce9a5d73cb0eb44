"""A real browser (Debian's Chromium, driven by Playwright's Python API) against a live Locus.

Take `shared_browser` in a test (on the module's server) or `browser` (on a server of the test's
own, for a test that sets the server's environment): `page = browser.page_as(user)` signs that
person in through the real login form and returns the page; `browser.shot(page, "name")` saves
a screenshot under test-artifacts/journeys/. People who sign in through the form need a
password the live server can check, so make them with `browser_user()` (the suite's fast test
hasher is not the server's).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from tests.factories import UserFactory
from tests.live import (  # noqa: F401  (fixtures)
    ROOT,
    live_locus,
    live_locus_process,
    shared_live_locus,
    shared_live_locus_process,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "a journey password 2026"
ARTIFACTS = Path(os.environ.get("LOCUS_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "journeys"


def browser_user(username: str, roles: list[str] | None = None):
    """A person who signs in through the form (password hashed as the server expects)."""
    user = UserFactory(username=username, roles=roles or [])
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    return user


class Browser:
    def __init__(self, chromium, base_url: str):
        self.chromium = chromium
        self.base_url = base_url

    def page_as(self, user):
        context = self.chromium.new_context(base_url=self.base_url, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(90_000)  # a bound for a broken page, not a speed to reach
        page.goto("/accounts/login/")
        page.fill("input[name=username]", user.get_username())
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        return page

    def shot(self, page, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@contextlib.contextmanager
def _chromium(base_url: str):
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail("Browser journeys need Debian's Chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own database calls
    # are still plain synchronous ones.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield Browser(chromium, base_url)
            finally:
                chromium.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def browser(live_locus):  # noqa: F811
    """A browser on a server of the test's own (for a test that sets the server's environment)."""
    with _chromium(live_locus) as opened:
        yield opened


@pytest.fixture
def shared_browser(shared_live_locus):  # noqa: F811
    """A browser on the module's server (tests.live.shared_live_locus): the test still has a
    database of its own; only the server process is shared."""
    with _chromium(shared_live_locus) as opened:
        yield opened
