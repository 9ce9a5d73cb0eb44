"""Forms of the data-subject request pages: intake (public and staff), steps, tasks."""

from django import forms

from catalog.models import Jurisdiction
from requests.models.subjects import (
    Channel,
    IdentifierKind,
    MlDecision,
    OtherMeans,
    SubjectRequestType,
)
from requests.subjects.intake import INTAKE_FIELDS, STAFF_INTAKE_FIELDS
from requests.subjects.rights import RegimeRights

OPTIONAL_IDENTIFIERS = [k for k in IdentifierKind if k != IdentifierKind.EMAIL]


class IntakeForm(forms.Form):
    """What a person asks for, who they are, and where they live."""

    type = forms.ChoiceField(choices=SubjectRequestType.choices, label="What do you ask for?")
    jurisdiction = forms.ModelChoiceField(
        queryset=Jurisdiction.objects.order_by("name"),
        label="Where do you live?",
        help_text="Its law sets the time we have to answer.",
    )
    email = forms.EmailField(
        label="Your e-mail address", help_text="We send a code there to confirm it is you."
    )
    details = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=5000,
        help_text="Anything that helps us find your data (or, to correct it, what is wrong).",
    )
    agent_name = forms.CharField(
        required=False, max_length=200, label="Acting for someone else? Your name"
    )
    agent_authority = forms.CharField(
        required=False, max_length=300, label="How you are authorised to act for them"
    )

    def __init__(self, *args, regime: RegimeRights | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if regime is not None:
            # The regime's rights, as its law names them. Only the list shown changes: a type
            # the law does not give is refused by the service, naming the field and the law.
            self.fields["type"].widget.choices = [(o.type, o.shown) for o in regime.offered]
            self.fields["jurisdiction"].initial = regime.jurisdiction
        for kind in OPTIONAL_IDENTIFIERS:
            self.fields[kind] = forms.CharField(required=False, max_length=200, label=kind.label)

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        identifiers = {IdentifierKind.EMAIL.value: data["email"]}
        identifiers.update({k.value: data[k] for k in OPTIONAL_IDENTIFIERS if data.get(k)})
        return {**self._given(INTAKE_FIELDS), "identifiers": identifiers}

    def _given(self, names: tuple[str, ...]) -> dict:
        """The cleaned values of these service fields (identifiers are gathered separately)."""
        return {name: self.cleaned_data.get(name) for name in names if name != "identifiers"}


class StaffIntakeForm(IntakeForm):
    """A request received by e-mail, post, phone or in person, recorded by an officer."""

    received_at = forms.DateTimeField(
        required=False, help_text="When it arrived (UTC); empty means now"
    )
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.EMAIL)

    def service_kwargs(self) -> dict:
        return {**super().service_kwargs(), **self._given(STAFF_INTAKE_FIELDS)}


class VerifyForm(forms.Form):
    code = forms.CharField(max_length=12, label="The code from the e-mail")


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, required=False
    )


class VerifyIdentityForm(forms.Form):
    method = forms.ChoiceField(choices=OtherMeans.choices, label="How")
    checked = forms.CharField(
        label="What was checked",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Against what, and what matched; not a document's number",
    )


class TaskCompleteForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        required=False,
        help_text="For an erasure: what was erased and how. For an export: anything to add.",
    )
    upload = forms.FileField(
        required=False, help_text="The subject's records as .json (a list) or .csv (with a header)"
    )


class MlDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=MlDecision.choices)
    reason = forms.CharField(max_length=2000, required=False)
