"""Structured logs: a request id for every HTTP request, on each log record, each ledger entry
and each Celery task queued while the request runs; JSON lines in production, readable lines in
development (settings.LOGGING).

The id comes from the request's X-Request-ID when it looks like one (16 to 64 hex digits or
dashes, as load balancers and proxies make them: a UUID, nginx's $request_id), else Locus makes
one; the response carries it back in X-Request-ID. Nothing else is accepted, so a client cannot
write free text into the log or the ledger through it.

It is held in a context variable: Django's ASGI handler and asgiref carry context variables into
the threads that run sync code, so every log line of the request sees it. A Celery task queued
meanwhile carries it as a message header (TASK_HEADER) and holds it while it runs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from contextvars import ContextVar, Token
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase

HEADER = "X-Request-ID"
TASK_HEADER = "locus_request_id"
_SANE = re.compile(r"[0-9A-Fa-f][0-9A-Fa-f-]{14,62}[0-9A-Fa-f]")

_request_id: ContextVar[str | None] = ContextVar("locus_request_id", default=None)

log = logging.getLogger(__name__)


def current_request_id() -> str | None:
    """The id of the request (or of the request that queued the task) being served, if any."""
    return _request_id.get()


def sane_request_id(value: Any) -> str | None:
    """`value` when it looks like a request id, else None."""
    return value if isinstance(value, str) and _SANE.fullmatch(value) else None


def new_request_id() -> str:
    return uuid.uuid4().hex


# --- On every log record ---------------------------------------------------------------------


class RequestIdFilter(logging.Filter):
    """Puts the current request id on each record the handler writes (None outside requests).

    Django logs a response's 4xx/5xx status after the middleware has returned: such a record
    names its request, which holds the id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            request = getattr(record, "request", None)
            record.request_id = _request_id.get() or getattr(request, "request_id", None)
        return True


# The attributes every LogRecord has; the rest came from `extra=` and are the line's fields.
_STANDARD = {*vars(logging.makeLogRecord({})), "message", "asctime", "request_id", "taskName"}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a log call gave with `extra=`."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and the fields."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            **record_fields(record),
        }
        if record.exc_info:
            document["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(document, default=str, ensure_ascii=False)


class ReadableFormatter(logging.Formatter):
    """`time LEVEL logger [request id] message key=value ...`, for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_label)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.request_label = getattr(record, "request_id", None) or "-"
        fields = record_fields(record)
        fields.pop("request_label", None)
        line = super().format(record)
        del record.request_label  # type: ignore[attr-defined]  # our own attribute, set above
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # fields before any traceback
        pairs = " ".join(f"{key}={value}" for key, value in fields.items())
        return f"{head} {pairs}{newline}{rest}"


# --- HTTP requests ---------------------------------------------------------------------------


class NamedRequest(HttpRequest):
    """A request as RequestIdMiddleware hands it on, named (for annotations: it sets the id)."""

    request_id: str


class RequestIdMiddleware:
    """Names each request (see the module's docstring) and logs the pages' refusals
    (PermissionDenied; the API logs its own in governance.api_errors). Sync and async."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: NamedRequest):
        if iscoroutinefunction(self):
            return self._acall(request)
        token = self._begin(request)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        return self._end(request, response)

    async def _acall(self, request: NamedRequest):
        token = self._begin(request)
        try:
            response = await self.get_response(request)
        finally:
            _request_id.reset(token)
        return self._end(request, response)

    def _begin(self, request: NamedRequest) -> Token:
        request.request_id = sane_request_id(request.headers.get(HEADER)) or new_request_id()
        return _request_id.set(request.request_id)

    def _end(self, request: NamedRequest, response: HttpResponseBase) -> HttpResponseBase:
        response[HEADER] = request.request_id
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, PermissionDenied):
            log.warning(
                "Refused %s %s: %s",
                request.method,
                request.path,
                exception or "permission denied",
                extra={
                    "status": 403,
                    "method": request.method,
                    "path": request.path,
                    "user_id": getattr(getattr(request, "user", None), "pk", None),
                },
            )


# --- Celery tasks ----------------------------------------------------------------------------


def task_publish_header(headers: dict | None = None, **kwargs: Any) -> None:
    """before_task_publish: a task queued while serving a request carries the request's id."""
    if headers is not None and (request_id := _request_id.get()):
        headers.setdefault(TASK_HEADER, request_id)


def task_begin(task=None, **kwargs: Any) -> None:
    """task_prerun: the task holds the id it was queued with (an eager task already has it)."""
    request_id = sane_request_id(getattr(task.request, TASK_HEADER, None))
    if request_id:
        task.request.locus_request_id_token = _request_id.set(request_id)


def task_end(task=None, **kwargs: Any) -> None:
    """task_postrun: the worker's next task starts without it."""
    token = getattr(task.request, "locus_request_id_token", None)
    if token is not None:
        _request_id.reset(token)
        task.request.locus_request_id_token = None
