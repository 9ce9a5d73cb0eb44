"""Retention enforced: periodic runs that delete what is past a dataset's retention, the legal
holds that suspend them, and the officers' page and API of what is due, overdue and held."""
