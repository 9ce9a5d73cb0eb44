"""The register of transfers as CSV: one writer for the API, the page's download and the
auditor's evidence package, so that all three give the same file for the same rows."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from requests.transfers.selectors import REGISTER_COLUMNS

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def register_csv_write(
    out: SupportsWrite[str],
    rows: Iterable[dict],
    *,
    columns: Sequence[str] = REGISTER_COLUMNS,
    lineterminator: str = "\r\n",
) -> None:
    """Write the header and one line per row (its `columns` only) to `out`."""
    writer = csv.DictWriter(
        out, fieldnames=list(columns), extrasaction="ignore", lineterminator=lineterminator
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({key: register_csv_value(row.get(key)) for key in columns})


def register_csv_value(value) -> str:
    """A register cell as CSV text: lists joined, times in ISO 8601, nothing as empty; text that
    a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        text = " ".join(str(item) for item in value)
    elif isinstance(value, dt.datetime):
        text = value.isoformat()
    else:
        text = str(value)
    return f"'{text}" if text[:1] in FORMULA_STARTS else text
