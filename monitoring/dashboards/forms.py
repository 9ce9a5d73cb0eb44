"""The dashboards' filters."""

from __future__ import annotations

from django import forms

from monitoring.dashboards.selectors import Filters

PERIODS = [(7, "Last 7 days"), (30, "Last 30 days"), (90, "Last 90 days"), (365, "Last year")]


class DashboardFilterForm(forms.Form):
    """Period and storage jurisdiction; bad values fall back to the defaults (30 days, all)."""

    days = forms.TypedChoiceField(
        choices=PERIODS, coerce=int, required=False, initial=30, label="Period"
    )
    jurisdiction = forms.ChoiceField(required=False, label="Jurisdiction")

    def __init__(self, *args, jurisdictions: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["jurisdiction"]
        assert isinstance(field, forms.ChoiceField)  # declared above; `fields` holds any Field
        field.choices = [("", "All jurisdictions"), *jurisdictions]

    def filters(self) -> Filters:
        data = self.cleaned_data if self.is_valid() else {}
        return Filters.last_days(data.get("days") or 30, data.get("jurisdiction") or "")
