"""Forms of the retention pages: place and lift a legal hold, mark a run done."""

from django import forms

from catalog.models import Dataset


class HoldPlaceForm(forms.Form):
    """Who places it is the signed-in officer; what, why and until when are asked."""

    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.order_by("slug"), to_field_name="slug"
    )
    reason = forms.CharField(
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The matter or order that requires the data kept",
    )
    until = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Empty: until an officer lifts it",
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))


class RunDoneForm(forms.Form):
    note = forms.CharField(
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What was deleted, and how",
    )
