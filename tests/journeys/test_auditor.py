"""Journeys in a real browser: the auditor's evidence export, and what each role may reach."""

import json
import subprocess
import sys
import zipfile

import pytest

from governance.ledger.export import checkpoint_create
from governance.roles import Role
from tests.browser import browser_user
from tests.factories import make_dataset
from tests.navigation import follow

pytestmark = pytest.mark.live


def test_an_auditor_exports_evidence_and_the_offline_verifier_passes(
    shared_browser,
    tmp_path,
):
    browser = shared_browser
    auditor = browser_user("aude-auditor", [Role.AUDITOR])
    make_dataset(slug="journey-clicks")  # catalog changes go on the ledger
    checkpoint_create()
    page = browser.page_as(auditor)
    # The key to trust, as the auditor would take it from Locus and publish it elsewhere.
    follow(page, "Governance", "Decision log")
    page.get_by_role("link", name="Checkpoints").first.click()
    public_key = page.locator("[data-public-key]").inner_text().strip()
    follow(page, "Governance", "Evidence for auditors")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the evidence package").click()
    package = tmp_path / "evidence.zip"
    download.value.save_as(package)
    with zipfile.ZipFile(package) as archive:
        archive.extractall(tmp_path / "evidence")
    root = next(p.parent for p in (tmp_path / "evidence").rglob("ledger.jsonl"))
    # The verifier shipped in the package, run as an auditor would: its own folder, no Locus.
    verified = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            "import sys; sys.path.insert(0, 'verifier');"
            "from governance.ledger.verify import main; sys.exit(main(sys.argv[1:]))",
            "ledger.jsonl",
            "--checkpoint",
            "checkpoints.json",
            "--trusted-key",
            public_key,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] is True
    assert report["entries"] >= 1
    assert "dataset:journey-clicks" in (root / "ledger.jsonl").read_text()
    page.reload()
    assert "evidence" in page.content().lower()
    browser.shot(page, "auditor-evidence-verified")


@pytest.mark.parametrize(
    ("role", "sees", "does_not_see", "forbidden"),
    [
        (Role.DATA_OWNER, ["Catalog", "Glossary"], ["Decision log", "Evidence"], "evidence"),
        (Role.AUDITOR, ["Decision log", "Evidence"], ["New dataset"], "catalog/new"),
        (Role.EXECUTIVE, ["Catalog", "Decision log"], ["Evidence", "New dataset"], "evidence"),
    ],
)
def test_each_role_sees_its_navigation_and_is_refused_elsewhere(
    shared_browser,
    role,
    sees,
    does_not_see,
    forbidden,
):
    browser = shared_browser
    person = browser_user(f"journey-{role}", [role])
    page = browser.page_as(person)
    nav = page.locator("nav.main-nav").text_content()  # the closed menus' items too
    for label in sees:
        assert label in nav
    for label in does_not_see:
        assert label not in nav
    url = {"evidence": "/governance/evidence/", "catalog/new": "/catalog/new/"}[forbidden]
    answer = page.goto(url)
    assert answer.status == 403
    browser.shot(page, f"role-{role}-refused")
