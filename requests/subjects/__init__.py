"""Data-subject requests: intake, verification, discovery, tasks, fulfilment, deadlines.

Every verb is one transaction with its ledger entry and timeline event. The request's state is
its `status`; `workflow.TRANSITIONS` is the one table of allowed steps and `workflow.transition`
the one place that takes them. Celery tasks (requests/tasks.py) call the services here with
ids; each is safe to run twice.
"""
