"""The Locus project (settings, URLs, ASGI and WSGI, Celery) and the governance domain.

Kept free of imports so that `python -m governance.ledger.verify` runs on the standard library
alone; the Celery app is loaded by the app config's ready().
"""
