"""Forms of the model pages: register a model, deploy it."""

from __future__ import annotations

from django import forms

from catalog.models import Region
from governance.models import Purpose, TrainedModel, TrainingRun


class TrainedModelForm(forms.ModelForm):
    training_runs = forms.ModelMultipleChoiceField(
        queryset=TrainingRun.objects.order_by("-created_at", "-id"),
        widget=forms.CheckboxSelectMultiple,
        help_text="The runs it came from: its lineage back to the data",
    )

    class Meta:
        model = TrainedModel
        fields = ["name", "version", "uri", "description", "training_runs"]

    def validate_unique(self) -> None:
        """The service names a taken name and version."""

    def service_fields(self) -> dict:
        return dict(self.cleaned_data)


class DeployForm(forms.Form):
    region = forms.ModelChoiceField(
        queryset=Region.objects.order_by("code"),
        to_field_name="code",
        help_text="Where it is served",
    )
    purpose = forms.ModelChoiceField(queryset=Purpose.objects.all())
    endpoint = forms.CharField(max_length=500, required=False, help_text="e.g. https://...")
