"""Forms of the transfer-exception pages. They clean what people type; requests.transfers makes
the final checks, and its ValidationError lands on the form (catalog.forms.add_service_error)."""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from catalog.fields import LIST_TEXT, TEXT
from governance.forms import DatasetListField, RegionChoiceField
from governance.models import Purpose, TrainingRun, TransferMechanism
from requests.models import ExceptionStatus, RiskLevel, SupplementaryMeasure
from requests.models.transfers import Derogation, SccModule
from requests.transfers import services

MAX_RUNS = 100
MAX_RISKS = 50


def _datetime_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class TrainingRunListField(forms.CharField):
    """Training run ids separated by commas or spaces → the runs."""

    def __init__(self, *args, max_length: int = LIST_TEXT, **kwargs):
        super().__init__(*args, max_length=max_length, **kwargs)

    def clean(self, value) -> list[TrainingRun]:
        text = super().clean(value) or ""
        parts = [part for part in re.split(r"[\s,]+", text) if part]
        if not all(part.isdigit() for part in parts):
            raise ValidationError("Give training run ids (numbers), separated by commas")
        ids = list(dict.fromkeys(int(part) for part in parts))
        if len(ids) > MAX_RUNS:
            raise ValidationError(f"At most {MAX_RUNS} training runs")
        found = {run.pk: run for run in TrainingRun.objects.filter(pk__in=ids)}
        unknown = [str(pk) for pk in ids if pk not in found]
        if unknown:
            raise ValidationError(f"No training run has the id: {', '.join(unknown)}")
        return [found[pk] for pk in ids]


class ExceptionForm(forms.Form):
    """An exception as its requester writes it; exception_create / exception_update decide."""

    title = forms.CharField(
        max_length=200, required=False, help_text="Blank: the datasets and destinations"
    )
    datasets = DatasetListField(help_text="Slugs, separated by commas, spaces or new lines")
    destination_regions = RegionChoiceField(label="Destination regions")
    source_regions = RegionChoiceField(
        label="Source regions",
        required=False,
        help_text="None ticked: the regions the datasets are stored in",
    )
    purpose = forms.ModelChoiceField(queryset=Purpose.objects.order_by("name"))
    training_runs = TrainingRunListField(
        required=False, label="Training runs", help_text="Ids, separated by commas (optional)"
    )
    mechanism = forms.ChoiceField(choices=TransferMechanism.choices)
    scc_module = forms.ChoiceField(
        choices=[("", "—"), *SccModule.choices], required=False, label="SCC module"
    )
    derogation = forms.ChoiceField(
        choices=[("", "—"), *Derogation.choices], required=False, label="Art. 49 derogation"
    )
    mechanism_detail = forms.CharField(max_length=200, required=False)
    tia_destination_laws = forms.CharField(
        max_length=TEXT,
        required=False,
        label="Destination laws and practices",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    tia_risks = forms.CharField(
        max_length=TEXT,
        required=False,
        label="Risks found",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line",
    )
    tia_risk_level = forms.ChoiceField(
        choices=RiskLevel.choices, initial=RiskLevel.MEDIUM, label="Risk after the measures"
    )
    tia_measures = forms.MultipleChoiceField(
        choices=SupplementaryMeasure.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Supplementary measures",
    )
    starts_at = forms.DateTimeField(widget=_datetime_input(), help_text="UTC")
    ends_at = forms.DateTimeField(
        widget=_datetime_input(),
        help_text=(
            "UTC. Art. 49 derogations last at most "
            f"{settings.EXCEPTION_MAX_DAYS.get('art49', 30)} days"
        ),
    )
    justification = forms.CharField(max_length=TEXT, widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args, exception=None, **kwargs):
        if exception is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_from(exception)
        super().__init__(*args, **kwargs)
        if exception is not None:
            self.fields["title"].required = True
            self.fields["title"].help_text = ""
        else:
            start = timezone.now().replace(second=0, microsecond=0)
            self.fields["starts_at"].initial = start
            self.fields["ends_at"].initial = start + dt.timedelta(
                days=settings.EXCEPTION_DEFAULT_DAYS
            )

    @staticmethod
    def initial_from(exception) -> dict:
        initial = {name: getattr(exception, name) for name in services.TERM_FIELDS}
        initial.update(
            purpose=exception.purpose_id,
            tia_risks="\n".join(exception.tia_risks),
            tia_measures=list(exception.tia_measures),
            datasets="\n".join(d.slug for d in exception.datasets.all()),
            destination_regions=[r.code for r in exception.destination_regions.all()],
            source_regions=[r.code for r in exception.source_regions.all()],
            training_runs=", ".join(str(r.pk) for r in exception.training_runs.all()),
        )
        return initial

    def clean_tia_risks(self) -> list[str]:
        risks = [line.strip() for line in self.cleaned_data["tia_risks"].splitlines()]
        risks = [risk for risk in risks if risk]
        if len(risks) > MAX_RISKS:
            raise ValidationError(f"At most {MAX_RISKS} risks")
        return risks

    def service_fields(self) -> dict:
        """The cleaned input, named as exception_create / exception_update take it."""
        names = (*services.PLACE_FIELDS, *services.TERM_FIELDS)
        return {name: self.cleaned_data[name] for name in names}


class StepForm(forms.Form):
    """A step on an exception, with the comment that explains it."""

    comment = forms.CharField(
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept on the timeline; needed to reject, send back or revoke",
    )


class CommentForm(forms.Form):
    comment = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))


MINE_STATUSES = [("", "All"), *ExceptionStatus.choices]


class ExceptionFilterForm(forms.Form):
    status = forms.ChoiceField(choices=MINE_STATUSES, required=False)


class RegisterFilterForm(forms.Form):
    """The register's filters; a value outside the menus is an error, not an empty page."""

    source = forms.RegexField(
        r"^[A-Za-z]{2}$", required=False, label="Source country", max_length=2
    )
    destination = forms.RegexField(
        r"^[A-Za-z]{2}$", required=False, label="Destination country", max_length=2
    )
    mechanism = forms.ChoiceField(choices=[("", "Any"), *TransferMechanism.choices], required=False)
    status = forms.ChoiceField(
        choices=[
            ("", "Any"),
            ("active", "Active"),
            ("upcoming", "Upcoming"),
            ("expired", "Expired"),
            ("revoked", "Revoked"),
        ],
        required=False,
    )

    def filters(self) -> dict:
        return {key: value for key, value in self.cleaned_data.items() if value}
