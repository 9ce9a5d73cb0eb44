"""The shared glossary: term fields and snapshots (fields), reads (selectors), the review
workflow (services), and its API, forms and pages."""
