"""Free text a person writes, with a limit every layer enforces: the model's validation
(full_clean, which services and model forms run), the form field and the serializer (both
built from max_length), and the OpenAPI schema (maxLength). A 400 names the field and the
limit; nothing longer is stored."""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxLengthValidator
from django.db import models

TEXT = 5_000  # a reason, a comment, a note, a justification, a rule's description, laws
LONG_TEXT = 20_000  # a dataset's description, a definition, a recorded decision's sections
LIST_TEXT = 10_000  # a typed list: slugs, ids, links or synonyms, separated by commas or lines
# The largest id a 64-bit column holds: an id sent above it is a 400, not the database
# driver's overflow (a 500).
ID_MAX = 2**63 - 1


class BoundedTextField(models.TextField):
    def __init__(self, *args: Any, max_length: int = TEXT, **kwargs: Any) -> None:
        kwargs["max_length"] = max_length
        super().__init__(*args, **kwargs)
        self.validators.append(MaxLengthValidator(max_length))
