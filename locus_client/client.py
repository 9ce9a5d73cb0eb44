"""A small typed client for Locus's pipeline API: locality checks and training runs.

Standard library and httpx only, so a pipeline can vendor this file on its own.

A busy or restarting Locus (429, 502, 503, 504) is asked again, up to `retries` times, after
the wait its `Retry-After` header gives or, without one, an exponential backoff; a wait longer
than `max_wait` is not waited for. A registration carries one `Idempotency-Key` across its
retries, so a retried request is the same request.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

__all__ = ["DEFAULT_TIMEOUT", "LocusClient", "LocusError", "LocusUnavailable"]

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
DEFAULT_MAX_WAIT = 30.0  # seconds: a pipeline step waits this long at most for one retry
RETRYABLE = frozenset({429, 502, 503, 504})
BACKOFF_FIRST = 0.5  # seconds before the first retry without Retry-After, doubling after
CHECK_PATH = "/api/v1/locality/check"
RUNS_PATH = "/api/v1/training-runs/"
PLANS_PATH = "/api/v1/plans/check"
INCLUSION_PATH = "/api/v1/ledger/proof/inclusion"
USER_AGENT = "locus-client/0.1"


class LocusError(Exception):
    """Locus answered with an error: `status` is the HTTP status, `detail` its JSON body."""

    def __init__(self, message: str, *, status: int | None = None, detail: Any = None):
        super().__init__(message)
        self.status = status
        self.detail = detail


class LocusUnavailable(LocusError):
    """Locus could not answer: no connection, a timeout, or a 5xx (`status` is None if unsent)."""


def _body(response: httpx.Response) -> Any:
    """The response's JSON, or its text when it is not JSON (a proxy's error page)."""
    try:
        return response.json()
    except ValueError:
        return response.text.strip()


def _summary(detail: Any) -> str:
    if isinstance(detail, dict) and isinstance(detail.get("detail"), str):
        return detail["detail"]
    text = str(detail)
    return text if len(text) <= 300 else text[:297] + "..."


class LocusClient:
    """Talks to one Locus server as one machine user (`Authorization: Token <token>`)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        retries: int = DEFAULT_RETRIES,
        max_wait: float = DEFAULT_MAX_WAIT,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"The Locus URL must start with http:// or https://, got {base_url!r}")
        if retries < 0:
            raise ValueError(f"retries is 0 or more, got {retries}")
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.max_wait = max_wait
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Token {token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> LocusClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def check(
        self,
        dataset: str,
        region: str,
        purpose: str,
        action: str = "train",
        at: dt.datetime | str | None = None,
        scopes: list[str] | None = None,
        techniques: list[str | dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """May `action` on `dataset` run in `region` for `purpose` (at `at`, default now)?

        `scopes` declare what the recipient there is (e.g. "dpf-certified"), answering the scope
        question of an adequacy decision limited to some recipients. `techniques` declare the
        privacy techniques the work uses (e.g. "federated", or {"technique":
        "differential_privacy", "epsilon": 1, "delta": 1e-5}).
        """
        body = _check_body(dataset, region, purpose, action, at, scopes)
        if techniques:
            body["techniques"] = list(techniques)
        return self._post(CHECK_PATH, body)

    def check_many(self, checks: list[dict[str, Any]]) -> dict[str, Any]:
        """Ask up to 1,000 checks at once; answers come back in order, a bad item with `errors`."""
        return self._post(CHECK_PATH, {"checks": [_jsonable(c) for c in checks]})

    def check_plan(
        self,
        plan: dict[str, Any],
        purpose: str,
        at: dt.datetime | str | None = None,
        scopes: list[str] | None = None,
    ) -> dict[str, Any]:
        """Judge a Terraform/OpenTofu plan (`terraform show -json`) before it is applied; the
        answer carries its `verdict`, each data store with its decisions, and `catalog_gaps`."""
        body: dict[str, Any] = {"plan": plan, "purpose": purpose}
        if at is not None:
            body["at"] = at
        if scopes:
            body["scopes"] = list(scopes)
        return self._post(PLANS_PATH, _jsonable(body))

    def register_run(self, run: dict[str, Any]) -> dict[str, Any]:
        """Register a training run; the answer carries its `verdict` and one decision per pair."""
        return self._post(RUNS_PATH, run, idempotency_key=str(uuid.uuid4()))

    def report_reads(self, run_id: int, reads: list[dict[str, Any]]) -> dict[str, Any]:
        """Report what run `run_id` actually read: each read is judged and recorded."""
        return self._post(
            f"{RUNS_PATH}{int(run_id)}/reads/", {"reads": [_jsonable(r) for r in reads]}
        )

    def inclusion_proof(self, leaf_hash: str, tree_size: int | None = None) -> dict[str, Any]:
        """The audit path of a receipt's leaf under a signed tree head (default: the latest);
        LocusError with status 404 while the leaf is not in the tree yet."""
        params: dict[str, Any] = {"leaf_hash": leaf_hash}
        if tree_size is not None:
            params["tree_size"] = int(tree_size)
        return self._call("GET", INCLUSION_PATH, params=params)

    def _post(
        self, path: str, payload: dict[str, Any], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._call("POST", path, json=payload, headers=headers)

    def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            response = self._send(method, path, **options)
            if response.status_code not in RETRYABLE or attempt == self.retries:
                break
            wait = _wait(response, attempt)
            if wait > self.max_wait:
                raise LocusUnavailable(
                    f"Locus ({response.status_code}) asks to retry after {wait:g} s, longer "
                    f"than this client waits ({self.max_wait:g} s)",
                    status=response.status_code,
                    detail=_body(response),
                )
            self._sleep(wait)
        return self._answer(response)

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **options)
        except httpx.TimeoutException as exc:
            raise LocusUnavailable(
                f"Locus at {self.base_url} did not answer in time: {exc}"
            ) from exc
        except httpx.TransportError as exc:
            raise LocusUnavailable(f"Cannot reach Locus at {self.base_url}: {exc}") from exc

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        detail = _body(response)
        where = f"{response.request.method} {response.request.url.path}"
        if response.is_redirect:
            location = response.headers.get("Location", "?")
            raise LocusError(
                f"Locus answered {where} with a redirect ({status}) to {location}: give the "
                "address it redirects to as the Locus URL (https:// rather than http://?)",
                status=status,
                detail=detail,
            )
        if status >= 500 or status == 429:
            failed = "is rate limiting" if status == 429 else "failed"
            raise LocusUnavailable(
                f"Locus {failed} ({status}) on {where}: {_summary(detail)}",
                status=status,
                detail=detail,
            )
        if not response.is_success:
            raise LocusError(
                f"Locus refused ({status}) {where}: {_summary(detail)}",
                status=status,
                detail=detail,
            )
        if not isinstance(detail, dict):
            raise LocusError(
                f"Locus answered {where} with something other than a JSON object",
                status=status,
                detail=detail,
            )
        return detail


def _wait(response: httpx.Response, attempt: int) -> float:
    """Seconds before asking again: the server's Retry-After (seconds or an HTTP date), else
    an exponential backoff from BACKOFF_FIRST."""
    given = response.headers.get("Retry-After", "").strip()
    if given.isdigit():
        return float(given)
    if given:
        try:
            when = email.utils.parsedate_to_datetime(given)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
    return BACKOFF_FIRST * 2**attempt


def _jsonable(item: dict[str, Any]) -> dict[str, Any]:
    """The item with any datetime written as ISO 8601, as the API expects."""
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in item.items()}


def _check_body(
    dataset: str,
    region: str,
    purpose: str,
    action: str,
    at: dt.datetime | str | None,
    scopes: list[str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dataset": dataset,
        "region": region,
        "purpose": purpose,
        "action": action,
    }
    if at is not None:
        body["at"] = at
    if scopes:
        body["scopes"] = list(scopes)
    return _jsonable(body)
