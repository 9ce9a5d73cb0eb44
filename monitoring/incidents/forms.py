"""Forms of the incident queue's buttons."""

from __future__ import annotations

from django import forms


class NoteForm(forms.Form):
    note = forms.CharField(max_length=2000, required=False, widget=forms.TextInput)


class AssignForm(forms.Form):
    owner = forms.IntegerField(min_value=1, error_messages={"required": "Choose who handles it"})
