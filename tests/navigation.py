"""The main navigation in tests: the Governance menu's items every role sees, and following a
menu in a browser (open the menu, then follow its item)."""

# The Governance menu's items every role sees, in order (the decision log and the evidence
# follow for those who read them).
POLICY_NAV = [
    "Check a transfer",
    "Past checks",
    "Rules",
    "Grants",
    "Training runs",
    "Models",
    "What-if",
    "Law by jurisdiction",
]


def follow(page, menu: str, item: str) -> None:
    """Two clicks: the menu (a <details>), then the item; or one where the menu is the item."""
    nav = page.locator("nav.main-nav")
    summary = nav.locator("summary", has_text=menu)
    if summary.count():
        summary.click()
    nav.get_by_role("link", name=item, exact=True).click()
