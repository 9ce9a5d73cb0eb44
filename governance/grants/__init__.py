"""Transfer grants: the effective permission an approved exception gives (services, selectors,
api, forms, views)."""
