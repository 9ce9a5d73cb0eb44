"""An officer with a flood of notifications: she narrows them to the critical incidents, marks
those read (the header's count follows), and turns low incidents off in her preferences; on a
laptop and on a phone the page fits the screen."""

from governance.models import Notification
from governance.notifications.preferences import preferences_of
from governance.notifications.services import notify_many
from governance.roles import Role
from tests.browser import browser_user

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def test_an_officer_narrows_marks_read_and_turns_off(browser):
    officer = browser_user("nora-officer", [Role.PRIVACY_OFFICER])
    severities = ["critical", "low", "low", "medium"]
    notify_many(
        [
            (
                [officer],
                "monitoring.incident_opened",
                f"Incident #{i}: health-claims reached aws:us-west-2",
                f"[{severities[i % 4]}] health-claims reached aws:us-west-2 against policy",
                "/monitoring/",
            )
            for i in range(120)
        ]
    )
    page = browser.page_as(officer)
    page.set_viewport_size(LAPTOP)
    page.goto("/governance/notifications/")
    assert page.locator(".notifications-link .badge").inner_text() == "120"
    assert page.locator("text=Page 1 of 3").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]
    browser.shot(page, "notifications-laptop")

    page.select_option("select[name=severity]", "critical")
    page.click("text=Apply filters")
    page.wait_for_url("**severity=critical**")
    assert page.locator(".notification-list li").count() == 30
    page.click("button:has-text('Mark these 30 read')")
    page.wait_for_url("**severity=critical**")
    assert page.locator(".notifications-link .badge").inner_text() == "90"
    assert not Notification.objects.filter(severity="critical", read_at__isnull=True).exists()

    page.set_viewport_size(PHONE)
    page.goto("/governance/notifications/?topic=incident")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    browser.shot(page, "notifications-phone")

    page.set_viewport_size(LAPTOP)
    page.click("text=Choose what reaches you")
    page.select_option("select[name=incident__low]", "off")
    browser.shot(page, "notification-preferences")
    page.click("text=Save preferences")
    page.wait_for_selector("text=Your notification preferences are saved.")
    assert preferences_of(officer).delivery("incident", "low") == "off"
    page.context.close()
