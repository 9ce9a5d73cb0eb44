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


class CommentForm(forms.Form):
    text = forms.CharField(
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Comment",
        error_messages={"required": "Write the comment"},
    )


class IdListField(forms.Field):
    """Ticked checkboxes named alike, each an incident's id."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[int]:
        picked = []
        for item in value or []:
            if not str(item).isdigit():
                raise forms.ValidationError(f"Not an incident id: {item!r}")
            picked.append(int(item))
        return list(dict.fromkeys(picked))


class BulkForm(forms.Form):
    """The queue's bulk bar: what to do with the ticked incidents."""

    action = forms.ChoiceField(
        choices=[("acknowledge", "Acknowledge"), ("assign", "Assign")],
        error_messages={"required": "Choose what to do"},
    )
    incidents = IdListField(error_messages={"required": "Tick at least one incident"})
    owner = forms.IntegerField(min_value=1, required=False)


STATUS_CHOICES = [
    ("", "Unresolved"),
    ("open", "Open"),
    ("acknowledged", "Acknowledged"),
    ("contained", "Contained"),
    ("resolved", "Resolved"),
    ("all", "Any status"),
]


class QueueFilterForm(forms.Form):
    """The queue's filters (GET); an unknown value is a 400 naming the field."""

    jurisdiction = forms.ChoiceField(required=False)
    severity = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any"),
            ("critical", "Critical"),
            ("high", "High"),
            ("medium", "Medium"),
            ("low", "Low"),
        ],
    )
    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES)
    owner = forms.ChoiceField(required=False, label="Handled by")
    kind = forms.ChoiceField(
        required=False,
        label="Rule broken",
        choices=[("", "Law or house rule"), ("law", "The law"), ("house", "House rules only")],
    )

    def __init__(self, *args, jurisdictions=(), people=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["jurisdiction"].choices = [("", "Any"), *jurisdictions]
        self.fields["owner"].choices = [
            ("", "Anyone or nobody"),
            ("me", "Me"),
            ("nobody", "Nobody yet"),
            *((str(p.pk), p.get_username()) for p in people),
        ]
