"""Publishing the decision log's signed tree head where auditors keep it (README "Publishing
tree heads"): a directory (a mounted share, a repository's working copy) or a URL that takes a
POST. A published head is what an auditor later checks a consistency proof against: the log
can only ever extend it, never rewrite what it covers."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from governance.ledger.tree import latest_tree_head

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
LATEST = "latest.json"


def tree_head_publish(target: str | None = None) -> dict[str, Any] | None:
    """Publish the latest signed tree head to `target` (default LEDGER_PUBLISH_TO) and return
    it; None when there is nowhere to publish. A refusal (an unwritable directory, an HTTP
    error) raises OSError or httpx.HTTPError, for the task to try again."""
    target = settings.LEDGER_PUBLISH_TO if target is None else target
    if not target:
        return None
    head = latest_tree_head()
    body = json.dumps(head, sort_keys=True, indent=2).encode() + b"\n"
    if "://" in target:
        _post(target, body)
    else:
        _write(Path(target), head["size"], body)
    log.info(
        "Tree head published",
        extra={"size": head["size"], "root": head["root"], "target": _shown(target)},
    )
    return head


def head_file_name(size: int) -> str:
    """One file per tree size, named so that a directory listing sorts by size."""
    return f"tree-head-{size:012d}.json"


def _write(directory: Path, size: int, body: bytes) -> None:
    """Each head under its size, and latest.json; each written whole or not at all (a reader
    never sees half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in (head_file_name(size), LATEST):
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tree-head-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(body)
            os.replace(temporary, directory / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _post(url: str, body: bytes) -> None:
    if urlsplit(url).scheme not in {"http", "https"}:
        raise ImproperlyConfigured(f"LEDGER_PUBLISH_TO: a directory or an http(s) URL, not {url!r}")
    response = httpx.post(
        url, content=body, headers={"Content-Type": "application/json"}, timeout=TIMEOUT_SECONDS
    )
    response.raise_for_status()


def published_to() -> str:
    """Where beat publishes the tree heads, as shown to people; empty when nowhere."""
    return _shown(settings.LEDGER_PUBLISH_TO) if settings.LEDGER_PUBLISH_TO else ""


def _shown(target: str) -> str:
    """The target as shown and logged: a URL's scheme and host only (its path or query may
    hold a key)."""
    if "://" not in target:
        return target
    parts = urlsplit(target)
    return f"{parts.scheme}://{parts.hostname}"
