"""Errors the services raise that the API and the pages turn into answers.

StateConflict lives in the catalog, the lowest layer, so that every app may raise it.
"""

from catalog.errors import StateConflict

__all__ = ["StateConflict"]
