"""The one shape of a page that changes something: a form, a service, a redirect.

GET shows the form; POST validates it, calls the service with the cleaned data, and redirects
with a message. A form error or a service's ValidationError is shown on the form (next to the
field it names) with status 400; a StateConflict (someone else moved the object first, or its
state does not allow the step) with status 409.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from catalog.errors import StateConflict
from catalog.forms import add_service_error

FormT = TypeVar("FormT", bound=forms.BaseForm)
ResultT = TypeVar("ResultT")


def form_page(
    request: HttpRequest,
    *,
    form_class: type[FormT],
    template: str,
    act: Callable[[FormT], ResultT],
    done: Callable[[ResultT], tuple[str, str]],
    context: dict[str, Any] | None = None,
    form_kwargs: dict[str, Any] | None = None,
) -> HttpResponse:
    """Run the form → service → redirect page: `act(form)` calls the service with the valid
    form and returns what it made or changed; `done(result)` gives the success message and
    the URL to go to."""
    kwargs = form_kwargs or {}
    if request.method != "POST":
        return _render(request, template, form_class(**kwargs), context)
    form = form_class(request.POST, request.FILES or None, **kwargs)
    if not form.is_valid():
        return _render(request, template, form, context, status=400)
    try:
        result = act(form)
    except ValidationError as error:
        add_service_error(form, error)
        status = 409 if isinstance(error, StateConflict) else 400
        return _render(request, template, form, context, status=status)
    message, url = done(result)
    if message:
        messages.success(request, message)
    return redirect(url)


def _render(
    request: HttpRequest,
    template: str,
    form: forms.BaseForm,
    context: dict[str, Any] | None,
    status: int = 200,
) -> HttpResponse:
    return render(request, template, {**(context or {}), "form": form}, status=status)
