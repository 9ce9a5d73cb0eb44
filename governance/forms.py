"""Forms for the governance pages: rules, grants, checks, filters and the adequacy what-if.

Forms clean what people type; governance.services make the final checks, and their
ValidationError lands on the form through catalog.forms.add_service_error.
"""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from catalog.models import Country, Dataset, Jurisdiction, PersonalDataCategory, Region, Sensitivity
from governance import services
from governance.models import (
    Action,
    LocalityDecision,
    LocalityRule,
    Outcome,
    Purpose,
    TransferMechanism,
)
from governance.policy.facts import RuleFacts
from governance.policy.index import load_rules, rule_facts

MAX_PRIORITY = 1_000_000  # well inside a 32-bit integer column on every database
MAX_GRANT_DATASETS = 1000
DATETIME_INPUT = {"type": "datetime-local"}
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
ANY = ("", "Any")


def _region_label(region: Region) -> str:
    return f"{region.code} ({region.country.name})"


def _regions():
    return Region.objects.select_related("country").order_by("code")


def _region_menu() -> list[tuple[str, str]]:
    return [(r.code, _region_label(r)) for r in _regions()]


def _datetime_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs=DATETIME_INPUT, format=DATETIME_FORMAT)


class RegionChoiceField(forms.ModelMultipleChoiceField):
    """Regions by code, as a list of checkboxes."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.CheckboxSelectMultiple)
        super().__init__(queryset=_regions(), to_field_name="code", **kwargs)

    def label_from_instance(self, obj: Region) -> str:
        return _region_label(obj)


# --- Locality rules -------------------------------------------------------------------------


class LocalityRuleForm(forms.ModelForm):
    """A locality rule as a privacy officer writes it; rule_create / rule_update decide."""

    effect = forms.ChoiceField(choices=LocalityRule.Effect.choices, widget=forms.RadioSelect)
    sensitivity = forms.ChoiceField(
        choices=[("", "Any sensitivity"), *Sensitivity.choices], required=False
    )
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.all(),
        to_field_name="slug",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "a dataset's slug, e.g. customer-profiles"}),
        error_messages={"invalid_choice": "No dataset has the slug %(value)s"},
        help_text="Blank: every dataset that matches the other conditions",
    )
    actions = forms.MultipleChoiceField(
        choices=Action.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every action",
    )
    regions = RegionChoiceField(required=False)
    countries = forms.ModelMultipleChoiceField(
        queryset=Country.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    priority = forms.IntegerField(
        min_value=-MAX_PRIORITY,
        max_value=MAX_PRIORITY,
        initial=100,
        help_text="Higher is considered first; two rules at one priority may not contradict",
    )

    class Meta:
        model = LocalityRule
        fields = [
            "name",
            "description",
            "jurisdiction",
            "sensitivity",
            "category",
            "dataset",
            "actions",
            "effect",
            "regions",
            "countries",
            "priority",
            "enabled",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        help_texts = {"enabled": "Disabled rules are kept but not applied"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["jurisdiction"].empty_label = "Any jurisdiction"
        self.fields["jurisdiction"].queryset = Jurisdiction.objects.order_by("name")
        self.fields["category"].empty_label = "Any category"
        self.fields["category"].queryset = PersonalDataCategory.objects.order_by("name")
        self.fields["category"].label = "Personal data category"
        self.fields["regions"].help_text = "The places the effect speaks about"
        self.fields["countries"].help_text = "Every region in a ticked country is covered"
        if self.instance.dataset_id and not self.is_bound:
            self.initial["dataset"] = self.instance.dataset.slug

    def clean(self):
        cleaned = super().clean()
        places_valid = "regions" not in self.errors and "countries" not in self.errors
        if places_valid and not cleaned.get("regions") and not cleaned.get("countries"):
            self.add_error("regions", "Name at least one region or country")
        return cleaned

    def service_fields(self) -> dict:
        """The cleaned rule as keyword arguments for rule_create / rule_update."""
        fields = {name: self.cleaned_data[name] for name in self.Meta.fields}
        fields["regions"] = list(fields["regions"])
        fields["countries"] = list(fields["countries"])
        return fields

    def proposal(self) -> RuleFacts:
        """The rule as the engine would see it once saved (id 0 for a new one)."""
        return rule_facts(
            self.instance,
            [r.code for r in self.cleaned_data["regions"]],
            [c.code for c in self.cleaned_data["countries"]],
        )

    def proposed_rules(self) -> list[RuleFacts]:
        """The enabled rules as they would be: the current ones, this one replaced by the proposal."""
        rules = [r for r in load_rules() if r.id != self.instance.pk]
        if self.cleaned_data["enabled"]:
            rules.append(self.proposal())
        return rules

    def conflicts(self) -> list[RuleFacts]:
        """Enabled rules the proposal would contradict (saving it would be refused)."""
        if not self.cleaned_data["enabled"]:
            return []
        return services.rule_conflicts(self.proposal(), load_rules())


# --- Transfer grants ------------------------------------------------------------------------


class DatasetListField(forms.CharField):
    """Dataset slugs separated by commas, spaces or new lines → the datasets, in that order."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "customer-profiles-aws-eu-west-1"})

    def clean(self, value) -> list[Dataset]:
        text = super().clean(value)
        slugs = list(dict.fromkeys(part for part in re.split(r"[\s,]+", text or "") if part))
        if not slugs:
            if self.required:
                raise ValidationError(self.error_messages["required"], code="required")
            return []
        if len(slugs) > MAX_GRANT_DATASETS:
            raise ValidationError(f"At most {MAX_GRANT_DATASETS} datasets, got {len(slugs)}")
        found = {ds.slug: ds for ds in Dataset.objects.filter(slug__in=slugs)}
        unknown = [slug for slug in slugs if slug not in found]
        if unknown:
            shown = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
            raise ValidationError(f"No dataset has the slug: {shown}")
        return [found[slug] for slug in slugs]


class TransferGrantForm(forms.Form):
    """A transfer grant as a privacy officer records it; grant_create decides."""

    datasets = DatasetListField(help_text="Slugs, separated by commas, spaces or new lines")
    destination_regions = RegionChoiceField(label="Destination regions")
    purpose = forms.ModelChoiceField(
        queryset=Purpose.objects.order_by("name"), required=False, empty_label="Any purpose"
    )
    mechanism = forms.ChoiceField(choices=TransferMechanism.choices)
    mechanism_detail = forms.CharField(
        max_length=200, required=False, help_text="e.g. SCC module 2, or which Art. 49 derogation"
    )
    valid_from = forms.DateTimeField(widget=_datetime_input(), help_text="UTC")
    valid_until = forms.DateTimeField(widget=_datetime_input(), help_text="UTC")
    reference = forms.CharField(
        max_length=100, required=False, help_text="The exception request it comes from"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        now = timezone.now().replace(second=0, microsecond=0)
        self.fields["valid_from"].initial = now
        self.fields["valid_until"].initial = now + dt.timedelta(days=90)

    def service_fields(self) -> dict:
        return dict(self.cleaned_data)


class RevokeForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept with the grant and shown to everyone who reads it",
    )


GRANT_STATUSES = [
    ("active", "Active"),
    ("upcoming", "Upcoming"),
    ("expired", "Expired"),
    ("revoked", "Revoked"),
    ("all", "All"),
]


class GrantStatusForm(forms.Form):
    status = forms.ChoiceField(choices=GRANT_STATUSES, required=False)

    def chosen(self) -> str:
        return self.cleaned_data.get("status") or "active"


# --- Training runs and decisions --------------------------------------------------------------


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
        self.fields["region"].choices = [ANY, *_region_menu()]

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
        widget=forms.TextInput(attrs={"placeholder": "customer-profiles-aws-eu-west-1"}),
    )
    action = forms.ChoiceField(choices=Action.choices, initial=Action.PROCESS)
    region = forms.ChoiceField(help_text="Where the work runs")
    purpose = forms.ChoiceField()
    at = forms.DateTimeField(
        required=False,
        label="When",
        widget=_datetime_input(),
        help_text="UTC; blank: now",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", "Choose a region"), *_region_menu()]
        self.fields["purpose"].choices = [
            ("", "Choose a purpose"),
            *Purpose.objects.order_by("name").values_list("code", "name"),
        ]

    def to_check(self) -> services.Check:
        data = self.cleaned_data
        return services.Check(
            data["dataset"].strip(), data["action"], data["region"], data["purpose"], data["at"]
        )


def tomorrow() -> dt.date:
    return timezone.now().date() + dt.timedelta(days=1)


class AdequacyWhatIfForm(forms.Form):
    """If this adequacy decision ended on that day, what would be affected?"""

    decided_by = forms.ModelChoiceField(
        queryset=Jurisdiction.objects.filter(adequacy_decisions__isnull=False)
        .distinct()
        .order_by("name"),
        empty_label=None,
        initial="eu",
        label="Decided by",
        help_text="The law whose adequacy decision falls",
    )
    country = forms.ModelChoiceField(
        queryset=Country.objects.order_by("name"),
        empty_label="Choose a country",
        help_text="The country found adequate",
    )
    falls_on = forms.DateField(
        required=False,
        label="Falls on",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Blank: tomorrow",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["falls_on"].initial = tomorrow()

    def selector_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "decided_by": data["decided_by"].code,
            "country": data["country"].code,
            "falls_on": data["falls_on"] or tomorrow(),
        }
