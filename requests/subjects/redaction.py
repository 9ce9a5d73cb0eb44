"""A target's error never carries the subject's identifiers on: every form a target may print
them in (quoted, escaped, encoded, spaced out) is taken out before an error is kept or sent."""

from __future__ import annotations

import base64
import html
import json
import re
import traceback
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"


def _forms(value: str) -> set[str]:
    """The ways a target may print a value: as is, or quoted or escaped for SQL, JSON, Python,
    URLs and HTML, or as its bytes in hex or base64."""
    raw = value.encode()
    return {
        value,
        value.replace("'", "''"),
        json.dumps(value)[1:-1],
        repr(value)[1:-1],
        value.encode("unicode_escape").decode(),
        quote(value, safe=""),
        quote_plus(value),
        html.escape(value),
        raw.hex(),
        base64.b64encode(raw).decode().rstrip("="),
    }


def _loose(value: str) -> str:
    """The value's letters and digits in order, whatever separates them (spaces, quotes,
    backslashes, dots): `Sam.Subject@Example.org` also as `sam subject example org`."""
    return r"[\W_]*".join(re.escape(c) for c in value if c.isalnum())


def _pattern(values: Iterable[str]) -> re.Pattern | None:
    parts = []
    # Longer values first, so that one inside another is not half taken out.
    for value in sorted({str(v).strip() for v in values if v is not None} - {""}, key=len)[::-1]:
        cased = {value, value.lower(), value.upper()}  # hex and base64 differ by case
        forms = {re.escape(f) for v in cased for f in _forms(v)} | {_loose(value)}
        part = "|".join(sorted(forms - {""}, key=len, reverse=True))
        if sum(c.isalnum() for c in value) < 6:
            # A short value (an account id "17") would take every such digit out of the text.
            part = rf"(?<![0-9A-Za-z])(?:{part})(?![0-9A-Za-z])"
        parts.append(f"(?:{part})")
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def redact(text: str, values: Iterable[str]) -> str:
    """The text with every form of each value taken out (case-insensitive)."""
    pattern = _pattern(values)
    return pattern.sub(REDACTED, text) if pattern and text else text


def failure_text(exc: BaseException, values: Iterable[str], limit: int = 2000) -> str:
    """What is kept and sent about a failure: its kind and its redacted message."""
    return redact(f"{type(exc).__name__}: {exc}", values)[:limit]


def failure_traceback(exc: BaseException, values: Iterable[str]) -> str:
    """The failure's traceback for the log, redacted like its message."""
    return redact("".join(traceback.format_exception(exc)), values)
