"""Safe concurrent edits: an `ETag` on every detail answer of an editable resource, and
`If-Match` honoured by every write on it (PATCH, PUT, DELETE and workflow steps): a stale tag
is a 412, so two people editing the same thing never overwrite each other unknowingly.

The tag is a digest of what changes whenever the row does: its version, status and last
change (each where the model has it; a compare-and-swap step moves the status or version even
where it bypasses `auto_now`). With If-Match, the row is locked (SELECT ... FOR UPDATE) and its
tag compared inside the transaction the write then runs in, so no write slips between the
check and the change. Without If-Match a write goes ahead as before (the header is optional).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.db import models, transaction
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

HEADER = "If-Match"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STAMP_FIELDS = ("version", "status", "updated_at")


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"


def _stamp_fields(model: type[models.Model]) -> list[str]:
    names = {field.name for field in model._meta.concrete_fields}
    return [name for name in STAMP_FIELDS if name in names]


def _tag(model: type[models.Model], pk: Any, values: tuple) -> str:
    text = f"{model._meta.label}:{pk}:" + "|".join(str(v) for v in values)
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def etag_of(obj: models.Model) -> str:
    """The tag of the row as this instance holds it."""
    model = type(obj)
    return _tag(model, obj.pk, tuple(getattr(obj, name) for name in _stamp_fields(model)))


def stored_etag(obj: models.Model, *, lock: bool = False) -> str:
    """The tag of the row as stored now (locked for the rest of the transaction if asked)."""
    model = type(obj)
    rows = model._default_manager.filter(pk=obj.pk)
    if lock:
        rows = rows.select_for_update()
    values = rows.values_list(*_stamp_fields(model)).first()
    return _tag(model, obj.pk, tuple(values or ()))


def _matches(header: str, current: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or current in tags


def _atomic(handler: Callable[..., Response]) -> Callable[..., Response]:
    def handle(request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            return handler(request, *args, **kwargs)

    return handle


class ConditionalMixin:
    """For a viewset of editable resources: ETag on detail answers, If-Match on writes."""

    checks_if_match = True  # the schema documents 412 on its writes (catalog.schema)
    _etag_object: models.Model | None = None
    _etag_now: str = ""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        # A conditional write on one resource: the check and the write in one transaction (the
        # handler is picked by DRF after initial(), so it is wrapped for this request only).
        if request.method not in SAFE_METHODS and request.headers.get(HEADER) and self._on_one():
            method = str(request.method).lower()
            setattr(self, method, _atomic(getattr(self, method)))

    def _on_one(self) -> bool:
        lookup = getattr(self, "lookup_url_kwarg", None) or getattr(self, "lookup_field", "pk")
        return lookup in getattr(self, "kwargs", {})

    def get_object(self) -> Any:
        return self.conditional_object(super().get_object())  # type: ignore[misc]

    def conditional_object(self, obj: Any) -> Any:
        """The object a detail request is about, checked against If-Match on a write (for a
        viewset with a get_object of its own to call)."""
        request = self.request  # type: ignore[attr-defined]
        self._etag_object = obj
        wanted = request.headers.get(HEADER, "")
        if request.method not in SAFE_METHODS and wanted:
            current = stored_etag(obj, lock=True)
            if not _matches(wanted, current):
                self._etag_now = current
                raise PreconditionFailed(
                    {
                        HEADER: [
                            "It changed since you read it (its ETag is now "
                            f"{current}): read it again and redo your change"
                        ]
                    }
                )
        return obj

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        obj = self._etag_object
        if self._etag_now:
            response["ETag"] = self._etag_now
        elif obj is not None and response.status_code == status.HTTP_200_OK and self._on_one():
            safe = request.method in SAFE_METHODS
            response["ETag"] = etag_of(obj) if safe else stored_etag(obj)
        return response
