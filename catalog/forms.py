"""Forms for the catalog pages: a dataset's entry, and the list's filter menus."""

from __future__ import annotations

from typing import Any, TypeGuard

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug

from catalog.actors import Actor, may
from catalog.filters import DatasetFilter
from catalog.models import (
    TAG_NAME_MAX_LENGTH,
    Country,
    Dataset,
    Jurisdiction,
    PersonalDataCategory,
    Region,
)
from catalog.services import RESERVED_SLUGS

User = get_user_model()

MAX_RETENTION_DAYS = 365 * 200  # the API's bound too: a typo of extra digits is caught
TAG_MAX_LENGTH = TAG_NAME_MAX_LENGTH


def may_assign_owner(user: Actor) -> TypeGuard[AbstractUser]:
    """Whoever may change every dataset (privacy officers, superusers) may name its owner."""
    # A model-wide permission, not a role name: catalog may not import governance.roles.
    return may(user, "catalog.change_dataset")


def _user_label(user: AbstractUser) -> str:
    full_name = user.get_full_name()
    return f"{full_name} ({user.get_username()})" if full_name else user.get_username()


def _region_label(region: Region) -> str:
    return f"{region.code} ({region.country.name})"


class DatasetForm(forms.ModelForm):
    """A dataset's catalog entry, cleaned for catalog.services, which make the final checks."""

    retention_days = forms.IntegerField(
        min_value=1, max_value=MAX_RETENTION_DAYS, help_text="How long it is kept, in days"
    )
    tags = forms.CharField(
        required=False,
        max_length=1000,
        help_text="Comma-separated slugs, e.g. marketing, eu-customers",
    )

    class Meta:
        model = Dataset
        fields = [
            "name",
            "slug",
            "description",
            "uri",
            "owner",
            "steward",
            "storage_region",
            "jurisdiction",
            "sensitivity",
            "personal_data_categories",
            "subject_jurisdictions",
            "lawful_basis",
            "retention_days",
            "allowed_processing_regions",
        ]
        labels = {"uri": "URI"}
        error_messages = {
            "slug": {"unique": "A dataset with this slug already exists; choose another"},
        }
        widgets = {
            "description": forms.Textarea(attrs={"rows": 4}),
            "personal_data_categories": forms.CheckboxSelectMultiple,
            "subject_jurisdictions": forms.CheckboxSelectMultiple,
            "allowed_processing_regions": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        editing = self.instance.pk is not None
        if editing:
            del self.fields["slug"]  # the stable name: the service refuses to change it
            self.initial["tags"] = ", ".join(tag.name for tag in self.instance.tags.all())
        self._set_people(user, editing)
        self._set_places()

    # The menus label their choices with the functions above, set on the field (the type
    # ignores): Django calls the field's label_from_instance, which the stubs type as a method.
    def _choices(self, name: str) -> forms.ModelChoiceField[Any]:
        """A relation's form field (ModelMultipleChoiceField is one too), to set its menu."""
        field = self.fields[name]
        assert isinstance(field, forms.ModelChoiceField), f"{name} is not a relation's field"
        return field

    def _set_people(self, user: Actor, editing: bool) -> None:
        people = User.objects.filter(is_active=True).order_by("username")
        if may_assign_owner(user):
            owner = self._choices("owner")
            owner.queryset = people
            owner.label_from_instance = _user_label  # type: ignore[method-assign, assignment]
            if not editing:
                self.initial.setdefault("owner", user.pk)
        else:
            # A data owner registers datasets as themselves and cannot give theirs away.
            del self.fields["owner"]
        steward = self._choices("steward")
        steward.queryset = people
        steward.label_from_instance = _user_label  # type: ignore[method-assign, assignment]

    def _set_places(self) -> None:
        regions = Region.objects.select_related("country").order_by("code")
        for name in ("storage_region", "allowed_processing_regions"):
            field = self._choices(name)
            field.queryset = regions
            field.label_from_instance = _region_label  # type: ignore[method-assign, assignment]
        jurisdiction = self._choices("jurisdiction")
        jurisdiction.required = False
        jurisdiction.empty_label = "The storage region's jurisdiction"
        jurisdiction.help_text = (
            "The law it is stored under; leave blank for the storage region's own. "
            "It must cover the storage region's country."
        )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if slug in RESERVED_SLUGS:
            raise ValidationError(f"{slug!r} is reserved for a catalog page; choose another slug")
        return slug

    def clean_tags(self) -> list[str]:
        names = sorted({part.strip() for part in self.cleaned_data["tags"].split(",")} - {""})
        for name in names:
            if len(name) > TAG_MAX_LENGTH:
                raise ValidationError(f"Tag {name!r} is longer than {TAG_MAX_LENGTH} characters")
            try:
                validate_slug(name)
            except ValidationError:
                raise ValidationError(
                    f"Tag {name!r} is not a slug: use letters, numbers, hyphens or underscores"
                ) from None
        return names

    def service_fields(self) -> dict:
        """The cleaned entry as keyword arguments for dataset_create / dataset_update."""
        fields = dict(self.cleaned_data)
        if fields.get("jurisdiction") is None:
            # Blank means "the storage region's law", which the service fills in itself.
            fields.pop("jurisdiction", None)
        return fields


def add_service_error(form: forms.BaseForm, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: next to the field it names, else on top."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, messages in error.error_dict.items():
        form.add_error(field if field in form.fields else None, messages)


class DatasetFilterForm(forms.Form):
    """The filter's form, with menus of the codes that exist so that nobody has to type them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._menu("jurisdiction", Jurisdiction.objects.values_list("code", "name"))
        self._menu("region", Region.objects.order_by("code").values_list("code", "code"))
        # Only countries with a region: a dataset is stored in its region's country.
        self._menu(
            "country",
            Country.objects.filter(regions__isnull=False).distinct().values_list("code", "name"),
        )
        self._menu(
            "owner",
            User.objects.filter(owned_datasets__isnull=False)
            .distinct()
            .order_by("username")
            .values_list("username", "username"),
        )
        self._menu("category", PersonalDataCategory.objects.values_list("code", "name"))
        sensitivity = self.fields["sensitivity"]
        sensitivity.widget = forms.CheckboxSelectMultiple(choices=sensitivity.choices)
        self.fields["q"].widget.attrs.update(placeholder="Name, slug, URI or description")
        self.fields["tag"].widget.attrs.update(placeholder="e.g. marketing")

    def _menu(self, name: str, choices) -> None:
        self.fields[name].widget = forms.Select(choices=[("", "Any"), *choices])


class DatasetPageFilter(DatasetFilter):
    """The API's dataset filter, with the catalog page's form."""

    class Meta(DatasetFilter.Meta):
        form = DatasetFilterForm
