"""Forms for the glossary pages; governance.glossary's services make the final checks."""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from catalog.fields import LIST_TEXT
from catalog.models import PersonalDataCategory
from governance.forms import DatasetListField
from governance.glossary import content, selectors
from governance.models import LocalityRule, Term, TermStatus
from governance.roles import Role

STATUS_TABS = [("", "All"), *TermStatus.choices]


class TermListField(forms.CharField):
    """Term slugs separated by commas, spaces or new lines → the terms, in that order."""

    def __init__(self, *args, max_length: int = LIST_TEXT, **kwargs):
        super().__init__(*args, max_length=max_length, **kwargs)

    widget = forms.Textarea(attrs={"rows": 2, "placeholder": "personal-data"})

    def clean(self, value) -> list[Term]:
        text = super().clean(value)
        slugs = list(dict.fromkeys(part for part in re.split(r"[\s,]+", text or "") if part))
        found = selectors.terms_by_slug(slugs)
        unknown = [slug for slug in slugs if slug not in found]
        if unknown:
            raise ValidationError(f"No glossary term has the slug: {', '.join(unknown[:10])}")
        return [found[slug] for slug in slugs]


class StewardField(forms.ModelChoiceField):
    """A person with a Locus role, chosen by username."""

    def __init__(self, **kwargs):
        people = (
            get_user_model()
            .objects.filter(groups__name__in=Role.values)
            .distinct()
            .order_by("username")
        )
        super().__init__(queryset=people, to_field_name="username", **kwargs)

    def label_from_instance(self, obj) -> str:
        full_name = obj.get_full_name()
        return f"{full_name} ({obj.get_username()})" if full_name else obj.get_username()


class TermForm(forms.Form):
    """A term as its proposer writes it: a new draft, a draft's edit, or a proposed change."""

    name = forms.CharField(max_length=content.MAX_NAME)
    definition = forms.CharField(
        max_length=content.MAX_DEFINITION, widget=forms.Textarea(attrs={"rows": 6})
    )
    categories = forms.ModelMultipleChoiceField(
        queryset=PersonalDataCategory.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Personal-data categories",
        help_text="The definition locality rules use: a rule that names the term matches "
        "datasets holding any of these",
    )
    synonyms = forms.CharField(
        max_length=LIST_TEXT,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line; pages link these to the term too",
    )
    related = TermListField(
        required=False, label="Related terms", help_text="Slugs, separated by commas or spaces"
    )
    steward = StewardField(required=False, empty_label="No steward")
    datasets = DatasetListField(
        required=False, help_text="Slugs, separated by commas, spaces or new lines"
    )
    rules = forms.ModelMultipleChoiceField(
        queryset=LocalityRule.objects.order_by("name", "id"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Locality rules",
    )
    note = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Note for the reviewer",
        help_text="Why this change; the reviewer reads it",
    )

    def clean_synonyms(self) -> list[str]:
        # One per line: a synonym may itself contain a comma.
        lines = re.split(r"[\r\n]+", self.cleaned_data["synonyms"] or "")
        return [line.strip() for line in lines if line.strip()]

    @staticmethod
    def initial_for(term: Term) -> dict:
        """A term's current text as the form's starting values."""
        return {
            "name": term.name,
            "definition": term.definition,
            "categories": list(term.categories.all()),
            "synonyms": "\n".join(term.synonyms or []),
            "related": " ".join(t.slug for t in term.related.all()),
            "steward": term.steward.get_username() if term.steward else None,
            "datasets": "\n".join(d.slug for d in term.datasets.all()),
            "rules": list(term.rules.all()),
        }

    def service_fields(self) -> dict:
        """The cleaned term as keyword arguments for the glossary services."""
        fields = {name: self.cleaned_data[name] for name in content.CONTENT_FIELDS}
        fields["rules"] = list(fields["rules"])
        fields["categories"] = list(fields["categories"])
        return fields


class GlossarySearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(choices=STATUS_TABS, required=False)


class ReviewForm(forms.Form):
    comment = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    proposal = forms.IntegerField(required=False, widget=forms.HiddenInput)


class RejectForm(ReviewForm):
    comment = forms.CharField(
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Why reject it",
        help_text="The proposer reads it",
    )


class DeprecateForm(forms.Form):
    reason = forms.CharField(
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown on the term's page; say what to use instead",
    )
