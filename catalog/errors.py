"""Errors the services raise that the API and the pages turn into answers."""

from django.core.exceptions import ValidationError


class StateConflict(ValidationError):
    """The thing is not in a state that allows this step (the API answers 409, naming why)."""
