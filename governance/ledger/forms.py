"""Forms for the decision-log pages: the log's filters, recorded decisions, the evidence period.

The filters are the ledger API's (governance.ledger.api.LedgerEntryFilter) with widgets for a
page; recorded decisions are cleaned here and decided by governance.ledger.records.
"""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from catalog.fields import LIST_TEXT, LONG_TEXT
from catalog.filtering import UtcIsoDateTimeFilter
from catalog.models import Dataset
from governance.ledger.api import LedgerEntryFilter
from governance.models import LocalityRule, RecordedDecision

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
MAX_LINKS = 100
MAX_LINK_LENGTH = 120
EVIDENCE_DEFAULT_DAYS = 30


def _datetime_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT)


class LedgerPageFilter(LedgerEntryFilter):
    """The API's ledger filters, labelled and laid out for the decision-log page."""

    q = django_filters.CharFilter(
        method="search",
        label="Search",
        widget=forms.TextInput(attrs={"placeholder": "kind, subject or actor"}),
    )
    kind = django_filters.CharFilter(
        lookup_expr="startswith",
        label="Kind",
        widget=forms.TextInput(attrs={"placeholder": "e.g. grant. or rule.created"}),
    )
    actor = django_filters.CharFilter(method="filter_actor", label="Actor")
    dataset = django_filters.CharFilter(
        method="filter_subject",
        label="Dataset",
        widget=forms.TextInput(attrs={"placeholder": "slug"}),
    )
    subject = django_filters.CharFilter(
        method="filter_subject_ref",
        label="Subject",
        widget=forms.TextInput(attrs={"placeholder": "e.g. rule:12"}),
    )
    since = UtcIsoDateTimeFilter(
        field_name="at", lookup_expr="gte", label="From (UTC)", widget=_datetime_input()
    )
    until = UtcIsoDateTimeFilter(
        field_name="at", lookup_expr="lt", label="Until (UTC)", widget=_datetime_input()
    )

    class Meta(LedgerEntryFilter.Meta):
        fields = ["q", "kind", "actor", "dataset", "subject", "since", "until"]

    def is_filtered(self) -> bool:
        """True when any filter has a value (the page then says nothing matched, not 'empty')."""
        return any(self.form.cleaned_data.get(name) not in (None, "") for name in self.filters)


class LinksField(forms.CharField):
    """References, one a line (e.g. exception:12 or a URL) -> a list, blank lines dropped."""

    def __init__(self, *args, max_length: int = LIST_TEXT, **kwargs):
        super().__init__(*args, max_length=max_length, **kwargs)

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "exception:12"})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def clean(self, value) -> list[str]:
        text = super().clean(value) or ""
        links = list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))
        if len(links) > MAX_LINKS:
            raise ValidationError(f"At most {MAX_LINKS} links, got {len(links)}")
        too_long = [link for link in links if len(link) > MAX_LINK_LENGTH]
        if too_long:
            raise ValidationError(
                f"A link may have at most {MAX_LINK_LENGTH} characters: {too_long[0][:40]}…"
            )
        return links


class DatasetChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Dataset) -> str:
        return f"{obj.slug} ({obj.name})"


class RuleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: LocalityRule) -> str:
        return f"#{obj.pk} {obj.name}"


class RecordedDecisionForm(forms.Form):
    """A decision as a privacy officer writes it down; the services record it on the ledger."""

    title = forms.CharField(max_length=200)
    status = forms.ChoiceField(
        choices=RecordedDecision.Status.choices, initial=RecordedDecision.Status.PROPOSED
    )
    context = forms.CharField(
        max_length=LONG_TEXT,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="The situation that asks for a decision",
    )
    decision = forms.CharField(
        max_length=LONG_TEXT, widget=forms.Textarea(attrs={"rows": 4}), help_text="What is decided"
    )
    rationale = forms.CharField(
        max_length=LONG_TEXT, widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    alternatives = forms.CharField(
        max_length=LONG_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="What else was considered, and why not",
    )
    datasets = DatasetChoiceField(
        queryset=Dataset.objects.only("id", "slug", "name").order_by("slug"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The datasets it concerns",
    )
    rules = RuleChoiceField(
        queryset=LocalityRule.objects.only("id", "name").order_by("id"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Locality rules",
        help_text="The rules it concerns",
    )
    links = LinksField(
        required=False,
        help_text="Other references, one a line, e.g. exception:12 (a reference without spaces is also a ledger subject)",
    )

    FIELDS = ("title", "context", "decision", "rationale", "alternatives", "status", "links")

    @classmethod
    def initial_for(cls, record: RecordedDecision) -> dict:
        """A recorded decision as it stands, as the form's initial values."""
        initial = {name: getattr(record, name) for name in cls.FIELDS}
        initial["datasets"] = list(record.datasets.all())
        initial["rules"] = list(record.rules.all())
        return initial

    def service_fields(self) -> dict:
        """Keyword arguments for recorded_decision_create / recorded_decision_update."""
        fields = {name: self.cleaned_data[name] for name in self.FIELDS}
        fields["datasets"] = list(self.cleaned_data["datasets"])
        fields["rules"] = list(self.cleaned_data["rules"])
        return fields


class RecordStatusForm(forms.Form):
    """The recorded decisions' status filter; a value outside the menu is an error."""

    status = forms.ChoiceField(
        choices=[("", "All"), *RecordedDecision.Status.choices], required=False
    )


def default_evidence_period(now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The last 30 days, ending now."""
    until = now or timezone.now()
    return until - dt.timedelta(days=EVIDENCE_DEFAULT_DAYS), until


class EvidenceForm(forms.Form):
    """The period an evidence package covers."""

    since = forms.DateTimeField(label="From", widget=_datetime_input(), help_text="UTC")
    until = forms.DateTimeField(label="To", widget=_datetime_input(), help_text="UTC")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Up to the next whole minute, so what happened in this minute is in the package.
        next_minute = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        since, until = default_evidence_period(next_minute)
        self.fields["since"].initial = since
        self.fields["until"].initial = until

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until <= since:
            self.add_error("until", "The end must be after the start")
        return cleaned
