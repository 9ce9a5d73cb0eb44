"""Forms of the incident queue's buttons."""

from __future__ import annotations

from django import forms


class NoteForm(forms.Form):
    note = forms.CharField(max_length=2000, required=False, widget=forms.TextInput)


class AssignForm(forms.Form):
    owner = forms.IntegerField(min_value=1, error_messages={"required": "Choose who handles it"})


class AssessForm(forms.Form):
    assessment = forms.ChoiceField(
        choices=[
            ("not_a_breach", "Not a personal-data breach"),
            ("breach_notifiable", "Breach, notifiable"),
            ("breach_not_notifiable", "Breach, not notifiable"),
        ],
        error_messages={"required": "Choose the finding"},
    )
    reasoning = forms.CharField(
        max_length=4000, error_messages={"required": "Give the reasoning for the assessment"}
    )
