"""Locality checks, training runs and the decisions the engine gave them (services, selectors,
api, forms, views)."""
