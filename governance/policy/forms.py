"""Forms of the policy pages: a locality rule (with its preview) and the adequacy what-if."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from catalog.models import Country, Dataset, Jurisdiction, PersonalDataCategory, Sensitivity
from catalog.techniques import Technique
from governance.forms import RegionChoiceField
from governance.models import (
    Action,
    LocalityRule,
    Term,
    TermStatus,
)
from governance.policy.facts import RuleFacts
from governance.policy.index import load_rules, rule_facts
from governance.policy.rules import RULE_FIELDS, rule_conflicts

MAX_PRIORITY = 1_000_000  # well inside a 32-bit integer column on every database


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
        widget=forms.TextInput(
            attrs={
                "placeholder": "a dataset's slug, e.g. customer-profiles",
                "data-suggest": "datasets",
            }
        ),
        error_messages={"invalid_choice": "No dataset has the slug %(value)s"},
        help_text="Blank: every dataset that matches the other conditions",
    )
    term = forms.ModelChoiceField(
        queryset=Term.objects.filter(status=TermStatus.APPROVED, categories__isnull=False)
        .distinct()
        .order_by("name"),
        to_field_name="slug",
        required=False,
        empty_label="No glossary term",
        label="Glossary term",
        help_text="Matches datasets holding any category of the term's approved definition",
    )
    actions = forms.MultipleChoiceField(
        choices=Action.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every action",
    )
    unless_techniques = forms.MultipleChoiceField(
        choices=Technique.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Unless the work declares",
        help_text="Work declaring all the ticked privacy techniques is outside the rule",
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
        fields = list(RULE_FIELDS)
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
        if self.instance.term_id and not self.is_bound:
            self.initial["term"] = self.instance.term.slug

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
        return rule_conflicts(self.proposal(), load_rules())


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
