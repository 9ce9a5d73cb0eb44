"""Forms of the check, run and decision pages."""

from __future__ import annotations

from django import forms

from governance.checks.services import Check
from governance.forms import ANY, datetime_input, region_menu
from governance.models import (
    Action,
    LocalityDecision,
    Outcome,
    Purpose,
)


class RunFilterForm(forms.Form):
    verdict = forms.ChoiceField(choices=[("", "All"), *Outcome.choices], required=False)


class DecisionFilterForm(forms.Form):
    """The decision log's filters; a value outside the menus is an error, not an empty page."""

    outcome = forms.ChoiceField(choices=[ANY, *Outcome.choices], required=False)
    dataset = forms.SlugField(
        max_length=120,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "slug"}),
    )
    region = forms.ChoiceField(required=False)
    context = forms.ChoiceField(choices=[ANY, *LocalityDecision.Context.choices], required=False)
    run = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [ANY, *region_menu()]

    def filters(self) -> dict:
        """The chosen filters as queryset lookups."""
        lookups = {
            "outcome": "outcome",
            "dataset": "dataset_slug",
            "region": "region_code",
            "context": "context",
            "run": "training_run_id",
        }
        return {
            lookup: self.cleaned_data[name]
            for name, lookup in lookups.items()
            if self.cleaned_data.get(name) not in (None, "")
        }


# --- The locality check and the adequacy what-if -----------------------------------------------


class CheckForm(forms.Form):
    """One question to the policy engine."""

    dataset = forms.CharField(
        max_length=500,
        help_text="Its slug or URI",
        widget=forms.TextInput(
            attrs={"placeholder": "customer-profiles-aws-eu-west-1", "data-suggest": "datasets"}
        ),
    )
    action = forms.ChoiceField(choices=Action.choices, initial=Action.PROCESS)
    region = forms.ChoiceField(help_text="Where the work runs")
    purpose = forms.ChoiceField()
    at = forms.DateTimeField(
        required=False,
        label="When",
        widget=datetime_input(),
        help_text="UTC; blank: now",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", "Choose a region"), *region_menu()]
        self.fields["purpose"].choices = [
            ("", "Choose a purpose"),
            *Purpose.objects.order_by("name").values_list("code", "name"),
        ]

    def to_check(self) -> Check:
        data = self.cleaned_data
        return Check(
            data["dataset"].strip(), data["action"], data["region"], data["purpose"], data["at"]
        )
