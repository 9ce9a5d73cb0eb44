"""JSON types are kept in the API: a number, true/false, a list or an object where the schema says
`string` is a 400 naming the field ("Not a valid string."), and an object where it says `array`
is one too ("Expected a list of items..."), never quietly taken.

DRF's CharField accepts a number and stores its digits, so `{"note": 0}` went through while the
schema (type: string) says it is invalid; its ManyRelatedField takes an object as the list of its
keys (`{"rules": {}}` as no rules). Client generators and Locus disagreed. Query strings and form
fields are text already; this changes JSON bodies only. Installed once, at start-up
(catalog.apps), for every CharField (slugs, e-mail addresses, URLs, regexes included) and every
`many=True` relation; a relation by slug (a dataset's, a region's code) takes text only. A
text's `maxLength` counts it as sent, spaces around it included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import relations, serializers


def refuse_other_types() -> None:
    """Make CharField refuse anything but a str and ManyRelatedField an object (idempotent)."""
    if getattr(serializers.CharField, "locus_text_only", False):
        return
    lenient_text = serializers.CharField.to_internal_value
    lenient_list = relations.ManyRelatedField.to_internal_value
    lenient_slug = relations.SlugRelatedField.to_internal_value

    def text(self: serializers.CharField, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return lenient_text(self, data)

    def related_list(self: relations.ManyRelatedField, data: Any) -> Any:
        if isinstance(data, Mapping):
            self.fail("not_a_list", input_type=type(data).__name__)
        return lenient_list(self, data)

    def slug(self: relations.SlugRelatedField, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")
        return lenient_slug(self, data)

    trimmed_run_validation = serializers.CharField.run_validation

    def untrimmed_length(self: serializers.CharField, data: Any = serializers.empty) -> Any:
        # DRF trims spaces before it counts, so 2,004 characters with 4 around passed a
        # maxLength of 2,000: the schema's bound is the text as sent.
        if isinstance(data, str) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return trimmed_run_validation(self, data)

    serializers.CharField.to_internal_value = text  # type: ignore[method-assign,assignment]
    serializers.CharField.run_validation = untrimmed_length  # type: ignore[method-assign,assignment]
    relations.ManyRelatedField.to_internal_value = related_list  # type: ignore[method-assign,assignment]
    relations.SlugRelatedField.to_internal_value = slug  # type: ignore[method-assign]
    serializers.CharField.locus_text_only = True  # type: ignore[attr-defined]
