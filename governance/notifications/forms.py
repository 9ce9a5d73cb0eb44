"""Forms of the notification pages: the list's filter (also what "mark all read" marks) and
each person's preferences."""

from __future__ import annotations

from typing import Any

from django import forms

from governance.models import Delivery, NotificationSeverity, NotificationTopic
from governance.notifications.preferences import CHOSEN_TOPICS, SEVERITIES, Cell, Preferences

STATUSES = [("all", "All"), ("unread", "Unread"), ("read", "Read")]


class NotificationFilterForm(forms.Form):
    """Which notifications to show (or mark read): a topic, a severity, read or unread."""

    topic = forms.ChoiceField(
        choices=[("", "Every kind"), *NotificationTopic.choices], required=False, label="Kind"
    )
    severity = forms.ChoiceField(
        choices=[("", "Every severity"), *reversed(NotificationSeverity.choices)], required=False
    )
    status = forms.ChoiceField(choices=STATUSES, required=False)

    def chosen(self) -> dict[str, str]:
        """The valid filter, with "all" for no status."""
        data = self.cleaned_data
        return {
            "topic": data.get("topic") or "",
            "severity": data.get("severity") or "",
            "status": data.get("status") or "all",
        }


def cell_field(topic: str, severity: str) -> str:
    """The form field of one topic and severity."""
    return f"{topic}__{severity}"


class PreferencesForm(forms.Form):
    """Every topic and severity's delivery, and the daily digest's hour."""

    daily_digest_hour = forms.IntegerField(
        min_value=0, max_value=23, label="Daily digest at (hour, UTC)"
    )

    def __init__(self, *args: Any, preferences: Preferences, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.defaults = {(c.topic, c.severity): c.default for c in preferences.cells}
        self.fields["daily_digest_hour"].initial = preferences.daily_digest_hour
        for cell in preferences.cells:
            self.fields[cell_field(cell.topic, cell.severity)] = forms.ChoiceField(
                choices=Delivery.choices,
                initial=cell.delivery,
                label=f"{NotificationTopic(cell.topic).label}, {cell.severity}",
            )

    def grid(self) -> list[tuple[str, list[tuple[str, forms.BoundField, str]]]]:
        """Rows of the page's table: a topic, then each severity's field and default."""
        return [
            (
                NotificationTopic(topic).label,
                [
                    (
                        severity,
                        self[cell_field(topic, severity)],
                        Delivery(self.defaults[(topic, severity)]).label,
                    )
                    for severity in reversed(SEVERITIES)
                ],
            )
            for topic in CHOSEN_TOPICS
        ]

    def deliveries(self) -> dict[Cell, str]:
        """The chosen delivery of every cell."""
        return {cell: self.cleaned_data[cell_field(*cell)] for cell in self.defaults}

    def digest_hour(self) -> int | None:
        """The hour when the person changed it, else None (keeps following the default)."""
        changed = "daily_digest_hour" in self.changed_data
        return self.cleaned_data["daily_digest_hour"] if changed else None
