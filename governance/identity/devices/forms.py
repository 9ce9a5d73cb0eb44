"""The one form of the second-factor pages: a code."""

from __future__ import annotations

from django import forms


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        help_text="The 6 digits your authenticator app shows now, or one of your recovery codes.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )


class AuthenticatorCodeForm(CodeForm):
    """Enrolment: only the new authenticator's code confirms it."""

    code = forms.CharField(
        label="Code from your authenticator",
        max_length=32,
        help_text="The 6 digits it shows now.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )
