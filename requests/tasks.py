"""Celery tasks of the workflows: thin, idempotent, each calls one service."""

from celery import shared_task
