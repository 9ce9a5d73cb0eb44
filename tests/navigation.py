"""Following the main navigation in a browser: open the menu, then follow its item."""


def follow(page, menu: str, item: str) -> None:
    """Two clicks: the menu (a <details>), then the item; or one where the menu is the item."""
    nav = page.locator("nav.main-nav")
    summary = nav.locator("summary", has_text=menu)
    if summary.count():
        summary.click()
    nav.get_by_role("link", name=item, exact=True).click()
